// rewards-svc end to end: a real members-svc, points-svc and rewards-svc, each on a gRPC port 0
// and in its own fresh schema of the test PostgreSQL, called through the generated stubs. Time
// is one FakeClock for all three. After every test the invariants of DESIGN.md section 4 that
// rewards-svc owns are checked in SQL: no negative stock, exactly one voucher per completed
// redemption and none for a failed one, and every decided redemption's points settled.

#include <algorithm>
#include <atomic>
#include <cctype>
#include <map>
#include <thread>
#include <vector>

#include "common/check.h"
#include "common/rpc/proto_time.h"
#include "common/status/error.h"
#include "common/testkit/fake_clock.h"
#include "common/testkit/invalid_field.h"
#include "common/testkit/service_harness.h"
#include "common/testkit/status_matchers.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "loyalty/rewards/v1/reward_events.pb.h"
#include "rewards-svc/migrations.h"
#include "rewards-svc/rpc/grpc_service.h"
#include "rewards-svc/rpc/rewards_handler.h"
#include "rewards-svc/rpc/test_platform.h"

namespace loyalty::rewards {
namespace {

using ::loyalty::rewards::testing::Invoke;
using ::loyalty::rewards::testing::kProgram;
using ::loyalty::testkit::IsInvalidField;
using ::loyalty::testkit::IsOk;
using ::loyalty::testkit::StatusIs;
using C = absl::StatusCode;
namespace pv1 = ::loyalty::points::v1;
using Stub = v1::RewardsService::Stub;

const absl::Time kStart =
    absl::FromCivil(absl::CivilSecond(2026, 3, 10, 12, 0, 0), absl::UTCTimeZone());
constexpr char kVoucherKey[] = "rewards-test-voucher-key-0123456789abcdef";

constexpr pg::Query kBrokenInvariants{
    "t_broken_invariants",
    "SELECT (SELECT count(*) FROM rewards WHERE stock < 0) + "
    "(SELECT count(*) FROM redemptions r WHERE r.status IN (2, 4) AND r.kind <> 7 AND "
    " (SELECT count(*) FROM vouchers v WHERE v.program_id = r.program_id "
    "  AND v.voucher_id = r.redemption_id) <> 1) + "
    "(SELECT count(*) FROM redemptions r WHERE r.status IN (1, 3) AND EXISTS (SELECT 1 FROM "
    " vouchers v WHERE v.program_id = r.program_id AND v.voucher_id = r.redemption_id)) + "
    "(SELECT count(*) FROM redemptions WHERE (status = 2 AND points_state <> 2) OR "
    " (status = 3 AND points_state = 1) OR (status = 4 AND points_state NOT IN (3, 4)))"};

class RewardsServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    platform_ = std::make_unique<testing::Platform>(clock_);
    schema_ = testkit::MustSchema("rewards");
    pool_ = schema_->MakePool(16);
    testkit::MustMigrate(*pool_, Migrations());
    upstream_ = std::make_unique<Upstream>(testkit::InsecureChannel(platform_->points_address()),
                                           testkit::InsecureChannel(platform_->members_address()),
                                           absl::Seconds(30));
    Serve(RewardsHandlerOptions{});
  }

  // (Re)starts rewards-svc with `options` (the page token key is filled in).
  void Serve(RewardsHandlerOptions options) {
    stub_.reset();
    server_.reset();
    auto keys = VoucherKeys::Create(kVoucherKey);
    LOYALTY_CHECK(keys.ok());
    options.page_token_key = testing::kPageTokenKey;
    handler_ = std::make_unique<RewardsHandler>(*pool_, clock_, *upstream_, *std::move(keys),
                                                std::move(options));
    service_ = std::make_unique<GrpcRewardsService>(*handler_);
    server_ = testkit::MustServe("rewards-test", service_.get());
    stub_ = v1::RewardsService::NewStub(testkit::InsecureChannel(testkit::AddressOf(*server_)));
  }

  void TearDown() override {
    auto connection = pool_->Acquire();
    ASSERT_THAT(connection, IsOk());
    auto broken = (*connection)->Execute(kBrokenInvariants);
    ASSERT_THAT(broken, IsOk());
    EXPECT_EQ(broken->Int64(0, 0), 0) << "rewards invariant broken";
    EXPECT_EQ(platform_->HoldsWithStatus(pv1::HOLD_STATUS_OPEN), 0) << "an orphan hold is open";
  }

  template <typename Request, typename Response>
  absl::StatusOr<Response> Call(grpc::Status (Stub::*rpc)(grpc::ClientContext*, const Request&,
                                                          Response*),
                                const Request& request) {
    return Invoke(*stub_, rpc, request);
  }

  static v1::Reward Percent(int32_t percent, int64_t cost) {
    v1::Reward reward;
    reward.set_title(absl::StrCat(percent, "% off"));
    reward.set_points_cost(cost);
    reward.mutable_discount_percent()->set_percent(percent);
    return reward;
  }
  static v1::Reward GiftCard(int64_t value, int64_t cost) {
    v1::Reward reward;
    reward.set_title("Gift card");
    reward.set_points_cost(cost);
    reward.mutable_gift_card()->set_value_minor(value);
    reward.mutable_gift_card()->set_currency_code("EUR");
    return reward;
  }

  absl::StatusOr<v1::CreateRewardResponse> TryCreate(const v1::Reward& reward) {
    v1::CreateRewardRequest request;
    request.set_program(kProgram);
    request.set_request_id(absl::StrCat("create-", ++requests_));
    *request.mutable_reward() = reward;
    return Call(&Stub::CreateReward, request);
  }
  v1::Reward Create(const v1::Reward& reward) {
    auto created = TryCreate(reward);
    LOYALTY_CHECK(created.ok());
    return created->reward();
  }

  absl::StatusOr<v1::RedeemRewardResponse> Redeem(const std::string& member,
                                                  const std::string& reward,
                                                  const std::string& key) {
    v1::RedeemRewardRequest request;
    request.set_program(kProgram);
    request.set_member(member);
    request.set_reward(reward);
    request.set_request_id(key);
    return Call(&Stub::RedeemReward, request);
  }

  v1::Reward Get(const std::string& reward, const std::string& member = "") {
    v1::GetRewardRequest request;
    request.set_program(kProgram);
    request.set_reward(reward);
    request.set_member(member);
    auto response = Call(&Stub::GetReward, request);
    LOYALTY_CHECK(response.ok());
    return response->reward();
  }

  absl::StatusOr<v1::ValidateVoucherResponse> Validate(const std::string& code, int64_t total) {
    v1::ValidateVoucherRequest request;
    request.set_program(kProgram);
    request.set_code(code);
    request.set_order_total_minor(total);
    return Call(&Stub::ValidateVoucher, request);
  }
  absl::StatusOr<v1::ConsumeVoucherResponse> Consume(const std::string& code,
                                                     const std::string& order, int64_t total) {
    v1::ConsumeVoucherRequest request;
    request.set_program(kProgram);
    request.set_code(code);
    request.set_order_id(order);
    request.set_order_total_minor(total);
    request.set_request_id("consume-" + order);
    return Call(&Stub::ConsumeVoucher, request);
  }
  absl::StatusOr<v1::ListRedemptionsResponse> Redemptions(const std::string& member) {
    v1::ListRedemptionsRequest request;
    request.set_program(kProgram);
    request.set_member(member);
    return Call(&Stub::ListRedemptions, request);
  }

  // A rewards-svc replica that cannot reach points-svc (nor members-svc).
  std::unique_ptr<RewardsHandler> CutOff() {
    nowhere_ = std::make_unique<Upstream>(testkit::InsecureChannel("127.0.0.1:1"),
                                          testkit::InsecureChannel("127.0.0.1:1"),
                                          absl::Milliseconds(200));
    auto keys = VoucherKeys::Create(kVoucherKey);
    LOYALTY_CHECK(keys.ok());
    return std::make_unique<RewardsHandler>(
        *pool_, clock_, *nowhere_, *std::move(keys),
        RewardsHandlerOptions{.page_token_key = testing::kPageTokenKey});
  }
  // Redeems through `cut_off`: the call fails UNAVAILABLE and leaves the redemption PENDING with
  // nothing held.
  void RedeemWhilePointsDown(RewardsHandler& cut_off, const std::string& member,
                             const std::string& reward, const std::string& key) {
    v1::RedeemRewardRequest request;
    request.set_program(kProgram);
    request.set_member(member);
    request.set_reward(reward);
    request.set_request_id(key);
    EXPECT_THAT(cut_off.RedeemReward(request), StatusIs(C::kUnavailable));
  }

  // A PENDING redemption of `reward` whose hold an earlier version of this service made open
  // (held, to capture later) with `ttl`, as a crash would leave it; returns its id.
  std::string PendingWithOpenHold(const std::string& member, const std::string& reward,
                                  const std::string& key, absl::Duration ttl) {
    RedeemWhilePointsDown(*CutOff(), member, reward, key);
    auto listed = Redemptions(member);
    LOYALTY_CHECK(listed.ok());
    const v1::Redemption* pending = nullptr;
    for (const v1::Redemption& redemption : listed->redemptions()) {
      if (redemption.status() == v1::REDEMPTION_STATUS_PENDING) pending = &redemption;
    }
    LOYALTY_CHECK(pending != nullptr);
    const std::string id = pending->id();
    pv1::CreateHoldRequest hold;
    hold.set_program(kProgram);
    hold.set_member(member);
    hold.set_hold_id(id);
    hold.set_points(pending->points());
    hold.mutable_ttl()->set_seconds(absl::ToInt64Seconds(ttl));
    auto held = platform_->points_handler().CreateHold(hold);
    LOYALTY_CHECK(held.ok() && held->hold().status() == pv1::HOLD_STATUS_OPEN);
    return id;
  }

  PointsState PointsStateOf(const std::string& redemption_id) {
    auto connection = pool_->Acquire();
    LOYALTY_CHECK(connection.ok());
    auto state =
        (*connection)
            ->Execute(pg::Query{"t_points_state",
                                "SELECT points_state FROM redemptions WHERE redemption_id = $1"},
                      pg::Params().Add(redemption_id));
    LOYALTY_CHECK(state.ok() && state->rows() == 1);
    return static_cast<PointsState>(state->Int64(0, 0));
  }

  testkit::FakeClock clock_{kStart};
  std::unique_ptr<testing::Platform> platform_;
  std::unique_ptr<testkit::TestSchema> schema_;
  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<Upstream> upstream_;
  std::unique_ptr<Upstream> nowhere_;
  std::unique_ptr<RewardsHandler> handler_;
  std::unique_ptr<GrpcRewardsService> service_;
  std::unique_ptr<server::GrpcServer> server_;
  std::unique_ptr<Stub> stub_;
  int requests_ = 0;

  // --- Redeeming calls as one batch -------------------------------------------------------
  struct Ask {
    std::string member, reward, key;
  };

  // Serves with one redemption writer and a gate: once armed, the next batch waits after its
  // step 1 until `gate_queued_` calls are queued behind it, which the writer then takes as one
  // batch. `reserved_batches_` counts the batches that reserved anything since arming.
  void ServeGated() {
    Serve({.after_step =
               [this](SagaStep step) {
                 if (step != SagaStep::kReserved) return;
                 if (reserved_batches_.fetch_add(1) != 0 || gate_queued_.load() == 0) return;
                 for (int i = 0; i < 60'000 && handler_->queued_redemptions() < gate_queued_; ++i) {
                   absl::SleepFor(absl::Milliseconds(1));
                 }
               },
           .redeem_batches = {.max_batch = 64, .max_queued = 64, .writers = 1}});
  }

  // Redeems `opener` (alone: its batch holds the writer), then `asks` all at once while it does,
  // so they are redeemed as the next batch. Returns the answers to `asks`, in order.
  std::vector<absl::StatusOr<v1::RedeemRewardResponse>> RedeemAsOneBatch(
      const Ask& opener, const std::vector<Ask>& asks) {
    reserved_batches_ = 0;
    gate_queued_ = static_cast<int>(asks.size());
    std::thread first(
        [&] { EXPECT_THAT(Redeem(opener.member, opener.reward, opener.key), IsOk()); });
    while (reserved_batches_.load() == 0) absl::SleepFor(absl::Milliseconds(1));
    std::vector<absl::StatusOr<v1::RedeemRewardResponse>> answers(asks.size());
    std::vector<std::thread> callers;
    for (size_t i = 0; i < asks.size(); ++i) {
      callers.emplace_back(
          [&, i] { answers[i] = Redeem(asks[i].member, asks[i].reward, asks[i].key); });
    }
    for (std::thread& caller : callers) caller.join();
    first.join();
    gate_queued_ = 0;
    return answers;
  }

  std::atomic<int> reserved_batches_{0};
  std::atomic<int> gate_queued_{0};
};

// --- Catalog -------------------------------------------------------------------------------

TEST_F(RewardsServiceTest, CatalogPagesCheapestFirstWithFilters) {
  const v1::Reward a = Create(Percent(10, 300));
  const v1::Reward b = Create(GiftCard(5000, 100));
  const v1::Reward c = Create(Percent(20, 200));
  EXPECT_EQ(a.kind(), v1::REWARD_KIND_DISCOUNT_PERCENT);
  EXPECT_EQ(a.etag(), "\"v1\"");
  EXPECT_FALSE(a.has_stock());

  v1::ListRewardsRequest list;
  list.set_program(kProgram);
  list.set_page_size(2);
  auto first = Call(&Stub::ListRewards, list);
  ASSERT_THAT(first, IsOk());
  ASSERT_EQ(first->rewards_size(), 2);
  EXPECT_EQ(first->rewards(0).id(), b.id());
  EXPECT_EQ(first->rewards(1).id(), c.id());
  list.set_page_token(first->next_page_token());
  auto second = Call(&Stub::ListRewards, list);
  ASSERT_THAT(second, IsOk());
  ASSERT_EQ(second->rewards_size(), 1);
  EXPECT_EQ(second->rewards(0).id(), a.id());
  EXPECT_TRUE(second->next_page_token().empty());

  list.clear_page_token();
  list.set_kind(v1::REWARD_KIND_DISCOUNT_PERCENT);
  list.set_max_points_cost(250);
  auto filtered = Call(&Stub::ListRewards, list);
  ASSERT_THAT(filtered, IsOk());
  ASSERT_EQ(filtered->rewards_size(), 1);
  EXPECT_EQ(filtered->rewards(0).id(), c.id());
  // A token made for other filters is refused.
  list.set_page_token(first->next_page_token());
  EXPECT_TRUE(IsInvalidField(Call(&Stub::ListRewards, list).status(), "page_token",
                             "PAGE_TOKEN_FILTER_MISMATCH"));
}

TEST_F(RewardsServiceTest, UpdateChecksTheEtagAndKeepsTheKind) {
  const v1::Reward reward = Create(Percent(10, 300));
  v1::UpdateRewardRequest update;
  update.set_program(kProgram);
  update.set_reward(reward.id());
  update.set_request_id("update-1");
  update.set_etag(reward.etag());
  update.mutable_reward_patch()->set_stock(5);
  update.mutable_reward_patch()->set_title("Ten percent");
  update.mutable_update_mask()->add_paths("stock");
  update.mutable_update_mask()->add_paths("title");
  auto updated = Call(&Stub::UpdateReward, update);
  ASSERT_THAT(updated, IsOk());
  EXPECT_EQ(updated->reward().stock(), 5);
  EXPECT_EQ(updated->reward().title(), "Ten percent");
  EXPECT_EQ(updated->reward().points_cost(), 300);
  EXPECT_EQ(updated->reward().etag(), "\"v2\"");

  update.set_request_id("update-2");  // The old etag is stale now.
  EXPECT_THAT(Call(&Stub::UpdateReward, update), StatusIs(C::kAborted, "ETAG_MISMATCH"));

  update.set_request_id("update-3");
  update.set_etag(updated->reward().etag());
  update.clear_update_mask();
  update.mutable_update_mask()->add_paths("gift_card");
  update.mutable_reward_patch()->mutable_gift_card()->set_value_minor(100);
  update.mutable_reward_patch()->mutable_gift_card()->set_currency_code("EUR");
  EXPECT_TRUE(
      IsInvalidField(Call(&Stub::UpdateReward, update).status(), "update_mask", "KIND_IMMUTABLE"));
  update.set_request_id("update-4");
  update.clear_update_mask();
  update.mutable_update_mask()->add_paths("etag");
  EXPECT_TRUE(IsInvalidField(Call(&Stub::UpdateReward, update).status(), "update_mask",
                             "INVALID_UPDATE_MASK"));
  EXPECT_EQ(Get(reward.id()).etag(), "\"v2\"");
}

TEST_F(RewardsServiceTest, EligibilitySaysWhyAMemberCannotRedeem) {
  const std::string alice = platform_->Member("alice", 250);
  v1::Reward expensive = Create(Percent(10, 400));
  v1::Reward gold = Percent(15, 100);
  gold.set_min_tier("gold");
  gold = Create(gold);
  v1::Reward sold_out = Percent(5, 100);
  sold_out.set_stock(0);
  sold_out = Create(sold_out);
  v1::Reward ended = Percent(5, 100);
  *ended.mutable_end_time() = ToTimestamp(kStart - absl::Hours(1));
  ended = Create(ended);
  v1::Reward once = Percent(5, 50);
  once.set_limit_per_member(1);
  once.set_limit_period(v1::LIMIT_PERIOD_LIFETIME);
  once = Create(once);
  ASSERT_THAT(Redeem(alice, once.id(), "once-1"), IsOk());

  v1::ListRewardsRequest list;
  list.set_program(kProgram);
  list.set_member(alice);
  auto listed = Call(&Stub::ListRewards, list);
  ASSERT_THAT(listed, IsOk());
  std::map<std::string, v1::Eligibility> by_id;
  for (const v1::Reward& reward : listed->rewards()) by_id[reward.id()] = reward.eligibility();
  EXPECT_EQ(by_id[expensive.id()].reason(), v1::INELIGIBLE_REASON_INSUFFICIENT_POINTS);
  EXPECT_EQ(by_id[expensive.id()].points_missing(), 200);  // 250 - 50 spent, 400 needed.
  EXPECT_EQ(by_id[gold.id()].reason(), v1::INELIGIBLE_REASON_TIER_TOO_LOW);
  EXPECT_EQ(by_id[sold_out.id()].reason(), v1::INELIGIBLE_REASON_OUT_OF_STOCK);
  EXPECT_EQ(by_id[ended.id()].reason(), v1::INELIGIBLE_REASON_NOT_ACTIVE);
  EXPECT_EQ(by_id[once.id()].reason(), v1::INELIGIBLE_REASON_LIMIT_REACHED);
  EXPECT_FALSE(by_id[once.id()].redeemable());
  EXPECT_TRUE(Get(sold_out.id(), alice).has_eligibility());

  // Redeeming says the same.
  EXPECT_THAT(Redeem(alice, expensive.id(), "r-1"),
              StatusIs(C::kFailedPrecondition, "INSUFFICIENT_POINTS"));
  EXPECT_THAT(Redeem(alice, gold.id(), "r-2"), StatusIs(C::kFailedPrecondition, "TIER_TOO_LOW"));
  EXPECT_THAT(Redeem(alice, sold_out.id(), "r-3"),
              StatusIs(C::kFailedPrecondition, "OUT_OF_STOCK"));
  EXPECT_THAT(Redeem(alice, ended.id(), "r-4"), StatusIs(C::kFailedPrecondition, "NOT_ACTIVE"));
  EXPECT_THAT(Redeem(alice, once.id(), "r-5"), StatusIs(C::kFailedPrecondition, "LIMIT_REACHED"));
  EXPECT_EQ(platform_->Balance(alice).available(), 200);
}

// --- Redemption saga -----------------------------------------------------------------------

TEST_F(RewardsServiceTest, RedeemSpendsThePointsTakesStockAndIssuesAVoucher) {
  const std::string alice = platform_->Member("alice", 1000);
  v1::Reward reward = GiftCard(2500, 400);
  reward.set_stock(3);
  reward = Create(reward);
  auto redeemed = Redeem(alice, reward.id(), "redeem-1");
  ASSERT_THAT(redeemed, IsOk());
  const v1::Redemption& redemption = redeemed->redemption();
  EXPECT_EQ(redemption.status(), v1::REDEMPTION_STATUS_COMPLETED);
  EXPECT_EQ(redemption.points(), 400);
  EXPECT_EQ(redemption.voucher().status(), v1::VOUCHER_STATUS_ACTIVE);
  EXPECT_EQ(redemption.voucher().balance_minor(), 2500);
  EXPECT_EQ(absl::FromUnixSeconds(redemption.voucher().expire_time().seconds()),
            kStart + absl::Hours(24 * 30));
  EXPECT_EQ(redemption.voucher().code().size(), 15u);
  EXPECT_EQ(platform_->Balance(alice).available(), 600);
  EXPECT_EQ(platform_->Balance(alice).held(), 0);
  EXPECT_EQ(platform_->HoldsWithStatus(pv1::HOLD_STATUS_CAPTURED), 1);
  EXPECT_EQ(Get(reward.id()).stock(), 2);

  // The same request again: the same redemption and voucher, nothing spent twice.
  auto replay = Redeem(alice, reward.id(), "redeem-1");
  ASSERT_THAT(replay, IsOk());
  EXPECT_EQ(replay->redemption().id(), redemption.id());
  EXPECT_EQ(replay->redemption().voucher().code(), redemption.voucher().code());
  EXPECT_EQ(platform_->Balance(alice).available(), 600);
  EXPECT_EQ(Get(reward.id()).stock(), 2);
  // The same key for another reward is a reuse.
  const v1::Reward other = Create(Percent(10, 10));
  EXPECT_THAT(Redeem(alice, other.id(), "redeem-1"),
              StatusIs(C::kInvalidArgument, "IDEMPOTENCY_KEY_REUSED"));

  v1::GetRedemptionRequest get;
  get.set_program(kProgram);
  get.set_member(alice);
  get.set_redemption(redemption.id());
  auto fetched = Call(&Stub::GetRedemption, get);
  ASSERT_THAT(fetched, IsOk());
  EXPECT_EQ(fetched->redemption().voucher().code(), redemption.voucher().code());
}

TEST_F(RewardsServiceTest, AHoldRefusalFailsTheRedemptionAndReturnsTheStock) {
  const std::string bob = platform_->Member("bob", 100);
  v1::Reward reward = Percent(10, 300);
  reward.set_stock(1);
  reward = Create(reward);
  auto refused = Redeem(bob, reward.id(), "poor-1");
  EXPECT_THAT(refused, StatusIs(C::kFailedPrecondition, "INSUFFICIENT_POINTS"));
  EXPECT_EQ(ErrorMetadataOf(refused.status())["points_missing"], "200");
  EXPECT_EQ(Get(reward.id()).stock(), 1);
  EXPECT_EQ(platform_->Balance(bob).available(), 100);
  auto listed = Redemptions(bob);
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->redemptions_size(), 1);
  EXPECT_EQ(listed->redemptions(0).status(), v1::REDEMPTION_STATUS_FAILED);
  EXPECT_EQ(listed->redemptions(0).failure_reason(), "INSUFFICIENT_POINTS");
  EXPECT_FALSE(listed->redemptions(0).has_voucher());
  // A replay of the failed request fails the same way without a second attempt.
  EXPECT_THAT(Redeem(bob, reward.id(), "poor-1"),
              StatusIs(C::kFailedPrecondition, "INSUFFICIENT_POINTS"));
  EXPECT_EQ(Redemptions(bob)->redemptions_size(), 1);
}

// The saga spends the points as it holds them, so no hold of its own can expire before the
// redemption completes: a margin longer than the hold's life changes nothing.
TEST_F(RewardsServiceTest, TheSagaSpendsAtItsPivotSoNothingIsLeftHeld) {
  Serve({.hold_ttl = absl::Minutes(1), .completion_margin = absl::Minutes(2)});
  const std::string alice = platform_->Member("alice", 1000);
  v1::Reward reward = Percent(10, 300);
  reward.set_stock(1);
  reward = Create(reward);
  auto redeemed = Redeem(alice, reward.id(), "now-1");
  ASSERT_THAT(redeemed, IsOk());
  EXPECT_EQ(redeemed->redemption().status(), v1::REDEMPTION_STATUS_COMPLETED);
  EXPECT_EQ(platform_->Balance(alice).available(), 700);
  EXPECT_EQ(platform_->Balance(alice).held(), 0);
  EXPECT_EQ(platform_->HoldsWithStatus(pv1::HOLD_STATUS_CAPTURED), 1);
  EXPECT_EQ(Get(reward.id()).stock(), 0);
}

// An open hold made by an earlier version (which held, then captured) is found again by the
// recovery loop: it completes only while the hold outlives the margin, capturing it first.
TEST_F(RewardsServiceTest, AnEarlierVersionsOpenHoldIsCapturedBeforeTheRedemptionCompletes) {
  const std::string alice = platform_->Member("alice", 1000);
  const v1::Reward reward = Create(Percent(10, 300));
  const std::string id = PendingWithOpenHold(alice, reward.id(), "old-1", absl::Minutes(10));
  EXPECT_EQ(platform_->Balance(alice).held(), 300);
  clock_.Advance(absl::Minutes(1));
  EXPECT_EQ(*handler_->Recover(10), 1);
  EXPECT_EQ(platform_->Balance(alice).available(), 700);
  EXPECT_EQ(platform_->Balance(alice).held(), 0);
  EXPECT_EQ(platform_->HoldsWithStatus(pv1::HOLD_STATUS_CAPTURED), 1);
  auto listed = Redemptions(alice);
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->redemptions_size(), 1);
  EXPECT_EQ(listed->redemptions(0).status(), v1::REDEMPTION_STATUS_COMPLETED);
  EXPECT_FALSE(listed->redemptions(0).voucher().code().empty());
  EXPECT_EQ(PointsStateOf(id), PointsState::kCaptured);
  EXPECT_EQ(*handler_->Recover(10), 0);
}

TEST_F(RewardsServiceTest, AnEarlierVersionsOpenHoldTooCloseToItsExpiryCompensatesAndIsVoided) {
  Serve({.hold_ttl = absl::Minutes(10), .completion_margin = absl::Minutes(2)});
  const std::string alice = platform_->Member("alice", 1000);
  v1::Reward reward = Percent(10, 300);
  reward.set_stock(1);
  reward = Create(reward);
  const std::string id = PendingWithOpenHold(alice, reward.id(), "late-1", absl::Minutes(2));
  EXPECT_EQ(Get(reward.id()).stock(), 0);
  clock_.Advance(absl::Minutes(1));  // Past the recovery grace, a minute left on the hold.
  EXPECT_EQ(*handler_->Recover(10), 1);
  auto listed = Redemptions(alice);
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->redemptions_size(), 1);
  EXPECT_EQ(listed->redemptions(0).status(), v1::REDEMPTION_STATUS_FAILED);
  EXPECT_EQ(listed->redemptions(0).failure_reason(), "HOLD_EXPIRED");
  EXPECT_EQ(Get(reward.id()).stock(), 1);
  EXPECT_EQ(platform_->Balance(alice).available(), 1000);
  EXPECT_EQ(platform_->Balance(alice).held(), 0);
  EXPECT_EQ(platform_->HoldsWithStatus(pv1::HOLD_STATUS_VOIDED), 1);
  EXPECT_EQ(PointsStateOf(id), PointsState::kReleased);
  // The client's retry fails the same way.
  EXPECT_THAT(Redeem(alice, reward.id(), "late-1"),
              StatusIs(C::kFailedPrecondition, "HOLD_EXPIRED"));
}

TEST_F(RewardsServiceTest, RecoveryFinishesWhatAnUnreachablePointsServiceLeftPending) {
  const std::string alice = platform_->Member("alice", 1000);
  const v1::Reward reward = Create(Percent(10, 300));
  // points-svc unreachable: the call fails, the redemption stays PENDING with nothing held.
  std::unique_ptr<RewardsHandler> cut_off = CutOff();
  RedeemWhilePointsDown(*cut_off, alice, reward.id(), "while-down");
  EXPECT_EQ(*handler_->Recover(10), 0);  // Younger than the grace: left to its call.
  clock_.Advance(absl::Minutes(1));
  // From a replica that still cannot reach points-svc, recovery decides nothing.
  auto stalled = cut_off->Recover(10);
  ASSERT_THAT(stalled, IsOk());
  EXPECT_EQ(*stalled, 0);
  EXPECT_EQ(*handler_->Recover(10), 1);
  EXPECT_EQ(platform_->Balance(alice).available(), 700);
  // The client's retry finds it completed, with its voucher.
  auto retried = Redeem(alice, reward.id(), "while-down");
  ASSERT_THAT(retried, IsOk());
  EXPECT_EQ(retried->redemption().status(), v1::REDEMPTION_STATUS_COMPLETED);
  EXPECT_FALSE(retried->redemption().voucher().code().empty());
  EXPECT_EQ(platform_->Balance(alice).available(), 700);
}

// The saga spends before it completes, so a capture can land after another caller (the
// recovery loop, finding the redemption stale with an earlier version's open hold too short)
// failed the redemption. Settling that failure finds the hold captured and gives the points back.
TEST_F(RewardsServiceTest, AFailedRedemptionWhoseHoldWasCapturedMeanwhileGetsItsPointsBack) {
  const std::string alice = platform_->Member("alice", 1000);
  const v1::Reward reward = Create(Percent(10, 300));
  // One saga held and captured; another decided FAILED (HOLD_EXPIRED) before settling its hold.
  const std::string id = PendingWithOpenHold(alice, reward.id(), "raced", absl::Minutes(10));
  pv1::CaptureHoldRequest capture;
  capture.set_program(kProgram);
  capture.set_hold_id(id);
  ASSERT_THAT(platform_->points_handler().CaptureHold(capture), IsOk());
  ASSERT_EQ(platform_->Balance(alice).available(), 700);
  {
    auto connection = pool_->Acquire();
    ASSERT_THAT(connection, IsOk());
    ASSERT_THAT((*connection)
                    ->Execute(pg::Query{"t_fail_held",
                                        "UPDATE redemptions SET status = 3, points_state = 1, "
                                        "failure_reason = 'HOLD_EXPIRED' WHERE redemption_id = $1"},
                              pg::Params().Add(id)),
                IsOk());
  }

  clock_.Advance(absl::Minutes(1));
  EXPECT_EQ(*handler_->Recover(10), 1);
  EXPECT_EQ(platform_->Balance(alice).available(), 1000);
  EXPECT_EQ(platform_->Balance(alice).held(), 0);
  EXPECT_EQ(platform_->HoldsWithStatus(pv1::HOLD_STATUS_REFUNDED), 1);
  auto settled = Redemptions(alice);
  ASSERT_THAT(settled, IsOk());
  EXPECT_EQ(settled->redemptions(0).status(), v1::REDEMPTION_STATUS_FAILED);
  EXPECT_EQ(PointsStateOf(id), PointsState::kRefunded);
  EXPECT_EQ(*handler_->Recover(10), 0);  // Settled once.
}

TEST_F(RewardsServiceTest, LastItemManyBuyersSellsEachUnitExactlyOnce) {
  constexpr int kMembers = 200;
  constexpr int kRounds = 20;
  constexpr int64_t kCost = 10;
  std::vector<std::string> members;
  for (int i = 0; i < kMembers; ++i)
    members.push_back(platform_->Member(absl::StrCat("m", i), 1000));
  for (int round = 0; round < kRounds; ++round) {
    v1::Reward reward = Percent(50, kCost);
    reward.set_stock(1);
    reward = Create(reward);
    std::atomic<int> completed{0}, out_of_stock{0}, other{0};
    std::vector<std::thread> buyers;
    for (int i = 0; i < kMembers; ++i) {
      buyers.emplace_back([&, i] {
        auto result = Redeem(members[i], reward.id(), absl::StrCat("round", round, "-", i));
        if (result.ok() && result->redemption().status() == v1::REDEMPTION_STATUS_COMPLETED) {
          ++completed;
        } else if (ErrorReason(result.status()) == "OUT_OF_STOCK") {
          ++out_of_stock;
        } else {
          ++other;
        }
      });
    }
    for (std::thread& buyer : buyers) buyer.join();
    EXPECT_EQ(completed.load(), 1) << "round " << round;
    EXPECT_EQ(out_of_stock.load(), kMembers - 1) << "round " << round;
    EXPECT_EQ(other.load(), 0) << "round " << round;
    EXPECT_EQ(Get(reward.id()).stock(), 0);
  }
  int64_t total = 0;
  for (const std::string& member : members) total += platform_->Balance(member).available();
  EXPECT_EQ(total, kMembers * 1000 - kRounds * kCost);
  EXPECT_EQ(platform_->HoldsWithStatus(pv1::HOLD_STATUS_CAPTURED), kRounds);
}

TEST_F(RewardsServiceTest, ConcurrentRedemptionsBeyondTheBalanceNeverOverspend) {
  const std::string alice = platform_->Member("alice", 1000);
  const v1::Reward reward = Create(Percent(10, 70));  // 14 fit in 1000, 50 are asked for.
  std::atomic<int> completed{0}, insufficient{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < 50; ++i) {
    callers.emplace_back([&, i] {
      auto result = Redeem(alice, reward.id(), absl::StrCat("burst-", i));
      if (result.ok()) ++completed;
      if (ErrorReason(result.status()) == "INSUFFICIENT_POINTS") ++insufficient;
    });
  }
  for (std::thread& caller : callers) caller.join();
  EXPECT_EQ(completed.load(), 14);
  EXPECT_EQ(insufficient.load(), 36);
  const pv1::Balance balance = platform_->Balance(alice);
  EXPECT_EQ(balance.available(), 1000 - 14 * 70);
  EXPECT_EQ(balance.held(), 0);
}

// Group commit: calls queued together are redeemed as one batch, each answered as alone.
TEST_F(RewardsServiceTest, ABatchRefusesSomeRedemptionsAloneAndCompletesTheRest) {
  ServeGated();
  const v1::Reward plain = Create(Percent(10, 100));
  v1::Reward last = Percent(20, 100);
  last.set_stock(1);
  last = Create(last);
  v1::Reward once = Percent(30, 100);
  once.set_limit_per_member(1);
  once.set_limit_period(v1::LIMIT_PERIOD_LIFETIME);
  once = Create(once);
  const std::string first = platform_->Member("first", 1000);
  const std::string buyer1 = platform_->Member("buyer1", 1000);
  const std::string buyer2 = platform_->Member("buyer2", 1000);
  const std::string buyer3 = platform_->Member("buyer3", 1000);
  const std::string limited = platform_->Member("limited", 1000);
  const std::string poor = platform_->Member("poor", 30);
  const std::string rich1 = platform_->Member("rich1", 1000);
  const std::string rich2 = platform_->Member("rich2", 1000);
  const std::string again = platform_->Member("again", 1000);
  // Before the batches: the limited member's one redemption, and one the batch will replay.
  ASSERT_THAT(Redeem(limited, once.id(), "once-1"), IsOk());
  auto earlier = Redeem(again, plain.id(), "again-1");
  ASSERT_THAT(earlier, IsOk());

  const std::vector<Ask> asks = {{buyer1, last.id(), "b1"},      {buyer2, last.id(), "b2"},
                                 {limited, once.id(), "once-2"}, {poor, plain.id(), "poor-1"},
                                 {rich1, plain.id(), "rich1"},   {rich2, once.id(), "rich2"},
                                 {again, plain.id(), "again-1"}, {buyer3, last.id(), "b3"}};
  const int kBatch = static_cast<int>(asks.size());
  std::vector<absl::StatusOr<v1::RedeemRewardResponse>> answers =
      RedeemAsOneBatch({first, plain.id(), "first-1"}, asks);
  EXPECT_EQ(reserved_batches_.load(), 2) << "the calls were not redeemed as one batch";

  // The last unit went to one of its three buyers (in queue order); the others are out of stock.
  int sold = 0;
  for (int i : {0, 1, 7}) {
    if (answers[i].ok()) {
      ++sold;
      EXPECT_EQ(answers[i]->redemption().status(), v1::REDEMPTION_STATUS_COMPLETED);
    } else {
      EXPECT_THAT(answers[i], StatusIs(C::kFailedPrecondition, "OUT_OF_STOCK"));
    }
  }
  EXPECT_EQ(sold, 1);
  EXPECT_EQ(Get(last.id()).stock(), 0);
  EXPECT_THAT(answers[2], StatusIs(C::kFailedPrecondition, "LIMIT_REACHED"));
  EXPECT_THAT(answers[3], StatusIs(C::kFailedPrecondition, "INSUFFICIENT_POINTS"));
  EXPECT_EQ(ErrorMetadataOf(answers[3].status())["points_missing"], "70");
  ASSERT_THAT(answers[4], IsOk());
  EXPECT_EQ(answers[4]->redemption().status(), v1::REDEMPTION_STATUS_COMPLETED);
  EXPECT_EQ(answers[4]->redemption().voucher().code().size(), 15u);
  ASSERT_THAT(answers[5], IsOk());
  EXPECT_EQ(answers[5]->redemption().status(), v1::REDEMPTION_STATUS_COMPLETED);
  // The replay in the batch: the earlier redemption and voucher, nothing spent twice.
  ASSERT_THAT(answers[6], IsOk());
  EXPECT_EQ(answers[6]->redemption().id(), earlier->redemption().id());
  EXPECT_EQ(answers[6]->redemption().voucher().code(), earlier->redemption().voucher().code());
  EXPECT_EQ(platform_->Balance(again).available(), 900);
  EXPECT_EQ(platform_->Balance(poor).available(), 30);
  EXPECT_EQ(platform_->Balance(rich1).available(), 900);
  EXPECT_EQ(platform_->Balance(limited).available(), 900);

  // Every call again, now each in a batch of its own: the same answers, nothing more spent.
  for (int i = 0; i < kBatch; ++i) {
    auto replay = Redeem(asks[i].member, asks[i].reward, asks[i].key);
    if (!answers[i].ok()) {
      EXPECT_EQ(replay.status().code(), answers[i].status().code()) << asks[i].key;
      EXPECT_EQ(ErrorReason(replay.status()), ErrorReason(answers[i].status())) << asks[i].key;
      continue;
    }
    ASSERT_THAT(replay, IsOk()) << asks[i].key;
    EXPECT_EQ(replay->redemption().id(), answers[i]->redemption().id());
    EXPECT_EQ(replay->redemption().voucher().code(), answers[i]->redemption().voucher().code());
  }
  EXPECT_EQ(platform_->Balance(rich1).available(), 900);
  EXPECT_EQ(platform_->Balance(rich2).available(), 900);
  EXPECT_EQ(Get(last.id()).stock(), 0);
  // Before: once-1, again-1, first-1; the batch: the last unit, rich1, rich2.
  EXPECT_EQ(platform_->HoldsWithStatus(pv1::HOLD_STATUS_CAPTURED), 6);
}

// The database refuses a batch's shared transaction (here: one request_id sent by two members
// at once): each call is redeemed alone, so only the culprit fails.
TEST_F(RewardsServiceTest, ABatchTheDatabaseRefusesIsRedeemedCallByCall) {
  ServeGated();
  const v1::Reward plain = Create(Percent(10, 100));
  const std::string first = platform_->Member("first", 1000);
  const std::string ann = platform_->Member("ann", 1000);
  const std::string bob = platform_->Member("bob", 1000);
  const std::string cid = platform_->Member("cid", 1000);
  const std::vector<absl::StatusOr<v1::RedeemRewardResponse>> answers = RedeemAsOneBatch(
      {first, plain.id(), "first-1"},
      {{ann, plain.id(), "shared"}, {bob, plain.id(), "shared"}, {cid, plain.id(), "cid-1"}});
  // One of the two with the shared key redeemed, the other is refused as a reuse of it.
  int redeemed = 0, reused = 0;
  for (int i : {0, 1}) {
    if (answers[i].ok()) {
      ++redeemed;
      EXPECT_EQ(answers[i]->redemption().status(), v1::REDEMPTION_STATUS_COMPLETED);
    } else {
      EXPECT_THAT(answers[i], StatusIs(C::kInvalidArgument, "IDEMPOTENCY_KEY_REUSED"));
      ++reused;
    }
  }
  EXPECT_EQ(redeemed, 1);
  EXPECT_EQ(reused, 1);
  ASSERT_THAT(answers[2], IsOk());
  EXPECT_EQ(answers[2]->redemption().status(), v1::REDEMPTION_STATUS_COMPLETED);
  EXPECT_EQ(platform_->Balance(ann).available() + platform_->Balance(bob).available(), 1900);
  EXPECT_EQ(platform_->Balance(cid).available(), 900);
}

TEST_F(RewardsServiceTest, CancelBeforeUseReturnsPointsAndStock) {
  const std::string alice = platform_->Member("alice", 1000);
  v1::Reward reward = Percent(10, 300);
  reward.set_stock(2);
  reward = Create(reward);
  auto redeemed = Redeem(alice, reward.id(), "to-cancel");
  ASSERT_THAT(redeemed, IsOk());
  v1::CancelRedemptionRequest cancel;
  cancel.set_program(kProgram);
  cancel.set_member(alice);
  cancel.set_redemption(redeemed->redemption().id());
  cancel.set_request_id("cancel-1");
  auto cancelled = Call(&Stub::CancelRedemption, cancel);
  ASSERT_THAT(cancelled, IsOk());
  EXPECT_EQ(cancelled->redemption().status(), v1::REDEMPTION_STATUS_CANCELLED);
  EXPECT_EQ(cancelled->redemption().voucher().status(), v1::VOUCHER_STATUS_CANCELLED);
  EXPECT_EQ(platform_->Balance(alice).available(), 1000);
  EXPECT_EQ(platform_->HoldsWithStatus(pv1::HOLD_STATUS_REFUNDED), 1);
  EXPECT_EQ(Get(reward.id()).stock(), 2);
  EXPECT_THAT(Validate(redeemed->redemption().voucher().code(), 1000),
              StatusIs(C::kFailedPrecondition, "VOUCHER_CANCELLED"));
  // A replay changes nothing; a second cancel is refused.
  ASSERT_THAT(Call(&Stub::CancelRedemption, cancel), IsOk());
  cancel.set_request_id("cancel-2");
  EXPECT_THAT(Call(&Stub::CancelRedemption, cancel),
              StatusIs(C::kFailedPrecondition, "NOT_CANCELLABLE"));
  EXPECT_EQ(platform_->Balance(alice).available(), 1000);

  // A used voucher cannot be cancelled.
  auto used = Redeem(alice, reward.id(), "to-use");
  ASSERT_THAT(used, IsOk());
  ASSERT_THAT(Consume(used->redemption().voucher().code(), "order-1", 5000), IsOk());
  cancel.set_redemption(used->redemption().id());
  cancel.set_request_id("cancel-3");
  EXPECT_THAT(Call(&Stub::CancelRedemption, cancel),
              StatusIs(C::kFailedPrecondition, "VOUCHER_ALREADY_USED"));
  EXPECT_EQ(platform_->Balance(alice).available(), 700);
}

TEST_F(RewardsServiceTest, ExperiencesMoveForwardAndDonationsGiveNoVoucher) {
  const std::string alice = platform_->Member("alice", 1000);
  v1::Reward trip;
  trip.set_title("Factory tour");
  trip.set_points_cost(200);
  trip.mutable_experience()->set_type(v1::EXPERIENCE_TYPE_EVENT);
  trip = Create(trip);
  auto booked = Redeem(alice, trip.id(), "trip-1");
  ASSERT_THAT(booked, IsOk());
  EXPECT_EQ(booked->redemption().fulfilment_status(), v1::FULFILMENT_STATUS_REQUESTED);
  EXPECT_FALSE(booked->redemption().voucher().code().empty());
  v1::UpdateFulfilmentRequest fulfil;
  fulfil.set_program(kProgram);
  fulfil.set_member(alice);
  fulfil.set_redemption(booked->redemption().id());
  fulfil.set_status(v1::FULFILMENT_STATUS_SHIPPED);
  fulfil.set_request_id("ship-1");
  auto shipped = Call(&Stub::UpdateFulfilment, fulfil);
  ASSERT_THAT(shipped, IsOk());
  EXPECT_EQ(shipped->redemption().fulfilment_status(), v1::FULFILMENT_STATUS_SHIPPED);
  EXPECT_TRUE(shipped->redemption().voucher().code().empty());  // Admin answers carry no code.
  fulfil.set_status(v1::FULFILMENT_STATUS_REQUESTED);
  fulfil.set_request_id("ship-2");
  EXPECT_THAT(Call(&Stub::UpdateFulfilment, fulfil),
              StatusIs(C::kFailedPrecondition, "INVALID_FULFILMENT_TRANSITION"));
  v1::CancelRedemptionRequest cancel;
  cancel.set_program(kProgram);
  cancel.set_member(alice);
  cancel.set_redemption(booked->redemption().id());
  cancel.set_request_id("trip-cancel");
  EXPECT_THAT(Call(&Stub::CancelRedemption, cancel),
              StatusIs(C::kFailedPrecondition, "NOT_CANCELLABLE"));

  v1::Reward gift;
  gift.set_title("Plant a tree");
  gift.set_points_cost(100);
  gift.mutable_donation()->set_charity_name("Forests Now");
  gift = Create(gift);
  auto donated = Redeem(alice, gift.id(), "tree-1");
  ASSERT_THAT(donated, IsOk());
  EXPECT_EQ(donated->redemption().status(), v1::REDEMPTION_STATUS_COMPLETED);
  EXPECT_FALSE(donated->redemption().has_voucher());
  cancel.set_redemption(donated->redemption().id());
  cancel.set_request_id("tree-cancel");
  EXPECT_THAT(Call(&Stub::CancelRedemption, cancel),
              StatusIs(C::kFailedPrecondition, "NOT_CANCELLABLE"));
  EXPECT_EQ(platform_->Balance(alice).available(), 700);
  // Fulfilment is for experiences only.
  fulfil.set_redemption(donated->redemption().id());
  fulfil.set_status(v1::FULFILMENT_STATUS_SHIPPED);
  fulfil.set_request_id("tree-ship");
  EXPECT_THAT(Call(&Stub::UpdateFulfilment, fulfil),
              StatusIs(C::kFailedPrecondition, "INVALID_FULFILMENT_TRANSITION"));
}

// --- Vouchers ------------------------------------------------------------------------------

TEST_F(RewardsServiceTest, AVoucherValidatesThenIsUsedOnce) {
  const std::string alice = platform_->Member("alice", 1000);
  v1::Reward reward = Percent(20, 100);
  reward.mutable_discount_percent()->set_cap_minor(1500);
  reward = Create(reward);
  auto redeemed = Redeem(alice, reward.id(), "v-1");
  ASSERT_THAT(redeemed, IsOk());
  const std::string code = redeemed->redemption().voucher().code();
  auto small = Validate(code, 5000);
  ASSERT_THAT(small, IsOk());
  EXPECT_EQ(small->value().discount_minor(), 1000);
  auto lowercase = code;
  for (char& c : lowercase) c = static_cast<char>(std::tolower(c));
  auto capped = Validate(lowercase, 50000);
  ASSERT_THAT(capped, IsOk());
  EXPECT_EQ(capped->value().discount_minor(), 1500);
  auto consumed = Consume(code, "order-9", 5000);
  ASSERT_THAT(consumed, IsOk());
  EXPECT_EQ(consumed->value().discount_minor(), 1000);
  EXPECT_THAT(Consume(code, "order-10", 5000),
              StatusIs(C::kFailedPrecondition, "VOUCHER_ALREADY_USED"));
  EXPECT_THAT(Validate(code, 5000), StatusIs(C::kFailedPrecondition, "VOUCHER_ALREADY_USED"));
  // Replaying the first consume returns its answer.
  EXPECT_THAT(Consume(code, "order-9", 5000), IsOk());
}

TEST_F(RewardsServiceTest, AVoucherExpiresAfterItsValidity) {
  const std::string alice = platform_->Member("alice", 1000);
  v1::Reward reward = Percent(10, 100);
  reward.set_voucher_validity_days(7);
  reward = Create(reward);
  auto redeemed = Redeem(alice, reward.id(), "e-1");
  ASSERT_THAT(redeemed, IsOk());
  clock_.Advance(absl::Hours(24 * 7) - absl::Seconds(1));
  EXPECT_THAT(Validate(redeemed->redemption().voucher().code(), 100), IsOk());
  clock_.Advance(absl::Seconds(1));
  EXPECT_THAT(Validate(redeemed->redemption().voucher().code(), 100),
              StatusIs(C::kFailedPrecondition, "VOUCHER_EXPIRED"));
  EXPECT_THAT(Consume(redeemed->redemption().voucher().code(), "late", 100),
              StatusIs(C::kFailedPrecondition, "VOUCHER_EXPIRED"));
}

TEST_F(RewardsServiceTest, AGiftCardIsSpentAcrossOrdersUntilEmpty) {
  const std::string alice = platform_->Member("alice", 1000);
  const v1::Reward reward = Create(GiftCard(5000, 500));
  auto redeemed = Redeem(alice, reward.id(), "g-1");
  ASSERT_THAT(redeemed, IsOk());
  const std::string code = redeemed->redemption().voucher().code();
  auto first = Consume(code, "g-order-1", 2000);
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(first->value().discount_minor(), 2000);
  EXPECT_EQ(first->balance_minor(), 3000);
  auto second = Consume(code, "g-order-2", 4000);
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(second->value().discount_minor(), 3000);
  EXPECT_EQ(second->balance_minor(), 0);
  EXPECT_THAT(Consume(code, "g-order-3", 100),
              StatusIs(C::kFailedPrecondition, "VOUCHER_ALREADY_USED"));
  // A partly spent gift card cannot be cancelled for points.
  v1::CancelRedemptionRequest cancel;
  cancel.set_program(kProgram);
  cancel.set_member(alice);
  cancel.set_redemption(redeemed->redemption().id());
  cancel.set_request_id("g-cancel");
  EXPECT_THAT(Call(&Stub::CancelRedemption, cancel),
              StatusIs(C::kFailedPrecondition, "VOUCHER_ALREADY_USED"));
}

TEST_F(RewardsServiceTest, CodesAreStoredOnlyAsKeyedHashAndSealed) {
  const std::string alice = platform_->Member("alice", 1000);
  const v1::Reward reward = Create(Percent(10, 100));
  auto redeemed = Redeem(alice, reward.id(), "h-1");
  ASSERT_THAT(redeemed, IsOk());
  std::string canonical = redeemed->redemption().voucher().code();
  canonical.erase(std::remove(canonical.begin(), canonical.end(), '-'), canonical.end());
  static constexpr pg::Query kDump{
      "t_dump",
      "SELECT count(*) FROM (SELECT encode(code_hash, 'escape') || encode(code_sealed, 'escape') "
      "|| voucher_id AS dumped FROM vouchers UNION ALL SELECT encode(response, 'escape') FROM "
      "idempotency_keys) AS d WHERE strpos(dumped, $1) > 0"};
  auto connection = pool_->Acquire();
  ASSERT_THAT(connection, IsOk());
  auto hits = (*connection)->Execute(kDump, pg::Params().Add(canonical));
  ASSERT_THAT(hits, IsOk());
  EXPECT_EQ(hits->Int64(0, 0), 0);
}

// --- Events (helpers)
// --------------------------------------------------------------------------------

struct OutboxRow {
  std::string event_type;
  std::string aggregate_type;
  std::string aggregate_id;
  std::string payload;
};

template <typename Payload>
Payload PayloadOf(const OutboxRow& row) {
  Payload payload;
  EXPECT_EQ(row.event_type, Payload::descriptor()->full_name());
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(row.payload, &payload).ok());
  return payload;
}

// The service's outbox, in stream order.
std::vector<OutboxRow> ReadOutbox(pg::Pool& pool) {
  static constexpr pg::Query kOutbox{
      "t_outbox",
      "SELECT event_type, aggregate_type, aggregate_id, payload FROM outbox_events "
      "ORDER BY sequence"};
  auto connection = pool.Acquire();
  LOYALTY_CHECK(connection.ok());
  auto rows = (*connection)->Execute(kOutbox);
  LOYALTY_CHECK(rows.ok());
  std::vector<OutboxRow> events;
  for (int row = 0; row < rows->rows(); ++row) {
    events.push_back({rows->String(row, "event_type"), rows->String(row, "aggregate_type"),
                      rows->String(row, "aggregate_id"), rows->String(row, "payload")});
  }
  return events;
}

// --- Punch cards ---------------------------------------------------------------------------

TEST_F(RewardsServiceTest, APunchCardFillsOnTheFifthQualifyingPurchaseButNotARefundedOne) {
  const std::string alice = platform_->Member("alice", 0);
  v1::Reward coffee;
  coffee.set_title("Free coffee");
  coffee.set_points_cost(100);
  coffee.mutable_free_product()->set_sku("COFFEE-1");
  coffee = Create(coffee);
  v1::CreatePunchCardDefinitionRequest define;
  define.set_program(kProgram);
  define.set_request_id("card-1");
  define.mutable_definition()->set_title("Buy 5 coffees, get one free");
  define.mutable_definition()->set_category("coffee");
  define.mutable_definition()->set_stamps_needed(5);
  define.mutable_definition()->set_reward(coffee.id());
  auto defined = Call(&Stub::CreatePunchCardDefinition, define);
  ASSERT_THAT(defined, IsOk());

  const auto stamp = [&](const std::string& order, const std::string& category) {
    v1::RecordStampRequest request;
    request.set_program(kProgram);
    request.set_member(alice);
    request.set_order_id(order);
    v1::StampLine* line = request.add_lines();
    line->set_sku("X");
    line->set_category(category);
    line->set_quantity(1);
    return Call(&Stub::RecordStamp, request);
  };
  v1::RevokeStampRequest revoke;
  revoke.set_program(kProgram);
  revoke.set_member(alice);
  for (int i = 1; i <= 3; ++i) ASSERT_THAT(stamp(absl::StrCat("o", i), "coffee"), IsOk());
  // A stamped order refunded later comes off the open card.
  ASSERT_THAT(stamp("o3b", "coffee"), IsOk());
  revoke.set_order_id("o3b");
  auto removed = Call(&Stub::RevokeStamp, revoke);
  ASSERT_THAT(removed, IsOk());
  EXPECT_EQ(removed->stamps_removed(), 1);
  ASSERT_THAT(stamp("o4", "coffee"), IsOk());
  auto tea = stamp("tea-1", "tea");
  ASSERT_THAT(tea, IsOk());
  EXPECT_EQ(tea->cards(0).stamps(), 4);
  // Order 5 was refunded before its stamp arrived: it does not count.
  revoke.set_order_id("o5");
  ASSERT_THAT(Call(&Stub::RevokeStamp, revoke), IsOk());
  auto refunded = stamp("o5", "coffee");
  ASSERT_THAT(refunded, IsOk());
  EXPECT_EQ(refunded->cards(0).stamps(), 4);
  EXPECT_EQ(refunded->issued_vouchers_size(), 0);

  auto full = stamp("o6", "coffee");
  ASSERT_THAT(full, IsOk());
  ASSERT_EQ(full->issued_vouchers_size(), 1);
  EXPECT_TRUE(full->issued_vouchers(0).code().empty());
  EXPECT_EQ(full->cards(0).stamps(), 0);
  EXPECT_EQ(full->cards(0).completed_cards(), 1);
  // Idempotent by order: the same stamp again issues nothing more.
  auto again = stamp("o6", "coffee");
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->cards(0).completed_cards(), 1);
  // The full card is an event (for merchants' webhooks), once.
  std::vector<OutboxRow> completions;
  for (const OutboxRow& row : ReadOutbox(*pool_)) {
    if (row.event_type == v1::PunchCardCompleted::descriptor()->full_name()) {
      completions.push_back(row);
    }
  }
  ASSERT_EQ(completions.size(), 1u);
  // The first card's voucher: "<card>.<member>.<cards completed before it>".
  const std::string voucher_id = absl::StrCat(defined->definition().id(), ".", alice, ".0");
  EXPECT_EQ(completions[0].aggregate_type, "voucher");
  EXPECT_EQ(completions[0].aggregate_id, voucher_id);
  const auto completed = PayloadOf<v1::PunchCardCompleted>(completions[0]);
  EXPECT_EQ(completed.member(), alice);
  EXPECT_EQ(completed.card(), defined->definition().id());
  EXPECT_EQ(completed.reward(), coffee.id());
  EXPECT_EQ(completed.voucher(), voucher_id);
  EXPECT_EQ(completed.order_id(), "o6");
  EXPECT_EQ(completed.stamps_needed(), 5);
  EXPECT_EQ(completed.cards_completed(), 1);

  v1::ListPunchCardsRequest list;
  list.set_program(kProgram);
  list.set_member(alice);
  auto cards = Call(&Stub::ListPunchCards, list);
  ASSERT_THAT(cards, IsOk());
  ASSERT_EQ(cards->cards_size(), 1);
  ASSERT_EQ(cards->cards(0).vouchers_size(), 1);
  const std::string code = cards->cards(0).vouchers(0).code();
  auto value = Validate(code, 500);
  ASSERT_THAT(value, IsOk());
  EXPECT_EQ(value->value().sku(), "COFFEE-1");
  EXPECT_EQ(platform_->Balance(alice).available(), 0);  // No points were spent.
}

TEST_F(RewardsServiceTest, EachRedemptionOutcomeAndVoucherUseWritesItsEventWithIt) {
  const std::string alice = platform_->Member("alice", 1000);
  const v1::Reward gift = Create(GiftCard(5000, 400));
  const v1::Reward expensive = Create(Percent(10, 5000));
  const v1::Reward percent = Create(Percent(10, 100));
  auto redeemed = Redeem(alice, gift.id(), "e-redeem");
  ASSERT_THAT(redeemed, IsOk());
  ASSERT_THAT(Redeem(alice, gift.id(), "e-redeem"), IsOk());  // A replay writes nothing.
  EXPECT_THAT(Redeem(alice, expensive.id(), "e-poor"),
              StatusIs(C::kFailedPrecondition, "INSUFFICIENT_POINTS"));
  ASSERT_THAT(Consume(redeemed->redemption().voucher().code(), "e-order", 2000), IsOk());
  auto to_cancel = Redeem(alice, percent.id(), "e-percent");
  ASSERT_THAT(to_cancel, IsOk());
  v1::CancelRedemptionRequest cancel;
  cancel.set_program(kProgram);
  cancel.set_member(alice);
  cancel.set_redemption(to_cancel->redemption().id());
  cancel.set_request_id("e-cancel");
  ASSERT_THAT(Call(&Stub::CancelRedemption, cancel), IsOk());
  ASSERT_THAT(Call(&Stub::CancelRedemption, cancel), IsOk());

  const std::vector<OutboxRow> events = ReadOutbox(*pool_);
  ASSERT_EQ(events.size(), 5u);

  const std::string& redemption_id = redeemed->redemption().id();
  const auto gift_redeemed = PayloadOf<v1::RewardRedeemed>(events[0]);
  EXPECT_EQ(events[0].aggregate_type, "redemption");
  EXPECT_EQ(events[0].aggregate_id, redemption_id);
  EXPECT_EQ(gift_redeemed.program(), kProgram);
  EXPECT_EQ(gift_redeemed.member(), alice);
  EXPECT_EQ(gift_redeemed.reward(), gift.id());
  EXPECT_EQ(gift_redeemed.kind(), v1::REWARD_KIND_GIFT_CARD);
  EXPECT_EQ(gift_redeemed.points(), 400);
  EXPECT_EQ(gift_redeemed.voucher(), redemption_id);
  // No voucher code in any event: a code is a bearer secret.
  const std::string code = redeemed->redemption().voucher().code();
  for (const OutboxRow& event : events) {
    EXPECT_EQ(event.payload.find(code), std::string::npos) << event.payload;
  }

  const auto failed = PayloadOf<v1::RedemptionFailed>(events[1]);
  EXPECT_EQ(failed.member(), alice);
  EXPECT_EQ(failed.reward(), expensive.id());
  EXPECT_EQ(failed.reason(), "INSUFFICIENT_POINTS");

  const auto consumed = PayloadOf<v1::VoucherConsumed>(events[2]);
  EXPECT_EQ(events[2].aggregate_type, "voucher");
  EXPECT_EQ(events[2].aggregate_id, redemption_id);
  EXPECT_EQ(consumed.member(), alice);
  EXPECT_EQ(consumed.order_id(), "e-order");
  EXPECT_EQ(consumed.discount_minor(), 2000);
  EXPECT_EQ(consumed.balance_minor(), 3000);
  EXPECT_FALSE(consumed.used_up());

  EXPECT_EQ(PayloadOf<v1::RewardRedeemed>(events[3]).redemption(), to_cancel->redemption().id());
  const auto cancelled = PayloadOf<v1::RedemptionCancelled>(events[4]);
  EXPECT_EQ(cancelled.redemption(), to_cancel->redemption().id());
  EXPECT_EQ(cancelled.points(), 100);
}

// --- Bad input -----------------------------------------------------------------------------

TEST_F(RewardsServiceTest, BadInputIsRefusedAndWritesNothing) {
  const std::string alice = platform_->Member("alice", 1000);
  EXPECT_THAT(Redeem(alice, "rnosuchreward", "bad-1"), StatusIs(C::kNotFound, "REWARD_NOT_FOUND"));
  v1::Reward negative = Percent(10, -5);
  EXPECT_TRUE(
      IsInvalidField(TryCreate(negative).status(), "reward.points_cost", "INVALID_POINTS_COST"));
  EXPECT_TRUE(IsInvalidField(TryCreate(Percent(101, 10)).status(),
                             "reward.discount_percent.percent", "INVALID_PERCENT"));
  v1::Reward kindless = Percent(10, 10);
  kindless.clear_discount_percent();
  EXPECT_TRUE(IsInvalidField(TryCreate(kindless).status(), "reward.details", "KIND_REQUIRED"));
  EXPECT_TRUE(IsInvalidField(Validate("NOT-A-CODE", 100).status(), "code", "INVALID_VOUCHER_CODE"));
  EXPECT_TRUE(IsInvalidField(Consume("0000-0000-0000!", "x", 100).status(), "code",
                             "INVALID_VOUCHER_CODE"));
  // Well-formed but never issued.
  EXPECT_THAT(Validate("0000-0000-0000-0", 100), StatusIs(C::kNotFound, "VOUCHER_NOT_FOUND"));
  EXPECT_TRUE(IsInvalidField(Redeem("Not A Member", "r1", "bad-2").status(), "member",
                             "INVALID_MEMBER_ID"));
  v1::ListRewardsRequest list;
  list.set_program(kProgram);
  auto listed = Call(&Stub::ListRewards, list);
  ASSERT_THAT(listed, IsOk());
  EXPECT_EQ(listed->rewards_size(), 0);
  EXPECT_EQ(platform_->Balance(alice).available(), 1000);
}

}  // namespace
}  // namespace loyalty::rewards
