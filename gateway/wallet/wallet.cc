#include "gateway/wallet/wallet.h"

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/log/log.h"
#include "gateway/transcode/json_print.h"
#include "loyalty/members/v1/members_service.pb.h"
#include "loyalty/points/v1/points_service.pb.h"
#include "loyalty/rewards/v1/rewards_service.pb.h"

namespace loyalty::gateway {
namespace {

constexpr char kGetMember[] = "/loyalty.members.v1.MembersService/GetMember";
constexpr char kGetTierStatus[] = "/loyalty.members.v1.MembersService/GetTierStatus";
constexpr char kGetBalance[] = "/loyalty.points.v1.PointsService/GetBalance";
constexpr char kListRewards[] = "/loyalty.rewards.v1.RewardsService/ListRewards";
constexpr char kListRedemptions[] = "/loyalty.rewards.v1.RewardsService/ListRedemptions";

// A part's result without fields yet; the part and the upstream that serves it share the name.
WalletPartResult ResultOf(std::string_view part, grpc::Status status) {
  WalletPartResult result;
  result.part = std::string(part);
  result.upstream = std::string(part);
  result.status = std::move(status);
  return result;
}

// The concurrent calls of one part: `finish` runs once, after the last call completed, with the
// status the part reports.
class CallJoin {
 public:
  CallJoin(int calls, std::function<void(const grpc::Status&)> finish)
      : pending_(calls), finish_(std::move(finish)) {}

  void Done(const grpc::Status& status) {
    grpc::Status error;
    {
      absl::MutexLock lock(&mu_);
      // A deciding error (NOT_FOUND) wins over a partial one from another call.
      if (!status.ok() && (first_error_.ok() || (IsPartialFailure(first_error_.error_code()) &&
                                                 !IsPartialFailure(status.error_code())))) {
        first_error_ = status;
      }
      if (--pending_ > 0) return;
      error = first_error_;
    }
    finish_(error);
  }

 private:
  absl::Mutex mu_;
  int pending_ ABSL_GUARDED_BY(mu_);
  grpc::Status first_error_ ABSL_GUARDED_BY(mu_);
  const std::function<void(const grpc::Status&)> finish_;
};

// Whether the member can still use `voucher` at `now`.
bool IsOpen(const rewards::v1::Voucher& voucher, absl::Time now) {
  if (voucher.status() != rewards::v1::VOUCHER_STATUS_ACTIVE) return false;
  if (!voucher.has_expire_time()) return true;
  return absl::FromUnixSeconds(voucher.expire_time().seconds()) +
             absl::Nanoseconds(voucher.expire_time().nanos()) >
         now;
}

}  // namespace

bool IsPartialFailure(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::UNIMPLEMENTED:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::DATA_LOSS:
      return true;
    default:
      return false;
  }
}

void AbsentWalletPart::Fetch(const WalletQuery& /*query*/,
                             std::function<void(WalletPartResult)> done) {
  WalletPartResult result =
      ResultOf(name_, grpc::Status(grpc::StatusCode::UNAVAILABLE, "not deployed"));
  result.absent = true;
  done(std::move(result));
}

void MembersWalletPart::Fetch(const WalletQuery& query,
                              std::function<void(WalletPartResult)> done) {
  auto member = std::make_shared<members::v1::GetMemberResponse>();
  auto tier = std::make_shared<members::v1::GetTierStatusResponse>();
  auto join = std::make_shared<CallJoin>(
      2, [member, tier, done = std::move(done)](const grpc::Status& status) {
        WalletPartResult result = ResultOf("members", status);
        if (status.ok()) {
          result.fields.emplace_back("member", std::shared_ptr<const google::protobuf::Message>(
                                                   member, &member->member()));
          result.fields.emplace_back("tierStatus", tier);
        }
        done(std::move(result));
      });

  auto member_request = std::make_shared<members::v1::GetMemberRequest>();
  member_request->set_program(query.program);
  member_request->set_member(query.member);
  auto tier_request = std::make_shared<members::v1::GetTierStatusRequest>();
  tier_request->set_program(query.program);
  tier_request->set_member(query.member);
  upstreams_.Call("members", kGetMember, member_request, member, query.call,
                  [join](grpc::Status status) { join->Done(status); });
  upstreams_.Call("members", kGetTierStatus, tier_request, tier, query.call,
                  [join](grpc::Status status) { join->Done(status); });
}

void PointsWalletPart::Fetch(const WalletQuery& query, std::function<void(WalletPartResult)> done) {
  auto request = std::make_shared<points::v1::GetBalanceRequest>();
  request->set_program(query.program);
  request->set_member(query.member);
  auto response = std::make_shared<points::v1::GetBalanceResponse>();
  upstreams_.Call("points", kGetBalance, std::move(request), response, query.call,
                  [response, done = std::move(done)](grpc::Status status) {
                    WalletPartResult result = ResultOf("points", std::move(status));
                    if (result.status.ok()) {
                      result.fields.emplace_back("balance",
                                                 std::shared_ptr<const google::protobuf::Message>(
                                                     response, &response->balance()));
                    }
                    done(std::move(result));
                  });
}

void RewardsWalletPart::Fetch(const WalletQuery& query,
                              std::function<void(WalletPartResult)> done) {
  auto catalog = std::make_shared<rewards::v1::ListRewardsResponse>();
  auto history = std::make_shared<rewards::v1::ListRedemptionsResponse>();
  auto join = std::make_shared<CallJoin>(2, [catalog, history, now = clock_.Now(),
                                             done = std::move(done)](const grpc::Status& status) {
    WalletPartResult result = ResultOf("rewards", status);
    if (status.ok()) {
      std::vector<std::shared_ptr<const google::protobuf::Message>> affordable;
      for (const rewards::v1::Reward& reward : catalog->rewards()) {
        if (reward.eligibility().redeemable()) affordable.emplace_back(catalog, &reward);
      }
      std::vector<std::shared_ptr<const google::protobuf::Message>> open;
      for (const rewards::v1::Redemption& redemption : history->redemptions()) {
        if (redemption.status() == rewards::v1::REDEMPTION_STATUS_COMPLETED &&
            redemption.has_voucher() && IsOpen(redemption.voucher(), now)) {
          open.emplace_back(history, &redemption);
        }
      }
      result.lists.emplace_back("affordableRewards", std::move(affordable));
      result.lists.emplace_back("openVouchers", std::move(open));
    }
    done(std::move(result));
  });

  auto rewards_request = std::make_shared<rewards::v1::ListRewardsRequest>();
  rewards_request->set_program(query.program);
  rewards_request->set_member(query.member);
  rewards_request->set_active_only(true);
  rewards_request->set_page_size(kWalletRewardsPageSize);
  auto redemptions_request = std::make_shared<rewards::v1::ListRedemptionsRequest>();
  redemptions_request->set_program(query.program);
  redemptions_request->set_member(query.member);
  redemptions_request->set_page_size(kWalletRewardsPageSize);
  upstreams_.Call("rewards", kListRewards, rewards_request, catalog, query.call,
                  [join](grpc::Status status) { join->Done(status); });
  upstreams_.Call("rewards", kListRedemptions, redemptions_request, history, query.call,
                  [join](grpc::Status status) { join->Done(status); });
}

WalletAnswer AssembleWallet(const std::vector<WalletPartResult>& results) {
  WalletAnswer answer;
  std::vector<std::string_view> partial;
  for (const WalletPartResult& result : results) {
    if (result.status.ok()) continue;
    if (!IsPartialFailure(result.status.error_code())) {
      answer.status = result.status;
      answer.upstream = result.upstream;
      return answer;
    }
    partial.push_back(result.part);
  }
  if (!results.empty() && partial.size() == results.size()) {
    answer.status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "no wallet part answered");
    answer.upstream = "wallet";
    return answer;
  }
  auto cannot_print = [&answer] {
    answer.status = grpc::Status(grpc::StatusCode::INTERNAL, "cannot print the wallet");
    answer.upstream = "wallet";
    return answer;
  };
  std::string json = "{";
  for (const WalletPartResult& result : results) {
    if (!result.status.ok()) continue;
    for (const auto& [key, message] : result.fields) {
      absl::StatusOr<std::string> printed = PrintJson(*message);
      if (!printed.ok()) return cannot_print();
      absl::StrAppend(&json, json.size() > 1 ? "," : "", log::JsonQuote(key), ":", *printed);
    }
    for (const auto& [key, messages] : result.lists) {
      absl::StrAppend(&json, json.size() > 1 ? "," : "", log::JsonQuote(key), ":[");
      for (size_t i = 0; i < messages.size(); ++i) {
        absl::StatusOr<std::string> printed = PrintJson(*messages[i]);
        if (!printed.ok()) return cannot_print();
        absl::StrAppend(&json, i == 0 ? "" : ",", *printed);
      }
      absl::StrAppend(&json, "]");
    }
  }
  absl::StrAppend(&json, json.size() > 1 ? "," : "", "\"partial\":[");
  for (size_t i = 0; i < partial.size(); ++i) {
    absl::StrAppend(&json, i == 0 ? "" : ",", log::JsonQuote(partial[i]));
  }
  absl::StrAppend(&json, "]}");
  answer.json = std::move(json);
  return answer;
}

}  // namespace loyalty::gateway
