// members-svc: programs, enrolment, member profiles and tiers.
//
//   members-svc            serve gRPC (config from LOYALTY_MEMBERS_* variables, see --help)
//   members-svc --migrate  apply the embedded schema migrations and exit
//
// Exit codes: 0 clean stop, 1 runtime failure (database, ports), 2 bad configuration or usage.

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "common/clock.h"
#include "common/config/env.h"
#include "common/config/service_config.h"
#include "common/log/log.h"
#include "common/pg/migrate.h"
#include "common/pg/pool.h"
#include "common/server/server.h"
#include "common/server/signals.h"
#include "common/status/error.h"
#include "members-svc/migrations.h"
#include "members-svc/rpc/grpc_service.h"
#include "members-svc/rpc/members_handler.h"

namespace loyalty::members {
namespace {

constexpr std::string_view kServiceName = "members-svc";
constexpr int kTierReviewBatchMax = 500;
// A development default so `scripts/run` works out of the box; production sets its own secret
// so every replica accepts the others' page tokens (docs/configuration.md).
constexpr std::string_view kDevPageTokenSecret = "loyalty-dev-page-token-secret-change-me";

const config::ServiceDefaults kDefaults{
    .env_prefix = "MEMBERS", .schema = "members", .grpc_port = 50051, .metrics_port = 9101};

struct Config {
  config::ServiceConfig service;
  std::string page_token_secret;
  int64_t tier_review_interval_ms;
};

Config LoadConfigOrExit() {
  config::EnvReader reader;
  absl::StatusOr<config::ServiceConfig> service = config::LoadServiceConfig(reader, kDefaults);
  Config config;
  config.page_token_secret =
      reader.String("LOYALTY_PAGE_TOKEN_SECRET", std::string(kDevPageTokenSecret), 256);
  config.tier_review_interval_ms =
      reader.Int("LOYALTY_MEMBERS_TIER_REVIEW_INTERVAL_MS", 60'000, 1'000, 86'400'000);
  if (!reader.status().ok()) config::ExitOnConfigError(kServiceName, reader.status());
  if (!service.ok()) config::ExitOnConfigError(kServiceName, service.status());
  if (config.page_token_secret.size() < 16) {
    config::ExitOnConfigError(
        kServiceName,
        absl::InvalidArgumentError("LOYALTY_PAGE_TOKEN_SECRET must be at least 16 characters"));
  }
  config.service = *std::move(service);
  return config;
}

pg::ConnectionOptions ConnectionOptionsFor(const config::ServiceConfig& config) {
  return pg::ConnectionOptions{.conninfo = config.database_url,
                               .schema = config.database_schema,
                               .statement_timeout_ms = config.statement_timeout_ms,
                               .application_name = std::string(kServiceName)};
}

int Migrate(const Config& config) {
  absl::StatusOr<std::unique_ptr<pg::Connection>> connection =
      pg::Connection::Open(ConnectionOptionsFor(config.service));
  if (!connection.ok()) {
    log::Error("migration failed: no database", {{"error", StatusSummary(connection.status())}});
    return 1;
  }
  absl::StatusOr<pg::MigrationReport> report = pg::ApplyMigrations(**connection, Migrations());
  if (!report.ok()) {
    log::Error("migration failed", {{"error", StatusSummary(report.status())}});
    return 1;
  }
  log::Info("migrations applied", {{"schema", config.service.database_schema},
                                   {"applied", static_cast<int64_t>(report->applied.size())},
                                   {"version", static_cast<int64_t>(report->current_version)}});
  return 0;
}

void PrintHelp() {
  std::printf(
      "usage: members-svc [--migrate]\n\n"
      "Serves loyalty.members.v1.MembersService over gRPC; --migrate applies the schema\n"
      "migrations and exits. Configuration comes from environment variables:\n\n");
  for (const config::VariableDoc& doc : config::DescribeServiceConfig(kDefaults)) {
    std::printf("  %-40s %s (default: %s)\n", doc.name.c_str(), doc.description.c_str(),
                doc.default_value.c_str());
  }
  std::printf("  %-40s %s\n", "LOYALTY_PAGE_TOKEN_SECRET",
              "HMAC key for page tokens, >= 16 characters, same on every replica");
  std::printf("  %-40s %s\n", "LOYALTY_MEMBERS_TIER_REVIEW_INTERVAL_MS",
              "how often due tier downgrades are applied (default: 60000)");
}

int Serve(const Config& config) {
  absl::StatusOr<std::unique_ptr<pg::Pool>> pool = pg::Pool::Create(
      {.connection = ConnectionOptionsFor(config.service),
       .size = config.service.db_pool_size,
       .acquire_timeout = absl::Milliseconds(config.service.db_acquire_timeout_ms)});
  if (!pool.ok()) {
    log::Error("bad pool settings", {{"error", StatusSummary(pool.status())}});
    return 2;
  }
  {
    // Refuse to serve on a schema this binary does not match: run --migrate first.
    absl::StatusOr<pg::PooledConnection> connection = (*pool)->Acquire();
    absl::Status current = connection.ok() ? pg::CheckMigrationsCurrent(**connection, Migrations())
                                           : connection.status();
    if (!current.ok()) {
      log::Error("cannot start", {{"error", StatusSummary(current)}});
      return 1;
    }
  }
  RealClock clock;
  MembersHandler handler(**pool, clock, {.page_token_key = config.page_token_secret});
  GrpcMembersService service(handler);
  absl::StatusOr<std::unique_ptr<server::GrpcServer>> server = server::GrpcServer::Start(
      {.service_name = std::string(kServiceName),
       .listen_address = config.service.listen_address,
       .grpc_port = config.service.grpc_port,
       .metrics_port = config.service.metrics_port,
       .max_threads = config.service.grpc_max_threads,
       .shutdown_grace = absl::Milliseconds(config.service.shutdown_grace_ms)},
      {&service});
  if (!server.ok()) {
    log::Error("cannot start the server", {{"error", StatusSummary(server.status())}});
    return 1;
  }
  log::Info("serving", {{"grpc_port", static_cast<int64_t>((*server)->grpc_port())},
                        {"metrics_port", static_cast<int64_t>((*server)->metrics_port())},
                        {"schema", config.service.database_schema}});

  // Downgrades are due at a point in time, not on a request: a background sweep applies them
  // (in bounded batches) for members nobody reads.
  absl::Notification stopping;
  std::thread tier_review([&] {
    const absl::Duration interval = absl::Milliseconds(config.tier_review_interval_ms);
    while (!stopping.WaitForNotificationWithTimeout(interval)) {
      absl::StatusOr<int> reviewed = handler.ApplyDueTierChanges(kTierReviewBatchMax);
      if (!reviewed.ok()) {
        log::Warning("tier review failed", {{"error", StatusSummary(reviewed.status())}});
      } else if (*reviewed > 0) {
        log::Info("tier review", {{"members", static_cast<int64_t>(*reviewed)}});
      }
    }
  });

  const int signal = server::WaitForTerminationSignal();
  log::Info("draining", {{"signal", static_cast<int64_t>(signal)}});
  stopping.Notify();
  tier_review.join();
  (*server)->Shutdown();
  log::Info("stopped");
  return 0;
}

int Main(int argc, char** argv) {
  server::BlockTerminationSignals();
  bool migrate = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--migrate") == 0) {
      migrate = true;
    } else if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      PrintHelp();
      return 0;
    } else {
      std::fprintf(stderr, "members-svc: unknown argument %s (see --help)\n", argv[i]);
      return 2;
    }
  }
  const Config config = LoadConfigOrExit();
  absl::StatusOr<log::Level> level = log::ParseLevel(config.service.log_level);
  log::Init(std::string(kServiceName), level.ok() ? *level : log::Level::kInfo);
  return migrate ? Migrate(config) : Serve(config);
}

}  // namespace
}  // namespace loyalty::members

int main(int argc, char** argv) { return loyalty::members::Main(argc, argv); }
