#include "gateway/wallet/wallet.h"

#include <memory>
#include <string>
#include <vector>

#include "common/status/error.h"
#include "common/status/grpc_status.h"
#include "common/testkit/fake_clock.h"
#include "gateway/testing/fake_upstreams.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "loyalty/members/v1/members_service.pb.h"
#include "loyalty/points/v1/points_service.pb.h"
#include "loyalty/rewards/v1/rewards_service.pb.h"

namespace loyalty::gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using G = grpc::StatusCode;

WalletPartResult Part(std::string name, grpc::Status status, std::string key = "",
                      std::shared_ptr<google::protobuf::Message> message = nullptr) {
  WalletPartResult result;
  result.part = name;
  result.upstream = std::move(name);
  result.status = std::move(status);
  if (message != nullptr) result.fields.emplace_back(std::move(key), std::move(message));
  return result;
}

// What `part` answers to `query` (the fakes answer synchronously).
WalletPartResult Fetch(WalletPart& part, const WalletQuery& query) {
  WalletPartResult result;
  part.Fetch(query, [&result](WalletPartResult r) { result = std::move(r); });
  return result;
}

std::shared_ptr<members::v1::Member> Ada() {
  auto member = std::make_shared<members::v1::Member>();
  member->set_id("mada");
  member->set_tier("gold");
  return member;
}

google::protobuf::Struct Parse(const std::string& json) {
  google::protobuf::Struct parsed;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok()) << json;
  return parsed;
}

TEST(AssembleWallet, CompleteWalletHasAnEmptyPartialList) {
  WalletAnswer answer = AssembleWallet({Part("members", grpc::Status::OK, "member", Ada())});
  ASSERT_TRUE(answer.status.ok());
  const google::protobuf::Struct wallet = Parse(answer.json);
  EXPECT_EQ(wallet.fields().at("member").struct_value().fields().at("tier").string_value(), "gold");
  EXPECT_EQ(wallet.fields().at("partial").list_value().values_size(), 0);
}

TEST(AssembleWallet, ServicesThatAreDownOrAbsentAreListedAsPartial) {
  WalletAnswer answer =
      AssembleWallet({Part("members", grpc::Status::OK, "member", Ada()),
                      Part("points", grpc::Status(G::UNAVAILABLE, "down")),
                      Part("rewards", grpc::Status(G::DEADLINE_EXCEEDED, "slow"))});
  ASSERT_TRUE(answer.status.ok());
  EXPECT_THAT(answer.json, HasSubstr(R"("partial":["points","rewards"])"));
  EXPECT_THAT(answer.json, HasSubstr(R"("id":"mada")"));
}

TEST(AssembleWallet, ADecidingErrorWinsOverPartialOnes) {
  WalletAnswer answer =
      AssembleWallet({Part("members", grpc::Status(G::NOT_FOUND, "no such member")),
                      Part("points", grpc::Status(G::UNAVAILABLE, "down"))});
  EXPECT_EQ(answer.status.error_code(), G::NOT_FOUND);
  EXPECT_EQ(answer.upstream, "members");
}

TEST(AssembleWallet, EveryPartMissingIsUnavailable) {
  WalletAnswer answer = AssembleWallet({Part("members", grpc::Status(G::UNAVAILABLE, "down")),
                                        Part("points", grpc::Status(G::UNAVAILABLE, "absent"))});
  EXPECT_EQ(answer.status.error_code(), G::UNAVAILABLE);
}

TEST(MembersWalletPart, CallsGetMemberAndGetTierStatusWithTheCallOptions) {
  testing::FakeUpstreams upstreams({"members"});
  upstreams.SetAnswer([](const std::string& path, const google::protobuf::Message&,
                         google::protobuf::Message& response) {
    if (path == "/loyalty.members.v1.MembersService/GetMember") {
      static_cast<members::v1::GetMemberResponse&>(response).mutable_member()->set_id("mada");
    } else {
      static_cast<members::v1::GetTierStatusResponse&>(response).set_qualifying_points(1200);
    }
    return grpc::Status::OK;
  });
  MembersWalletPart part(upstreams);
  WalletQuery query{"shop", "mada", {.deadline = absl::Seconds(2), .traceparent = "tp"}};
  const WalletPartResult result = Fetch(part, query);
  ASSERT_TRUE(result.status.ok());
  ASSERT_EQ(result.fields.size(), 2u);
  EXPECT_EQ(result.fields[0].first, "member");
  EXPECT_EQ(result.fields[1].first, "tierStatus");
  ASSERT_EQ(upstreams.calls().size(), 2u);
  for (const auto& call : upstreams.calls()) {
    EXPECT_EQ(call.options.traceparent, "tp");
    EXPECT_THAT(call.request->ShortDebugString(), HasSubstr(R"(program: "shop" member: "mada")"));
  }
  const WalletAnswer answer = AssembleWallet({result});
  EXPECT_THAT(answer.json, HasSubstr(R"("qualifyingPoints":"1200")"));
}

TEST(MembersWalletPart, NotFoundWinsOverUnavailable) {
  testing::FakeUpstreams upstreams({"members"});
  upstreams.SetAnswer(
      [](const std::string& path, const google::protobuf::Message&, google::protobuf::Message&) {
        if (path == "/loyalty.members.v1.MembersService/GetMember") {
          return grpc::Status(G::UNAVAILABLE, "down");
        }
        return ToGrpcStatus(ErrorWithReason(absl::StatusCode::kNotFound, "MEMBER_NOT_FOUND", "no"),
                            "members.loyalty");
      });
  MembersWalletPart part(upstreams);
  const WalletPartResult result = Fetch(part, WalletQuery{"shop", "mnone", {}});
  EXPECT_EQ(result.status.error_code(), G::NOT_FOUND);
}

TEST(PointsWalletPart, GetsTheBalanceWithItsNextExpiries) {
  testing::FakeUpstreams upstreams({"points"});
  upstreams.SetAnswer([](const std::string& path, const google::protobuf::Message&,
                         google::protobuf::Message& response) {
    if (path != "/loyalty.points.v1.PointsService/GetBalance") {
      return grpc::Status(G::UNIMPLEMENTED, path);
    }
    points::v1::Balance& balance =
        *static_cast<points::v1::GetBalanceResponse&>(response).mutable_balance();
    balance.set_available(120);
    balance.set_pending(30);
    balance.set_held(5);
    balance.set_lifetime_earned(155);
    points::v1::DatedPoints& expiry = *balance.add_next_expiries();
    expiry.set_points(120);
    expiry.mutable_time()->set_seconds(1800000000);
    return grpc::Status::OK;
  });
  PointsWalletPart part(upstreams);
  const WalletPartResult result =
      Fetch(part, WalletQuery{"shop", "mada", {.deadline = absl::Seconds(2), .traceparent = "tp"}});
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(result.part, "points");
  const std::vector<testing::FakeUpstreams::RecordedCall> calls = upstreams.calls();
  ASSERT_EQ(calls.size(), 1u);
  const auto& call = calls[0];
  EXPECT_EQ(call.service, "points");
  EXPECT_EQ(call.options.traceparent, "tp");
  EXPECT_EQ(call.options.deadline, absl::Seconds(2));
  EXPECT_THAT(call.request->ShortDebugString(), HasSubstr(R"(program: "shop" member: "mada")"));

  const WalletAnswer answer = AssembleWallet({result});
  ASSERT_TRUE(answer.status.ok());
  const google::protobuf::Struct wallet = Parse(answer.json);
  const auto& balance = wallet.fields().at("balance").struct_value().fields();
  EXPECT_EQ(balance.at("available").string_value(), "120");
  EXPECT_EQ(balance.at("pending").string_value(), "30");
  EXPECT_EQ(balance.at("held").string_value(), "5");
  EXPECT_EQ(balance.at("lifetimeEarned").string_value(), "155");
  const auto& expiries = balance.at("nextExpiries").list_value();
  ASSERT_EQ(expiries.values_size(), 1);
  EXPECT_EQ(expiries.values(0).struct_value().fields().at("time").string_value(),
            "2027-01-15T08:00:00Z");
}

TEST(PointsWalletPart, AFailingPointsServiceMakesTheWalletPartial) {
  testing::FakeUpstreams upstreams({"points"});
  upstreams.SetAnswer(
      [](const std::string&, const google::protobuf::Message&, google::protobuf::Message&) {
        return grpc::Status(G::UNAVAILABLE, "connection refused");
      });
  PointsWalletPart part(upstreams);
  const WalletPartResult result = Fetch(part, WalletQuery{"shop", "mada", {}});
  EXPECT_EQ(result.status.error_code(), G::UNAVAILABLE);
  EXPECT_TRUE(result.fields.empty());
  const WalletAnswer answer =
      AssembleWallet({Part("members", grpc::Status::OK, "member", Ada()), result});
  ASSERT_TRUE(answer.status.ok());
  EXPECT_THAT(answer.json, HasSubstr(R"("partial":["points"])"));
  EXPECT_THAT(answer.json, Not(HasSubstr("balance")));
}

namespace rv1 = ::loyalty::rewards::v1;

constexpr int64_t kNowSeconds = 1800000000;

// A redemption `id` in `status` whose voucher is in `voucher_status` and expires at
// `expire_seconds`.
void AddRedemption(rv1::ListRedemptionsResponse& response, const std::string& id,
                   rv1::RedemptionStatus status, rv1::VoucherStatus voucher_status,
                   int64_t expire_seconds) {
  rv1::Redemption& redemption = *response.add_redemptions();
  redemption.set_id(id);
  redemption.set_status(status);
  redemption.mutable_voucher()->set_code("7K3M-Q9XD-2HVNC");
  redemption.mutable_voucher()->set_status(voucher_status);
  redemption.mutable_voucher()->mutable_expire_time()->set_seconds(expire_seconds);
}

grpc::Status AnswerRewards(const std::string& path, google::protobuf::Message& response) {
  if (path == "/loyalty.rewards.v1.RewardsService/ListRewards") {
    auto& list = static_cast<rv1::ListRewardsResponse&>(response);
    rv1::Reward& cheap = *list.add_rewards();
    cheap.set_id("rcheap");
    cheap.mutable_eligibility()->set_redeemable(true);
    rv1::Reward& dear = *list.add_rewards();
    dear.set_id("rdear");
    dear.mutable_eligibility()->set_reason(rv1::INELIGIBLE_REASON_INSUFFICIENT_POINTS);
    dear.mutable_eligibility()->set_points_missing(400);
    return grpc::Status::OK;
  }
  if (path == "/loyalty.rewards.v1.RewardsService/ListRedemptions") {
    auto& list = static_cast<rv1::ListRedemptionsResponse&>(response);
    AddRedemption(list, "open", rv1::REDEMPTION_STATUS_COMPLETED, rv1::VOUCHER_STATUS_ACTIVE,
                  kNowSeconds + 1);
    AddRedemption(list, "expired", rv1::REDEMPTION_STATUS_COMPLETED, rv1::VOUCHER_STATUS_ACTIVE,
                  kNowSeconds);
    AddRedemption(list, "used", rv1::REDEMPTION_STATUS_COMPLETED, rv1::VOUCHER_STATUS_USED,
                  kNowSeconds + 100);
    AddRedemption(list, "cancelled", rv1::REDEMPTION_STATUS_CANCELLED,
                  rv1::VOUCHER_STATUS_CANCELLED, kNowSeconds + 100);
    rv1::Redemption& donation = *list.add_redemptions();
    donation.set_id("donation");
    donation.set_status(rv1::REDEMPTION_STATUS_COMPLETED);
    return grpc::Status::OK;
  }
  return grpc::Status(G::UNIMPLEMENTED, path);
}

TEST(RewardsWalletPart, KeepsTheRedeemableRewardsAndTheVouchersStillUsable) {
  testing::FakeUpstreams upstreams({"rewards"});
  upstreams.SetAnswer(
      [](const std::string& path, const google::protobuf::Message&,
         google::protobuf::Message& response) { return AnswerRewards(path, response); });
  testkit::FakeClock clock(absl::FromUnixSeconds(kNowSeconds));
  RewardsWalletPart part(upstreams, clock);
  const WalletPartResult result =
      Fetch(part, WalletQuery{"shop", "mada", {.deadline = absl::Seconds(2), .traceparent = "tp"}});
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(result.part, "rewards");

  const std::vector<testing::FakeUpstreams::RecordedCall> calls = upstreams.calls();
  ASSERT_EQ(calls.size(), 2u);
  for (const auto& call : calls) {
    EXPECT_EQ(call.service, "rewards");
    EXPECT_EQ(call.options.traceparent, "tp");
    EXPECT_EQ(call.options.deadline, absl::Seconds(2));
    EXPECT_THAT(call.request->ShortDebugString(), HasSubstr(R"(program: "shop")"));
    EXPECT_THAT(call.request->ShortDebugString(), HasSubstr(R"(member: "mada")"));
    EXPECT_THAT(call.request->ShortDebugString(), HasSubstr("page_size: 100"));
  }
  EXPECT_EQ(calls[0].grpc_path, "/loyalty.rewards.v1.RewardsService/ListRewards");
  EXPECT_THAT(calls[0].request->ShortDebugString(), HasSubstr("active_only: true"));
  EXPECT_EQ(calls[1].grpc_path, "/loyalty.rewards.v1.RewardsService/ListRedemptions");

  const WalletAnswer answer = AssembleWallet({result});
  ASSERT_TRUE(answer.status.ok());
  const google::protobuf::Struct wallet = Parse(answer.json);
  const auto& affordable = wallet.fields().at("affordableRewards").list_value();
  ASSERT_EQ(affordable.values_size(), 1);
  EXPECT_EQ(affordable.values(0).struct_value().fields().at("id").string_value(), "rcheap");
  // An ACTIVE voucher at its expiry time is expired; used, cancelled and voucherless ones go too.
  const auto& open = wallet.fields().at("openVouchers").list_value();
  ASSERT_EQ(open.values_size(), 1);
  EXPECT_EQ(open.values(0).struct_value().fields().at("id").string_value(), "open");
  EXPECT_EQ(open.values(0)
                .struct_value()
                .fields()
                .at("voucher")
                .struct_value()
                .fields()
                .at("code")
                .string_value(),
            "7K3M-Q9XD-2HVNC");
  EXPECT_EQ(wallet.fields().at("partial").list_value().values_size(), 0);
}

TEST(RewardsWalletPart, NoRewardsToAffordStillPrintsEmptyLists) {
  testing::FakeUpstreams upstreams({"rewards"});
  testkit::FakeClock clock(absl::FromUnixSeconds(kNowSeconds));
  RewardsWalletPart part(upstreams, clock);
  const WalletPartResult result = Fetch(part, WalletQuery{"shop", "mada", {}});
  ASSERT_TRUE(result.status.ok());
  const WalletAnswer answer = AssembleWallet({result});
  EXPECT_THAT(answer.json, HasSubstr(R"("affordableRewards":[],"openVouchers":[])"));
}

TEST(RewardsWalletPart, EitherCallFailingMakesTheWalletPartialNamingRewards) {
  testing::FakeUpstreams upstreams({"rewards"});
  upstreams.SetAnswer([](const std::string& path, const google::protobuf::Message&,
                         google::protobuf::Message& response) {
    if (path == "/loyalty.rewards.v1.RewardsService/ListRedemptions") {
      return grpc::Status(G::UNAVAILABLE, "connection refused");
    }
    return AnswerRewards(path, response);
  });
  testkit::FakeClock clock(absl::FromUnixSeconds(kNowSeconds));
  RewardsWalletPart part(upstreams, clock);
  const WalletPartResult result = Fetch(part, WalletQuery{"shop", "mada", {}});
  EXPECT_EQ(result.status.error_code(), G::UNAVAILABLE);
  EXPECT_TRUE(result.lists.empty());
  const WalletAnswer answer =
      AssembleWallet({Part("members", grpc::Status::OK, "member", Ada()), result});
  ASSERT_TRUE(answer.status.ok());
  EXPECT_THAT(answer.json, HasSubstr(R"("partial":["rewards"])"));
  EXPECT_THAT(answer.json, Not(HasSubstr("affordableRewards")));
  EXPECT_THAT(answer.json, Not(HasSubstr("rcheap")));
}

}  // namespace
}  // namespace loyalty::gateway
