#include "common/service/service_main.h"

#include <cstdio>
#include <cstring>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/idempotency/idempotency.h"
#include "common/log/log.h"
#include "common/server/server.h"
#include "common/server/signals.h"
#include "common/status/error.h"

namespace loyalty::service {
namespace {

constexpr int kPruneBatchMax = 5000;

int Migrate(const Spec& spec, const config::ServiceConfig& config) {
  absl::StatusOr<std::unique_ptr<pg::Connection>> connection =
      pg::Connection::Open(ConnectionOptionsFor(config, spec.name));
  if (!connection.ok()) {
    log::Error("migration failed: no database", {{"error", StatusSummary(connection.status())}});
    return 1;
  }
  absl::StatusOr<pg::MigrationReport> report = pg::ApplyMigrations(**connection, spec.migrations);
  if (!report.ok()) {
    log::Error("migration failed", {{"error", StatusSummary(report.status())}});
    return 1;
  }
  log::Info("migrations applied", {{"schema", config.database_schema},
                                   {"applied", static_cast<int64_t>(report->applied.size())},
                                   {"version", static_cast<int64_t>(report->current_version)}});
  return 0;
}

void PrintHelp(const Spec& spec) {
  std::printf(
      "usage: %s [--migrate]\n\n"
      "Serves gRPC; --migrate applies the embedded schema migrations and exits.\n"
      "Configuration comes from environment variables:\n\n",
      spec.name.c_str());
  for (const config::VariableDoc& doc : config::DescribeServiceConfig(spec.defaults)) {
    std::printf("  %-44s %s (default: %s)\n", doc.name.c_str(), doc.description.c_str(),
                doc.default_value.c_str());
  }
  std::printf("  %-44s %s\n", "LOYALTY_IDEMPOTENCY_RETENTION_HOURS",
              "how long answers are kept for request_id replays, 1-8784 (default: 168)");
  for (const auto& [name, description] : spec.extra_help) {
    std::printf("  %-44s %s\n", name.c_str(), description.c_str());
  }
}

// Runs `loop` until `stopping` is notified; a failed round is logged and retried next time.
void RunLoop(const BackgroundLoop& loop, absl::Notification& stopping) {
  while (!stopping.WaitForNotificationWithTimeout(loop.interval)) {
    absl::StatusOr<int> handled = loop.run_once();
    if (!handled.ok()) {
      log::Warning("background work failed",
                   {{"loop", loop.name}, {"error", StatusSummary(handled.status())}});
    } else if (*handled > 0) {
      log::Info("background work",
                {{"loop", loop.name}, {"items", static_cast<int64_t>(*handled)}});
    }
  }
}

int Serve(const Spec& spec, config::EnvReader& reader, const config::ServiceConfig& config,
          int64_t retention_hours, const BuildFn& build) {
  absl::StatusOr<std::unique_ptr<pg::Pool>> pool =
      pg::Pool::Create({.connection = ConnectionOptionsFor(config, spec.name),
                        .size = config.db_pool_size,
                        .acquire_timeout = absl::Milliseconds(config.db_acquire_timeout_ms)});
  if (!pool.ok()) {
    log::Error("bad pool settings", {{"error", StatusSummary(pool.status())}});
    return 2;
  }
  {
    // Refuse to serve on a schema this binary does not match: run --migrate first.
    absl::StatusOr<pg::PooledConnection> connection = (*pool)->Acquire();
    const absl::Status current = connection.ok()
                                     ? pg::CheckMigrationsCurrent(**connection, spec.migrations)
                                     : connection.status();
    if (!current.ok()) {
      log::Error("cannot start", {{"error", StatusSummary(current)}});
      return 1;
    }
  }
  absl::StatusOr<Built> built = build(reader, config, **pool);
  if (!reader.status().ok()) config::ExitOnConfigError(spec.name, reader.status());
  if (!built.ok()) {
    log::Error("cannot start", {{"error", StatusSummary(built.status())}});
    return 1;
  }
  if (built->producer != nullptr) {
    events::Producer* producer = built->producer;
    built->services.push_back(producer->service());
    built->loops.push_back({.name = "outbox-prune",
                            .interval = producer->prune_interval(),
                            .run_once = [producer] { return producer->PruneOnce(); }});
  }
  for (events::EventConsumer* consumer : built->consumers) {
    built->loops.push_back({.name = "applied-events-prune",
                            .interval = absl::Minutes(1),
                            .run_once = [consumer, retention = built->applied_retention] {
                              return consumer->PruneApplied(absl::Now() - retention,
                                                            events::kPruneBatchMax);
                            }});
  }
  absl::StatusOr<std::unique_ptr<server::GrpcServer>> server =
      server::GrpcServer::Start({.service_name = spec.name,
                                 .listen_address = config.listen_address,
                                 .grpc_port = config.grpc_port,
                                 .metrics_port = config.metrics_port,
                                 .max_threads = config.grpc_max_threads,
                                 .shutdown_grace = absl::Milliseconds(config.shutdown_grace_ms)},
                                built->services);
  if (!server.ok()) {
    log::Error("cannot start the server", {{"error", StatusSummary(server.status())}});
    return 1;
  }
  if (built->register_metrics) built->register_metrics((*server)->registry());
  for (events::EventConsumer* consumer : built->consumers) {
    consumer->ExportMetrics((*server)->registry());
    consumer->Start();
  }
  log::Info("serving", {{"grpc_port", static_cast<int64_t>((*server)->grpc_port())},
                        {"metrics_port", static_cast<int64_t>((*server)->metrics_port())},
                        {"schema", config.database_schema}});
  pg::Pool* pool_for_pruning = pool->get();
  built->loops.push_back({.name = "idempotency-prune",
                          .interval = absl::Minutes(10),
                          .run_once = [pool_for_pruning, retention_hours]() -> absl::StatusOr<int> {
                            absl::StatusOr<int64_t> pruned = idempotency::PruneKeys(
                                *pool_for_pruning, absl::Now() - absl::Hours(retention_hours),
                                kPruneBatchMax);
                            if (!pruned.ok()) return pruned.status();
                            return static_cast<int>(*pruned);
                          }});
  absl::Notification stopping;
  std::vector<std::thread> loops;
  for (const BackgroundLoop& loop : built->loops) {
    loops.emplace_back([&loop, &stopping] { RunLoop(loop, stopping); });
  }
  const int signal = server::WaitForTerminationSignal();
  log::Info("draining", {{"signal", static_cast<int64_t>(signal)}});
  stopping.Notify();
  for (std::thread& loop : loops) loop.join();
  (*server)->Shutdown();
  log::Info("stopped");
  return 0;
}

}  // namespace

pg::ConnectionOptions ConnectionOptionsFor(const config::ServiceConfig& config,
                                           const std::string& application_name) {
  return pg::ConnectionOptions{.conninfo = config.database_url,
                               .schema = config.database_schema,
                               .statement_timeout_ms = config.statement_timeout_ms,
                               .application_name = application_name};
}

int Main(int argc, char** argv, const Spec& spec, const BuildFn& build) {
  server::BlockTerminationSignals();
  // Debian's Abseil is built with the mutex deadlock detector on, which profiling showed taking
  // about a quarter of the server threads' user time (docs/benchmarks.md). Lock order is ours to
  // get right; the detector is a debugging aid.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  bool migrate = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--migrate") == 0) {
      migrate = true;
    } else if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      PrintHelp(spec);
      return 0;
    } else {
      std::fprintf(stderr, "%s: unknown argument %s (see --help)\n", spec.name.c_str(), argv[i]);
      return 2;
    }
  }
  config::EnvReader reader;
  absl::StatusOr<config::ServiceConfig> config = config::LoadServiceConfig(reader, spec.defaults);
  if (!reader.status().ok()) config::ExitOnConfigError(spec.name, reader.status());
  if (!config.ok()) config::ExitOnConfigError(spec.name, config.status());
  // Every service keeps the answers of acknowledged mutations (common/idempotency) for a bounded
  // time; a loop of its own removes older ones in bounded batches.
  const int64_t retention_hours =
      reader.Int("LOYALTY_IDEMPOTENCY_RETENTION_HOURS", 168, 1, 24 * 366);
  if (!reader.status().ok()) config::ExitOnConfigError(spec.name, reader.status());
  absl::StatusOr<log::Level> level = log::ParseLevel(config->log_level);
  log::Init(spec.name, level.ok() ? *level : log::Level::kInfo);
  return migrate ? Migrate(spec, *config) : Serve(spec, reader, *config, retention_hours, build);
}

}  // namespace loyalty::service
