// rewards-svc: the reward catalog, the redemption saga, vouchers and punch cards.
//
//   rewards-svc            serve gRPC (config from LOYALTY_REWARDS_* variables, see --help)
//   rewards-svc --migrate  apply the embedded schema migrations and exit
//
// Exit codes: 0 clean stop, 1 runtime failure (database, ports), 2 bad configuration or usage.

#include <signal.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "common/clock.h"
#include "common/events/consumer.h"
#include "common/events/producer.h"
#include "common/log/log.h"
#include "common/service/service_main.h"
#include "common/status/error.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "rewards-svc/migrations.h"
#include "rewards-svc/rpc/grpc_service.h"
#include "rewards-svc/rpc/rewards_handler.h"
#include "rewards-svc/rpc/upstream.h"

namespace loyalty::rewards {
namespace {

constexpr int kRecoveryBatchMax = 200;
constexpr char kDevPageTokenSecret[] = "loyalty-dev-page-token-secret-change-me";

struct State {
  RealClock clock;
  std::unique_ptr<Upstream> upstream;
  std::unique_ptr<RewardsHandler> handler;
  std::unique_ptr<GrpcRewardsService> service;
  std::unique_ptr<events::Producer> events;
  // Last: their destructors stop the threads that apply events through the handler.
  std::unique_ptr<events::EventConsumer> points_events;
  std::unique_ptr<events::EventConsumer> member_events;
};

std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
  return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
}

absl::StatusOr<service::Built> Build(config::EnvReader& reader, const config::ServiceConfig& config,
                                     pg::Pool& pool) {
  const std::string secret = reader.String("LOYALTY_PAGE_TOKEN_SECRET", kDevPageTokenSecret, 256);
  const std::string voucher_key = reader.Required("LOYALTY_REWARDS_VOUCHER_KEY", 256);
  const std::string points_address =
      reader.String("LOYALTY_REWARDS_POINTS_ADDR", "127.0.0.1:50052", 255);
  const std::string members_address =
      reader.String("LOYALTY_REWARDS_MEMBERS_ADDR", "127.0.0.1:50051", 255);
  const int64_t deadline_ms = reader.Int("LOYALTY_REWARDS_UPSTREAM_DEADLINE_MS", 2'000, 10, 60'000);
  const int64_t hold_ttl_ms = reader.Int("LOYALTY_REWARDS_HOLD_TTL_MS", 600'000, 2'000, 86'400'000);
  const int64_t margin_ms =
      reader.Int("LOYALTY_REWARDS_COMPLETION_MARGIN_MS", 60'000, 500, 3'600'000);
  const int64_t grace_ms = reader.Int("LOYALTY_REWARDS_RECOVERY_GRACE_MS", 30'000, 0, 3'600'000);
  const int64_t interval_ms =
      reader.Int("LOYALTY_REWARDS_RECOVERY_INTERVAL_MS", 5'000, 50, 3'600'000);
  const int64_t redeem_batch_max = reader.Int("LOYALTY_REWARDS_REDEEM_BATCH_MAX", 64, 1, 1000);
  const int64_t redeem_writers = reader.Int("LOYALTY_REWARDS_REDEEM_WRITERS", 2, 1, 16);
  const int64_t redeem_queue_max =
      reader.Int("LOYALTY_REWARDS_REDEEM_QUEUE_MAX", 4096, 1, 1'000'000);
  const int64_t redeem_wait_max_ms =
      reader.Int("LOYALTY_REWARDS_REDEEM_WAIT_MAX_MS", 30'000, 100, 600'000);
  const int64_t reward_memory_ms = reader.Int("LOYALTY_REWARDS_REWARD_MEMORY_MS", 1'000, 0, 60'000);
  const events::ProducerConfig events_config = events::ReadProducerConfig(reader, "REWARDS");
  // Fault injection for the crash-matrix test only: without the test flag the step is not read.
  const bool test_faults = reader.Bool("LOYALTY_REWARDS_TEST_FAULTS", false);
  const int64_t crash_after_step =
      test_faults ? reader.Int("LOYALTY_REWARDS_CRASH_AFTER_STEP", 0, 0, 3) : 0;
  if (secret.size() < 16) {
    return absl::InvalidArgumentError("LOYALTY_PAGE_TOKEN_SECRET must be at least 16 characters");
  }
  if (!reader.status().ok()) return reader.status();
  absl::StatusOr<VoucherKeys> keys = VoucherKeys::Create(voucher_key);
  if (!keys.ok()) {
    return absl::InvalidArgumentError("LOYALTY_REWARDS_VOUCHER_KEY must be at least 32 bytes");
  }
  if (margin_ms * 2 > hold_ttl_ms) {
    return absl::InvalidArgumentError(
        "LOYALTY_REWARDS_COMPLETION_MARGIN_MS must be at most half of LOYALTY_REWARDS_HOLD_TTL_MS");
  }
  RewardsHandlerOptions options{.page_token_key = secret,
                                .hold_ttl = absl::Milliseconds(hold_ttl_ms),
                                .completion_margin = absl::Milliseconds(margin_ms),
                                .recovery_grace = absl::Milliseconds(grace_ms),
                                .redeem_batches = {.max_batch = static_cast<int>(redeem_batch_max),
                                                   .max_queued = static_cast<int>(redeem_queue_max),
                                                   .writers = static_cast<int>(redeem_writers)},
                                .redeem_wait_max = absl::Milliseconds(redeem_wait_max_ms),
                                .reward_memory_ttl = absl::Milliseconds(reward_memory_ms)};
  if (crash_after_step > 0) {
    options.after_step = [crash_after_step](SagaStep step) {
      if (static_cast<int64_t>(step) == crash_after_step) kill(getpid(), SIGKILL);
    };
  }
  auto state = std::make_shared<State>();
  const std::shared_ptr<grpc::Channel> points_channel = Channel(points_address);
  const std::shared_ptr<grpc::Channel> members_channel = Channel(members_address);
  state->upstream =
      std::make_unique<Upstream>(points_channel, members_channel, absl::Milliseconds(deadline_ms));
  state->handler = std::make_unique<RewardsHandler>(pool, state->clock, *state->upstream,
                                                    *std::move(keys), std::move(options));
  state->service = std::make_unique<GrpcRewardsService>(*state->handler);
  RewardsHandler* handler = state->handler.get();
  state->events = std::make_unique<events::Producer>(
      pool, service::ConnectionOptionsFor(config, "rewards-svc-events"), state->clock,
      events_config);
  // Purchases earned in points-svc stamp punch cards.
  state->points_events = std::make_unique<events::EventConsumer>(
      pool, points_channel,
      events::ConsumerOptions{.stream = "points",
                              .consumer = "rewards-svc",
                              .types = RewardsHandler::PointsEventTypes()},
      [handler](pg::Connection& connection, const events::v1::Event& event) {
        return handler->ApplyPointsEvent(connection, event);
      });
  // Members' tiers, for minimum-tier rewards, follow members-svc's events (rpc/member_tiers.h).
  state->member_events = std::make_unique<events::EventConsumer>(
      pool, members_channel,
      events::ConsumerOptions{.stream = "members",
                              .consumer = "rewards-svc",
                              .types = RewardsHandler::MemberEventTypes()},
      [handler](pg::Connection& connection, const events::v1::Event& event) {
        return handler->ApplyMemberEvent(connection, event);
      });
  // Redemptions a crash left PENDING are finished or compensated at start, then by the loop.
  if (absl::StatusOr<int> recovered = handler->Recover(kRecoveryBatchMax); !recovered.ok()) {
    log::Warning("rewards: recovery at start failed; the loop retries",
                 {{"error", StatusSummary(recovered.status())}});
  }
  return service::Built{
      .state = state,
      .services = {state->service.get()},
      .loops = {{.name = "redemption-recovery",
                 .interval = absl::Milliseconds(interval_ms),
                 .run_once = [handler] { return handler->Recover(kRecoveryBatchMax); }}},
      .producer = state->events.get(),
      .consumers = {state->points_events.get(), state->member_events.get()},
      // The ids of applied events are kept as long as this service keeps its own events.
      .applied_retention = events_config.retention};
}

}  // namespace
}  // namespace loyalty::rewards

int main(int argc, char** argv) {
  loyalty::service::Spec spec;
  spec.name = "rewards-svc";
  spec.defaults = loyalty::config::ServiceDefaults{
      .env_prefix = "REWARDS", .schema = "rewards", .grpc_port = 50053, .metrics_port = 9103};
  spec.migrations = loyalty::rewards::Migrations();
  spec.extra_help = {
      {"LOYALTY_PAGE_TOKEN_SECRET",
       "HMAC key for page tokens, >= 16 characters, same on every replica"},
      {"LOYALTY_REWARDS_VOUCHER_KEY",
       "required: secret (>= 32 bytes) keying voucher code hashes and their sealing; never "
       "change it"},
      {"LOYALTY_REWARDS_POINTS_ADDR",
       "points-svc gRPC address, for holds and the PointsEarned events that stamp punch cards "
       "(default: 127.0.0.1:50052)"},
      {"LOYALTY_REWARDS_MEMBERS_ADDR",
       "members-svc gRPC address: its member events keep the tier copy, and tiers and ladders "
       "are asked of it (default: 127.0.0.1:50051)"},
      {"LOYALTY_REWARDS_UPSTREAM_DEADLINE_MS",
       "deadline of calls to points-svc and members-svc (default: 2000)"},
      {"LOYALTY_REWARDS_HOLD_TTL_MS", "lifetime of a redemption's points hold (default: 600000)"},
      {"LOYALTY_REWARDS_COMPLETION_MARGIN_MS",
       "a redemption completes only while its hold has this long left (default: 60000)"},
      {"LOYALTY_REWARDS_RECOVERY_GRACE_MS",
       "age after which recovery takes over a PENDING redemption (default: 30000)"},
      {"LOYALTY_REWARDS_RECOVERY_INTERVAL_MS", "how often recovery runs (default: 5000)"},
      {"LOYALTY_REWARDS_REDEEM_BATCH_MAX",
       "RedeemReward calls whose saga runs together as one batch, 1-1000 (default: 64)"},
      {"LOYALTY_REWARDS_REDEEM_WRITERS", "redemption batches in flight at once (default: 2)"},
      {"LOYALTY_REWARDS_REDEEM_QUEUE_MAX",
       "RedeemReward calls waiting for a batch; beyond, RESOURCE_EXHAUSTED (default: 4096)"},
      {"LOYALTY_REWARDS_REDEEM_WAIT_MAX_MS",
       "longest a RedeemReward caller waits for its batch (default: 30000)"},
      {"LOYALTY_REWARDS_REWARD_MEMORY_MS",
       "how long RedeemReward's checks trust a reward read by an earlier call; 0 reads it every "
       "time (default: 1000)"},
      {"LOYALTY_REWARDS_TEST_FAULTS",
       "tests only: enables LOYALTY_REWARDS_CRASH_AFTER_STEP (1-3: SIGKILL after that saga step)"}};
  for (auto& variable : loyalty::events::ProducerConfigHelp("REWARDS")) {
    spec.extra_help.push_back(std::move(variable));
  }
  return loyalty::service::Main(argc, argv, spec, loyalty::rewards::Build);
}
