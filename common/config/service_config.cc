#include "common/config/service_config.h"

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/check.h"

namespace loyalty::config {
namespace {

// The numeric settings, shared by LoadServiceConfig and DescribeServiceConfig so that --help
// always states the limits that are enforced.
struct IntSetting {
  const char* suffix;
  int64_t default_value;
  int64_t min;
  int64_t max;
  const char* description;
};

constexpr IntSetting kDbPoolSize{"DB_POOL_SIZE", 8, 1, 100, "database connections in the pool"};
constexpr IntSetting kDbAcquireTimeoutMs{"DB_ACQUIRE_TIMEOUT_MS", 2'000, 1, 60'000,
                                         "how long a call waits for a free connection, ms"};
constexpr IntSetting kStatementTimeoutMs{"STATEMENT_TIMEOUT_MS", 5'000, 100, 600'000,
                                         "PostgreSQL statement_timeout, ms"};
constexpr IntSetting kGrpcMaxThreads{"GRPC_MAX_THREADS", 128, 2, 512,
                                     "gRPC server threads, hence calls served at once"};
constexpr IntSetting kShutdownGraceMs{"SHUTDOWN_GRACE_MS", 10'000, 0, 300'000,
                                      "how long a stop lets in-flight calls finish, ms"};

constexpr char kDefaultListenAddress[] = "0.0.0.0";
// The longest DNS name; addresses are shorter still.
constexpr size_t kListenAddressLengthMax = 255;
// PostgreSQL truncates identifiers beyond NAMEDATALEN - 1 bytes.
constexpr size_t kSchemaLengthMax = 63;
constexpr char kLogLevelVariable[] = "LOYALTY_LOG_LEVEL";
constexpr char kDefaultLogLevel[] = "info";

const std::vector<std::string>& LogLevels() {
  static const auto* const levels =
      new std::vector<std::string>{"debug", "info", "warning", "error"};
  return *levels;
}

std::string Name(const ServiceDefaults& defaults, const char* suffix) {
  return absl::StrCat("LOYALTY_", defaults.env_prefix, "_", suffix);
}

std::string Range(const IntSetting& setting) {
  return absl::StrCat(setting.min, "..", setting.max);
}

int64_t ReadInt(EnvReader& reader, const ServiceDefaults& defaults, const IntSetting& setting) {
  return reader.Int(Name(defaults, setting.suffix), setting.default_value, setting.min,
                    setting.max);
}

// ^[a-z_][a-z0-9_]{0,62}$: an identifier PostgreSQL takes unquoted and unchanged, so it can be
// spliced into search_path and DDL without quoting rules to get wrong.
bool IsPlainIdentifier(const std::string& name) {
  if (name.empty() || name.size() > kSchemaLengthMax) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool valid = (c >= 'a' && c <= 'z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!valid) return false;
  }
  return true;
}

// A cheap shape check so a value such as a bare host name fails here, with the variable's name,
// rather than later as an obscure libpq error.
bool LooksLikeDatabaseUrl(const std::string& url) {
  return absl::StartsWith(url, "postgresql://") || absl::StartsWith(url, "postgres://") ||
         url.find('=') != std::string::npos;
}

}  // namespace

absl::StatusOr<ServiceConfig> LoadServiceConfig(EnvReader& reader,
                                                const ServiceDefaults& defaults) {
  LOYALTY_CHECK(!defaults.env_prefix.empty());
  LOYALTY_CHECK(IsPlainIdentifier(defaults.schema));

  // Each service-level check runs only while the reader is clean, so the error returned is
  // always the one for the first bad variable in reading order.
  ServiceConfig config;
  config.listen_address = reader.String(Name(defaults, "LISTEN_ADDRESS"), kDefaultListenAddress,
                                        kListenAddressLengthMax);

  const std::string grpc_port_name = Name(defaults, "GRPC_PORT");
  const std::string metrics_port_name = Name(defaults, "METRICS_PORT");
  config.grpc_port = reader.Port(grpc_port_name, defaults.grpc_port);
  config.metrics_port = reader.Port(metrics_port_name, defaults.metrics_port);
  if (reader.status().ok() && config.grpc_port != 0 && config.grpc_port == config.metrics_port) {
    return absl::InvalidArgumentError(absl::StrCat(
        metrics_port_name, " must differ from ", grpc_port_name, ", both are ", config.grpc_port));
  }

  const std::string url_name = Name(defaults, "DATABASE_URL");
  config.database_url = reader.Required(url_name);
  if (reader.status().ok() && !LooksLikeDatabaseUrl(config.database_url)) {
    return absl::InvalidArgumentError(
        absl::StrCat(url_name, " must be a libpq conninfo (key=value ...) or a postgresql:// URI"));
  }

  const std::string schema_name = Name(defaults, "DATABASE_SCHEMA");
  config.database_schema = reader.String(schema_name, defaults.schema, kSchemaLengthMax);
  if (reader.status().ok() && !IsPlainIdentifier(config.database_schema)) {
    return absl::InvalidArgumentError(absl::StrCat(schema_name,
                                                   " must match ^[a-z_][a-z0-9_]{0,62}$, got \"",
                                                   absl::CHexEscape(config.database_schema), "\""));
  }

  config.db_pool_size = static_cast<int>(ReadInt(reader, defaults, kDbPoolSize));
  config.db_acquire_timeout_ms = ReadInt(reader, defaults, kDbAcquireTimeoutMs);
  config.statement_timeout_ms = ReadInt(reader, defaults, kStatementTimeoutMs);
  config.grpc_max_threads = static_cast<int>(ReadInt(reader, defaults, kGrpcMaxThreads));
  config.shutdown_grace_ms = ReadInt(reader, defaults, kShutdownGraceMs);
  config.log_level = reader.OneOf(kLogLevelVariable, kDefaultLogLevel, LogLevels());

  if (!reader.status().ok()) return reader.status();
  return config;
}

std::vector<VariableDoc> DescribeServiceConfig(const ServiceDefaults& defaults) {
  std::vector<VariableDoc> docs = {
      {Name(defaults, "LISTEN_ADDRESS"), kDefaultListenAddress,
       "address the gRPC and metrics listeners bind; IPv6 bare, e.g. ::"},
      {Name(defaults, "GRPC_PORT"), absl::StrCat(defaults.grpc_port),
       "gRPC port, 0..65535 (0 picks a free port)"},
      {Name(defaults, "METRICS_PORT"), absl::StrCat(defaults.metrics_port),
       "Prometheus /metrics port, 0..65535 (0 picks a free port)"},
      {Name(defaults, "DATABASE_URL"), "none",
       "required: libpq conninfo (host=... dbname=...) or postgresql:// URI"},
      {Name(defaults, "DATABASE_SCHEMA"), defaults.schema,
       "PostgreSQL schema, matching ^[a-z_][a-z0-9_]{0,62}$"},
  };
  for (const IntSetting* setting : {&kDbPoolSize, &kDbAcquireTimeoutMs, &kStatementTimeoutMs,
                                    &kGrpcMaxThreads, &kShutdownGraceMs}) {
    docs.push_back({Name(defaults, setting->suffix), absl::StrCat(setting->default_value),
                    absl::StrCat(setting->description, ", ", Range(*setting))});
  }
  docs.push_back({kLogLevelVariable, kDefaultLogLevel, "debug, info, warning or error"});
  return docs;
}

}  // namespace loyalty::config
