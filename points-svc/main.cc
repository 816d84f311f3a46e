// points-svc: the double-entry points ledger and the earning engine.
//
//   points-svc            serve gRPC (config from LOYALTY_POINTS_* variables, see --help)
//   points-svc --migrate  apply the embedded schema migrations and exit
//
// Exit codes: 0 clean stop, 1 runtime failure (database, ports), 2 bad configuration or usage.

#include <memory>
#include <string>

#include "common/clock.h"
#include "common/events/consumer.h"
#include "common/events/producer.h"
#include "common/service/service_main.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "points-svc/migrations.h"
#include "points-svc/rpc/grpc_service.h"
#include "points-svc/rpc/member_directory.h"
#include "points-svc/rpc/member_events.h"
#include "points-svc/rpc/points_handler.h"

namespace loyalty::points {
namespace {

constexpr int kMaintenanceBatchMax = 500;
constexpr char kDevPageTokenSecret[] = "loyalty-dev-page-token-secret-change-me";

struct State {
  RealClock clock;
  std::unique_ptr<GrpcMemberDirectory> directory;
  std::unique_ptr<PointsHandler> handler;
  std::unique_ptr<GrpcPointsService> service;
  std::unique_ptr<events::Producer> events;
  // Last: its destructor stops the thread that applies member events through the handler.
  std::unique_ptr<events::EventConsumer> member_events;
};

absl::StatusOr<service::Built> Build(config::EnvReader& reader, const config::ServiceConfig& config,
                                     pg::Pool& pool) {
  const std::string secret = reader.String("LOYALTY_PAGE_TOKEN_SECRET", kDevPageTokenSecret, 256);
  const std::string members_address =
      reader.String("LOYALTY_POINTS_MEMBERS_ADDR", "127.0.0.1:50051", 255);
  const int64_t members_deadline_ms =
      reader.Int("LOYALTY_POINTS_MEMBERS_DEADLINE_MS", 2'000, 10, 60'000);
  const int64_t projection_ttl_ms =
      reader.Int("LOYALTY_POINTS_PROJECTION_TTL_MS", 60'000, 0, 86'400'000);
  const int64_t projection_stale_grace_ms =
      reader.Int("LOYALTY_POINTS_PROJECTION_STALE_GRACE_MS", 600'000, 0, 86'400'000);
  const int64_t maintenance_interval_ms =
      reader.Int("LOYALTY_POINTS_MAINTENANCE_INTERVAL_MS", 10'000, 100, 3'600'000);
  const int64_t write_batch_max = reader.Int("LOYALTY_POINTS_WRITE_BATCH_MAX", 256, 1, 4096);
  const int64_t writers = reader.Int("LOYALTY_POINTS_WRITERS", 2, 1, 16);
  const int64_t write_queue_max = reader.Int("LOYALTY_POINTS_WRITE_QUEUE_MAX", 4096, 1, 1'000'000);
  const int64_t write_wait_max_ms =
      reader.Int("LOYALTY_POINTS_WRITE_WAIT_MAX_MS", 10'000, 100, 600'000);
  const events::ProducerConfig events_config = events::ReadProducerConfig(reader, "POINTS");
  if (secret.size() < 16) {
    return absl::InvalidArgumentError("LOYALTY_PAGE_TOKEN_SECRET must be at least 16 characters");
  }
  auto state = std::make_shared<State>();
  const std::shared_ptr<grpc::Channel> members_channel =
      grpc::CreateChannel(members_address, grpc::InsecureChannelCredentials());
  state->directory = std::make_unique<GrpcMemberDirectory>(members_channel,
                                                           absl::Milliseconds(members_deadline_ms));
  state->handler = std::make_unique<PointsHandler>(
      pool, state->clock, *state->directory,
      PointsHandlerOptions{
          .page_token_key = secret,
          .projection_ttl = absl::Milliseconds(projection_ttl_ms),
          .projection_stale_grace = absl::Milliseconds(projection_stale_grace_ms),
          .purchase_writes = {.queue = {.max_batch = static_cast<int>(write_batch_max),
                                        .max_queued = static_cast<int>(write_queue_max),
                                        .writers = static_cast<int>(writers)},
                              .wait_max = absl::Milliseconds(write_wait_max_ms)}});
  state->service = std::make_unique<GrpcPointsService>(*state->handler);
  state->events = std::make_unique<events::Producer>(
      pool, service::ConnectionOptionsFor(config, "points-svc-events"), state->clock,
      events_config);
  PointsHandler* handler = state->handler.get();
  state->member_events = std::make_unique<events::EventConsumer>(
      pool, members_channel,
      events::ConsumerOptions{
          .stream = "members", .consumer = "points-svc", .types = MemberEventTypes()},
      [handler](pg::Connection& connection, const events::v1::Event& event) {
        return handler->ApplyMemberEvent(connection, event);
      });
  // Holds run out, pending points come due and lots expire at points in time, not on requests:
  // one loop applies all three in bounded batches. The ids of applied member events are kept as
  // long as this service keeps its own events.
  return service::Built{
      .state = state,
      .services = {state->service.get()},
      .loops = {{.name = "ledger-maintenance",
                 .interval = absl::Milliseconds(maintenance_interval_ms),
                 .run_once = [handler] { return handler->Maintain(kMaintenanceBatchMax); }}},
      .register_metrics =
          [handler](prometheus::Registry& registry) { handler->ExportMetrics(registry); },
      .producer = state->events.get(),
      .consumers = {state->member_events.get()},
      .applied_retention = events_config.retention};
}

}  // namespace
}  // namespace loyalty::points

int main(int argc, char** argv) {
  loyalty::service::Spec spec;
  spec.name = "points-svc";
  spec.defaults = loyalty::config::ServiceDefaults{
      .env_prefix = "POINTS", .schema = "points", .grpc_port = 50052, .metrics_port = 9102};
  spec.migrations = loyalty::points::Migrations();
  spec.extra_help = {
      {"LOYALTY_PAGE_TOKEN_SECRET",
       "HMAC key for page tokens, >= 16 characters, same on every replica"},
      {"LOYALTY_POINTS_MEMBERS_ADDR",
       "members-svc gRPC address, for GetMember and its event stream (default: 127.0.0.1:50051)"},
      {"LOYALTY_POINTS_MEMBERS_DEADLINE_MS", "deadline of calls to members-svc (default: 2000)"},
      {"LOYALTY_POINTS_PROJECTION_TTL_MS",
       "how long member and program data from members-svc is trusted (default: 60000)"},
      {"LOYALTY_POINTS_MAINTENANCE_INTERVAL_MS",
       "how often holds, pending points and expiries are processed (default: 10000)"},
      {"LOYALTY_POINTS_WRITE_BATCH_MAX",
       "purchases written in one transaction by group commit, 1-4096 (default: 256)"},
      {"LOYALTY_POINTS_WRITERS",
       "group-commit transactions in flight at once, 1-16; each holds a DB connection (default: "
       "2)"},
      {"LOYALTY_POINTS_WRITE_QUEUE_MAX",
       "purchases waiting for a writer before RESOURCE_EXHAUSTED (default: 4096)"},
      {"LOYALTY_POINTS_WRITE_WAIT_MAX_MS",
       "longest a purchase waits for its batch before DEADLINE_EXCEEDED (default: 10000)"}};
  for (auto& variable : loyalty::events::ProducerConfigHelp("POINTS")) {
    spec.extra_help.push_back(std::move(variable));
  }
  return loyalty::service::Main(argc, argv, spec, loyalty::points::Build);
}
