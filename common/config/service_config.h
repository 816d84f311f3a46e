#pragma once

// The settings every gRPC service binary reads, from LOYALTY_<PREFIX>_* variables (one prefix per
// service, so several services can share one environment, e.g. in docker compose) plus the shared
// LOYALTY_LOG_LEVEL. DescribeServiceConfig lists the same variables for --help, from the same
// table, so the documentation cannot drift from what is read.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config/env.h"

namespace loyalty::config {

// What differs between services.
struct ServiceDefaults {
  // Upper snake case, e.g. "MEMBERS" for LOYALTY_MEMBERS_GRPC_PORT.
  std::string env_prefix;
  // The PostgreSQL schema the service owns, e.g. "members".
  std::string schema;
  int grpc_port = 0;
  int metrics_port = 0;
};

struct ServiceConfig {
  // LOYALTY_<P>_LISTEN_ADDRESS, default "0.0.0.0", at most 255 bytes. IPv6 is given bare ("::").
  std::string listen_address;
  // LOYALTY_<P>_GRPC_PORT and LOYALTY_<P>_METRICS_PORT, 0..65535 (0 picks a free port); they
  // must differ unless 0.
  int grpc_port = 0;
  int metrics_port = 0;
  // LOYALTY_<P>_DATABASE_URL, required: a libpq conninfo ("host=... dbname=...") or a
  // postgresql:// URI. May hold a password, so no error message ever repeats it.
  std::string database_url;
  // LOYALTY_<P>_DATABASE_SCHEMA, default ServiceDefaults::schema, matching ^[a-z_][a-z0-9_]{0,62}$
  // (an unquoted PostgreSQL identifier that fits in NAMEDATALEN).
  std::string database_schema;
  // LOYALTY_<P>_DB_POOL_SIZE, default 8, 1..100.
  int db_pool_size = 0;
  // LOYALTY_<P>_DB_ACQUIRE_TIMEOUT_MS, default 2000, 1..60000.
  int64_t db_acquire_timeout_ms = 0;
  // LOYALTY_<P>_STATEMENT_TIMEOUT_MS, default 5000, 100..600000.
  int64_t statement_timeout_ms = 0;
  // LOYALTY_<P>_GRPC_MAX_THREADS, default 128, 2..512.
  int grpc_max_threads = 0;
  // LOYALTY_<P>_SHUTDOWN_GRACE_MS, default 10000, 0..300000.
  int64_t shutdown_grace_ms = 0;
  // LOYALTY_LOG_LEVEL (shared by all services): debug, info, warning or error; default info.
  std::string log_level;
};

// Reads the variables above through `reader`, in the order listed. Returns the reader's first
// error (which stays recorded in `reader`), or INVALID_ARGUMENT for a value that is well-formed
// for the reader but wrong for a service: a schema name that is not a plain identifier, a
// database URL that is neither form, equal non-zero ports. Those last errors are not recorded in
// `reader`.
absl::StatusOr<ServiceConfig> LoadServiceConfig(EnvReader& reader, const ServiceDefaults& defaults);

// One variable, for --help and docs.
struct VariableDoc {
  std::string name;
  // As the user would write it; "none" for a required variable.
  std::string default_value;
  // What it sets and what it accepts, e.g. "database connections in the pool, 1..100".
  std::string description;
};

// The variables LoadServiceConfig reads, in the same order.
std::vector<VariableDoc> DescribeServiceConfig(const ServiceDefaults& defaults);

}  // namespace loyalty::config
