// The crash matrix (issue 4): rewards-svc runs as a real process against an in-process
// members-svc and points-svc and the test PostgreSQL. For each saga step it is started with the
// test-only fault setting that SIGKILLs it right after that step, asked to redeem, and restarted
// without it. Whatever the step, the redemption must end COMPLETED with stock -1, the points
// spent and one voucher, or FAILED with stock and points unchanged and no voucher, and no hold
// may be left open. The last cases restart only after the hold's TTL: the saga's holds are
// captured as they are made, so that must not change the end either.

#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "common/testkit/service_harness.h"
#include "common/testkit/status_matchers.h"
#include "gtest/gtest.h"
#include "loyalty/rewards/v1/rewards_service.grpc.pb.h"
#include "rewards-svc/migrations.h"
#include "rewards-svc/rpc/test_platform.h"

extern char** environ;

namespace loyalty::rewards {
namespace {

namespace v1 = ::loyalty::rewards::v1;
namespace pv1 = ::loyalty::points::v1;
using ::loyalty::rewards::testing::Invoke;
using ::loyalty::rewards::testing::kProgram;
using ::loyalty::testkit::IsOk;

constexpr int64_t kHoldTtlMs = 5000;
constexpr int64_t kGrant = 1000;
constexpr int64_t kCost = 300;
constexpr int64_t kStock = 10;

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  LOYALTY_CHECK(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  LOYALTY_CHECK(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  socklen_t length = sizeof(address);
  LOYALTY_CHECK(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  close(fd);
  return ntohs(address.sin_port);
}

constexpr pg::Query kRedemptionState{
    "t_redemption_state",
    "SELECT status, points_state, (SELECT count(*) FROM vouchers v WHERE v.program_id = "
    "r.program_id AND v.voucher_id = r.redemption_id) AS vouchers FROM redemptions r "
    "WHERE member_id = $1"};
constexpr pg::Query kSelectStock{"t_stock", "SELECT stock FROM rewards WHERE reward_id = $1"};

class RewardsCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    platform_ = std::make_unique<testing::Platform>(clock_);
    schema_ = testkit::MustSchema("rewards");
    pool_ = schema_->MakePool(2);
    testkit::MustMigrate(*pool_, Migrations());
    port_ = FreePort();
    stub_ =
        v1::RewardsService::NewStub(testkit::InsecureChannel(absl::StrCat("127.0.0.1:", port_)));
  }
  void TearDown() override { Stop(SIGTERM); }

  // Starts rewards-svc; `crash_after_step` 0 runs it normally.
  void Start(int crash_after_step) {
    std::vector<std::string> env = {
        absl::StrCat("LOYALTY_REWARDS_DATABASE_URL=", schema_->conninfo()),
        absl::StrCat("LOYALTY_REWARDS_DATABASE_SCHEMA=", schema_->schema()),
        absl::StrCat("LOYALTY_REWARDS_GRPC_PORT=", port_),
        "LOYALTY_REWARDS_LISTEN_ADDRESS=127.0.0.1",
        "LOYALTY_REWARDS_METRICS_PORT=0",
        "LOYALTY_REWARDS_VOUCHER_KEY=crash-test-voucher-key-0123456789abcdef",
        absl::StrCat("LOYALTY_REWARDS_POINTS_ADDR=", platform_->points_address()),
        absl::StrCat("LOYALTY_REWARDS_MEMBERS_ADDR=", platform_->members_address()),
        absl::StrCat("LOYALTY_REWARDS_HOLD_TTL_MS=", kHoldTtlMs),
        "LOYALTY_REWARDS_COMPLETION_MARGIN_MS=1000",
        "LOYALTY_REWARDS_RECOVERY_GRACE_MS=100",
        "LOYALTY_REWARDS_RECOVERY_INTERVAL_MS=100",
        "LOYALTY_LOG_LEVEL=warning",
        "LOYALTY_REWARDS_TEST_FAULTS=1",
        absl::StrCat("LOYALTY_REWARDS_CRASH_AFTER_STEP=", crash_after_step)};
    std::vector<char*> envp;
    for (std::string& entry : env) envp.push_back(entry.data());
    envp.push_back(nullptr);
    std::string binary = LOYALTY_REWARDS_SVC_BINARY;
    char* argv[] = {binary.data(), nullptr};
    LOYALTY_CHECK(posix_spawn(&pid_, binary.c_str(), nullptr, nullptr, argv, envp.data()) == 0);
    // Up when it answers.
    for (int attempt = 0; attempt < 200; ++attempt) {
      v1::ListRewardsRequest request;
      request.set_program(kProgram);
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
      v1::ListRewardsResponse response;
      if (stub_->ListRewards(&context, request, &response).ok()) return;
      absl::SleepFor(absl::Milliseconds(50));
    }
    FAIL() << "rewards-svc did not come up";
  }

  // Waits for the process to end (sending `signal` first unless 0); returns its wait status.
  int Stop(int signal) {
    if (pid_ <= 0) return 0;
    if (signal != 0) kill(pid_, signal);
    int status = 0;
    LOYALTY_CHECK(waitpid(pid_, &status, 0) == pid_);
    pid_ = 0;
    return status;
  }

  absl::StatusOr<v1::RedeemRewardResponse> Redeem(const std::string& member,
                                                  const std::string& key) {
    v1::RedeemRewardRequest request;
    request.set_program(kProgram);
    request.set_member(member);
    request.set_reward(reward_id_);
    request.set_request_id(key);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    v1::RedeemRewardResponse response;
    grpc::Status status = stub_->RedeemReward(&context, request, &response);
    if (!status.ok()) return FromGrpcStatus(status);
    return response;
  }

  void CreateReward() {
    v1::CreateRewardRequest request;
    request.set_program(kProgram);
    request.set_request_id("crash-reward");
    request.mutable_reward()->set_title("Crash-proof gift card");
    request.mutable_reward()->set_points_cost(kCost);
    request.mutable_reward()->set_stock(kStock);
    request.mutable_reward()->mutable_gift_card()->set_value_minor(1000);
    request.mutable_reward()->mutable_gift_card()->set_currency_code("EUR");
    auto created = Invoke(*stub_, &v1::RewardsService::Stub::CreateReward, request);
    LOYALTY_CHECK(created.ok());
    reward_id_ = created->reward().id();
  }

  struct State {
    int64_t status = 0, points_state = 0, vouchers = 0;
  };
  State RedemptionOf(const std::string& member) {
    auto connection = pool_->Acquire();
    LOYALTY_CHECK(connection.ok());
    auto rows = (*connection)->Execute(kRedemptionState, pg::Params().Add(member));
    LOYALTY_CHECK(rows.ok() && rows->rows() == 1);
    return {rows->Int64(0, "status"), rows->Int64(0, "points_state"), rows->Int64(0, "vouchers")};
  }
  int64_t Stock() {
    auto connection = pool_->Acquire();
    LOYALTY_CHECK(connection.ok());
    auto rows = (*connection)->Execute(kSelectStock, pg::Params().Add(reward_id_));
    LOYALTY_CHECK(rows.ok());
    return rows->Int64(0, 0);
  }

  // Waits until the member's redemption is decided and its hold settled.
  State Settled(const std::string& member) {
    for (int attempt = 0; attempt < 300; ++attempt) {
      const State state = RedemptionOf(member);
      if ((state.status == 2 && state.points_state == 2) ||
          (state.status == 3 && (state.points_state == 0 || state.points_state == 3))) {
        return state;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    return RedemptionOf(member);
  }

  // One crash: redeem with the process armed to die after `step`, check where it died, restart
  // (after `delay`) and check the end state. Returns the final status.
  int64_t CrashAfter(int step, int64_t expected_status_at_crash, absl::Duration delay) {
    const std::string member =
        platform_->Member(absl::StrCat("crash", step, "-", ++cases_), kGrant);
    const std::string key = absl::StrCat("crash-redeem-", cases_);
    const int64_t stock_before = Stock();
    Start(step);
    auto during = Redeem(member, key);
    EXPECT_FALSE(during.ok()) << "the process should have died during the call";
    EXPECT_EQ(during.status().code(), absl::StatusCode::kUnavailable) << during.status();
    const int status = Stop(0);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "step " << step;
    EXPECT_EQ(RedemptionOf(member).status, expected_status_at_crash) << "step " << step;

    absl::SleepFor(delay);
    Start(0);
    const State state = Settled(member);
    const pv1::Balance balance = platform_->Balance(member);
    EXPECT_EQ(balance.held(), 0) << "step " << step;
    if (state.status == 2) {  // COMPLETED: stock -1, points spent, one voucher.
      EXPECT_EQ(state.points_state, 2);
      EXPECT_EQ(state.vouchers, 1);
      EXPECT_EQ(Stock(), stock_before - 1);
      EXPECT_EQ(balance.available(), kGrant - kCost);
    } else {  // FAILED: nothing spent, nothing issued.
      EXPECT_EQ(state.status, 3) << "step " << step;
      EXPECT_EQ(state.vouchers, 0);
      EXPECT_EQ(Stock(), stock_before);
      EXPECT_EQ(balance.available(), kGrant);
    }
    EXPECT_EQ(platform_->HoldsWithStatus(pv1::HOLD_STATUS_OPEN), 0) << "orphan hold, step " << step;
    // The client's retry with the same key sees the same end, and nothing happens twice.
    auto replay = Redeem(member, key);
    if (state.status == 2) {
      EXPECT_THAT(replay, IsOk());
      if (replay.ok()) {
        EXPECT_FALSE(replay->redemption().voucher().code().empty());
      }
    } else {
      EXPECT_EQ(replay.status().code(), absl::StatusCode::kFailedPrecondition);
    }
    EXPECT_EQ(RedemptionOf(member).vouchers, state.vouchers);
    EXPECT_EQ(platform_->Balance(member).available(), balance.available());
    Stop(SIGTERM);
    return state.status;
  }

  RealClock clock_;
  std::unique_ptr<testing::Platform> platform_;
  std::unique_ptr<testkit::TestSchema> schema_;
  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<v1::RewardsService::Stub> stub_;
  int port_ = 0;
  pid_t pid_ = 0;
  std::string reward_id_;
  int cases_ = 0;
};

TEST_F(RewardsCrashTest, EveryRedemptionEndsCompletedOrFailedWhateverStepTheProcessDiedAfter) {
  Start(0);
  CreateReward();
  Stop(SIGTERM);
  // Restarted quickly, each step finishes forward.
  EXPECT_EQ(CrashAfter(1, /*PENDING*/ 1, absl::ZeroDuration()), 2);
  EXPECT_EQ(CrashAfter(2, /*PENDING*/ 1, absl::ZeroDuration()), 2);
  EXPECT_EQ(CrashAfter(3, /*COMPLETED*/ 2, absl::ZeroDuration()), 2);
  // Restarted after the hold's TTL, too: before the pivot nothing was held, and the pivot spent
  // the points (the saga's holds are captured as they are made), so nothing could expire.
  EXPECT_EQ(CrashAfter(1, /*PENDING*/ 1, absl::Milliseconds(kHoldTtlMs + 500)), 2);
  EXPECT_EQ(CrashAfter(2, /*PENDING*/ 1, absl::Milliseconds(kHoldTtlMs + 500)), 2);
  // Points-svc's own expiry sweep finds nothing left open either.
  ASSERT_THAT(platform_->points_handler().ExpireHolds(100), IsOk());
  EXPECT_EQ(platform_->HoldsWithStatus(pv1::HOLD_STATUS_OPEN), 0);
  EXPECT_EQ(Stock(), kStock - 5);
}

}  // namespace
}  // namespace loyalty::rewards
