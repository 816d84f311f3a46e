#pragma once

// What every service's main() does, written once: parse `--migrate`/`--help`, load and validate
// the LOYALTY_<P>_* configuration (one line and exit 2 on a bad value), set up logging, apply
// migrations (`--migrate`) or check the schema is current, serve gRPC with health, reflection
// and metrics, run bounded background loops, and drain on SIGTERM.
//
//   int main(int argc, char** argv) {
//     return loyalty::service::Main(argc, argv, {.name = "members-svc", ...}, Build);
//   }

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/config/env.h"
#include "common/config/service_config.h"
#include "common/events/consumer.h"
#include "common/events/producer.h"
#include "common/pg/migrate.h"
#include "common/pg/pool.h"
#include "grpcpp/impl/service_type.h"
#include "prometheus/registry.h"

namespace loyalty::service {

// Work a service repeats in the background, e.g. applying due tier downgrades.
struct BackgroundLoop {
  std::string name;
  absl::Duration interval;
  // One bounded round; returns how many items it handled (logged when > 0).
  std::function<absl::StatusOr<int>()> run_once;
};

// What the service builds once its database is ready. It owns whatever the services need.
struct Built {
  std::shared_ptr<void> state;
  std::vector<grpc::Service*> services;
  std::vector<BackgroundLoop> loops;
  // Adds the service's own metrics to the registry /metrics serves; called once, right after the
  // server starts (calls may already be arriving).
  std::function<void(prometheus::Registry&)> register_metrics;
  // The service's event producer, owned by `state`, if it has one: its EventStreamService is
  // served and an `outbox-prune` loop runs its PruneOnce every prune_interval.
  events::Producer* producer = nullptr;
  // The event consumers, owned by `state` (their destructors stop them). Each exports its lag
  // metrics and starts once the server serves; readiness does not wait for it to catch up. An
  // `applied-events-prune` loop forgets the ids each applied more than `applied_retention` ago.
  std::vector<events::EventConsumer*> consumers;
  absl::Duration applied_retention = absl::Hours(168);
};

struct Spec {
  std::string name;  // "members-svc"
  config::ServiceDefaults defaults;
  std::span<const pg::Migration> migrations;
  // Extra variables for --help: name and description.
  std::vector<std::pair<std::string, std::string>> extra_help;
};

// Builds the service from its configuration and pool. `reader` reads the service's own extra
// variables; errors it records are reported like the common ones (exit 2).
using BuildFn = std::function<absl::StatusOr<Built>(
    config::EnvReader& reader, const config::ServiceConfig& config, pg::Pool& pool)>;

// Returns the process exit code: 0 clean stop, 1 runtime failure, 2 bad configuration or usage.
int Main(int argc, char** argv, const Spec& spec, const BuildFn& build);

pg::ConnectionOptions ConnectionOptionsFor(const config::ServiceConfig& config,
                                           const std::string& application_name);

}  // namespace loyalty::service
