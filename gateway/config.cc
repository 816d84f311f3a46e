#include "gateway/config.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace loyalty::gateway {
namespace {

struct IntSetting {
  const char* name;
  int64_t default_value;
  int64_t min;
  int64_t max;
  const char* description;
};

struct UpstreamSetting {
  const char* service;
  const char* name;
  const char* default_value;
};

constexpr UpstreamSetting kUpstreams[] = {
    {"members", "LOYALTY_GATEWAY_MEMBERS_ADDR", "127.0.0.1:50051"},
    {"points", "LOYALTY_GATEWAY_POINTS_ADDR", "127.0.0.1:50052"},
    {"rewards", "LOYALTY_GATEWAY_REWARDS_ADDR", "127.0.0.1:50053"},
};

constexpr IntSetting kUpstreamDeadlineMs{"LOYALTY_GATEWAY_UPSTREAM_DEADLINE_MS", 3'000, 10, 60'000,
                                         "deadline of every upstream call, ms"};
// One connection per upstream by default: on the benchmark's 2 cores (docs/benchmarks.md,
// "Gateway") it cost the gateway ~10-20% less CPU per call than two, since gRPC then writes and
// reads the frames of concurrent calls together; more help only where one connection's thread
// is the bottleneck.
constexpr IntSetting kUpstreamChannels{"LOYALTY_GATEWAY_UPSTREAM_CHANNELS", 1, 1, 16,
                                       "gRPC connections per upstream"};
constexpr IntSetting kThreads{"LOYALTY_GATEWAY_THREADS", 4, 1, 64, "HTTP worker threads"};
constexpr IntSetting kMaxConnections{"LOYALTY_GATEWAY_MAX_CONNECTIONS", 1'024, 1, 100'000,
                                     "open HTTP connections; more are closed at accept"};
constexpr IntSetting kMaxInFlight{"LOYALTY_GATEWAY_MAX_IN_FLIGHT", 512, 1, 100'000,
                                  "requests handled at once; more get 503 OVERLOADED"};
constexpr IntSetting kIdleTimeoutMs{"LOYALTY_GATEWAY_IDLE_TIMEOUT_MS", 30'000, 100, 3'600'000,
                                    "time a connection may take to send a request's headers, ms"};
constexpr IntSetting kRequestTimeoutMs{"LOYALTY_GATEWAY_REQUEST_TIMEOUT_MS", 10'000, 100, 300'000,
                                       "time to read a body and to write an answer, ms"};
constexpr IntSetting kShutdownGraceMs{"LOYALTY_GATEWAY_SHUTDOWN_GRACE_MS", 10'000, 0, 300'000,
                                      "how long a stop lets in-flight requests finish, ms"};
constexpr IntSetting kApiKeyRate{"LOYALTY_GATEWAY_RATE_LIMIT_API_KEY_PER_SECOND", 1'000, 0,
                                 1'000'000, "requests per second per API key (0: no limit)"};
constexpr IntSetting kApiKeyBurst{"LOYALTY_GATEWAY_RATE_LIMIT_API_KEY_BURST", 2'000, 1, 1'000'000,
                                  "requests an API key may send at once"};
constexpr IntSetting kMemberRate{"LOYALTY_GATEWAY_RATE_LIMIT_MEMBER_PER_SECOND", 10, 0, 1'000'000,
                                 "requests per second per member token (0: no limit)"};
constexpr IntSetting kMemberBurst{"LOYALTY_GATEWAY_RATE_LIMIT_MEMBER_BURST", 20, 1, 1'000'000,
                                  "requests a member may send at once"};
constexpr IntSetting kBucketsMax{"LOYALTY_GATEWAY_RATE_LIMIT_BUCKETS_MAX", 100'000, 16, 10'000'000,
                                 "rate limit buckets kept (per kind of caller)"};

constexpr char kListenAddress[] = "LOYALTY_GATEWAY_LISTEN_ADDRESS";
constexpr char kHttpPort[] = "LOYALTY_GATEWAY_HTTP_PORT";
constexpr char kMetricsPort[] = "LOYALTY_GATEWAY_METRICS_PORT";
constexpr char kApiKeys[] = "LOYALTY_GATEWAY_API_KEYS";
constexpr char kHs256Secret[] = "LOYALTY_GATEWAY_JWT_HS256_SECRET";
constexpr char kHs256Kid[] = "LOYALTY_GATEWAY_JWT_HS256_KID";
constexpr char kPublicKeys[] = "LOYALTY_GATEWAY_JWT_PUBLIC_KEYS";
constexpr char kIssuer[] = "LOYALTY_GATEWAY_JWT_ISSUER";
constexpr char kAudience[] = "LOYALTY_GATEWAY_JWT_AUDIENCE";
constexpr char kAccessLog[] = "LOYALTY_GATEWAY_ACCESS_LOG";
constexpr char kLogLevel[] = "LOYALTY_LOG_LEVEL";

constexpr size_t kShortStringMax = 255;
// 1000 keys of 64 hex digits, a colon and a role, with commas.
constexpr size_t kApiKeysSpecMax = 80 * kApiKeysMax;
constexpr size_t kSecretMax = 1024;

int64_t ReadInt(config::EnvReader& reader, const IntSetting& setting) {
  return reader.Int(setting.name, setting.default_value, setting.min, setting.max);
}

// A gRPC target: host:port, [v6]:port, or a URI scheme such as dns:///name:port.
bool LooksLikeTarget(const std::string& target) {
  return absl::StrContains(target, ":") && target.find(' ') == std::string::npos;
}

}  // namespace

absl::StatusOr<GatewayConfig> LoadGatewayConfig(config::EnvReader& reader) {
  GatewayConfig config;
  config.listen_address = reader.String(kListenAddress, "0.0.0.0", kShortStringMax);
  config.http_port = reader.Port(kHttpPort, 8080);
  config.metrics_port = reader.Port(kMetricsPort, 9104);
  if (reader.status().ok() && config.http_port != 0 && config.http_port == config.metrics_port) {
    return absl::InvalidArgumentError(absl::StrCat(kMetricsPort, " must differ from ", kHttpPort,
                                                   ", both are ", config.http_port));
  }
  for (const UpstreamSetting& upstream : kUpstreams) {
    const std::string target =
        reader.String(upstream.name, upstream.default_value, kShortStringMax);
    if (!reader.status().ok()) break;
    if (target == kAbsentUpstream) continue;
    if (!LooksLikeTarget(target)) {
      return absl::InvalidArgumentError(absl::StrCat(
          upstream.name, " must be host:port, a gRPC target URI or \"", kAbsentUpstream, "\""));
    }
    config.upstreams[upstream.service] = target;
  }
  config.upstream_deadline_ms = ReadInt(reader, kUpstreamDeadlineMs);
  config.upstream_channels = static_cast<int>(ReadInt(reader, kUpstreamChannels));
  config.threads = static_cast<int>(ReadInt(reader, kThreads));
  config.max_connections = static_cast<int>(ReadInt(reader, kMaxConnections));
  config.max_in_flight = static_cast<int>(ReadInt(reader, kMaxInFlight));
  config.idle_timeout_ms = ReadInt(reader, kIdleTimeoutMs);
  config.request_timeout_ms = ReadInt(reader, kRequestTimeoutMs);
  config.shutdown_grace_ms = ReadInt(reader, kShutdownGraceMs);
  if (reader.status().ok() && config.upstream_deadline_ms >= config.request_timeout_ms) {
    return absl::InvalidArgumentError(
        absl::StrCat(kUpstreamDeadlineMs.name, " must be below ", kRequestTimeoutMs.name, " (",
                     config.upstream_deadline_ms, " >= ", config.request_timeout_ms, ")"));
  }

  const std::string api_keys = reader.String(kApiKeys, "", kApiKeysSpecMax);
  if (reader.status().ok()) {
    absl::StatusOr<ApiKeyTable> table = ApiKeyTable::Parse(api_keys);
    if (!table.ok())
      return absl::InvalidArgumentError(absl::StrCat(kApiKeys, ": ", table.status().message()));
    config.api_keys = *std::move(table);
  }

  const std::string secret = reader.String(kHs256Secret, "", kSecretMax);
  const std::string kid = reader.String(kHs256Kid, "", kShortStringMax);
  const std::string key_file = reader.String(kPublicKeys, "", 4096);
  JwtVerifierOptions jwt_options;
  jwt_options.issuer = reader.String(kIssuer, "", kShortStringMax);
  jwt_options.audience = reader.String(kAudience, "", kShortStringMax);
  if (reader.status().ok()) {
    auto verifier = std::make_shared<JwtVerifier>(jwt_options);
    if (!secret.empty()) {
      if (absl::Status status = verifier->AddHmacKey(kid, secret); !status.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(kHs256Secret, ": ", status.message()));
      }
    }
    if (!key_file.empty()) {
      if (absl::Status status = verifier->LoadPublicKeyFile(key_file); !status.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(kPublicKeys, ": ", status.message()));
      }
    }
    // A token from any issuer for any audience would be accepted otherwise: tokens minted for
    // another service with the same identity provider keys.
    if (verifier->has_keys() && (jwt_options.issuer.empty() || jwt_options.audience.empty())) {
      return absl::InvalidArgumentError(
          absl::StrCat("JWT keys are configured: ", kIssuer, " and ", kAudience, " are required"));
    }
    config.jwt = std::move(verifier);
  }

  const size_t buckets_max = static_cast<size_t>(ReadInt(reader, kBucketsMax));
  config.api_key_rate = {static_cast<double>(ReadInt(reader, kApiKeyRate)),
                         static_cast<double>(ReadInt(reader, kApiKeyBurst)), buckets_max};
  config.member_rate = {static_cast<double>(ReadInt(reader, kMemberRate)),
                        static_cast<double>(ReadInt(reader, kMemberBurst)), buckets_max};
  config.access_log = reader.Bool(kAccessLog, true);
  config.log_level = reader.OneOf(kLogLevel, "info", {"debug", "info", "warning", "error"});
  if (!reader.status().ok()) return reader.status();
  return config;
}

std::vector<config::VariableDoc> DescribeGatewayConfig() {
  std::vector<config::VariableDoc> docs = {
      {kListenAddress, "0.0.0.0", "address the HTTP and metrics listeners bind"},
      {kHttpPort, "8080", "HTTP port, 0..65535 (0 picks a free port)"},
      {kMetricsPort, "9104", "Prometheus /metrics port, 0..65535"},
  };
  for (const UpstreamSetting& upstream : kUpstreams) {
    docs.push_back({upstream.name, upstream.default_value,
                    absl::StrCat(upstream.service, "-svc gRPC target, or \"absent\"")});
  }
  for (const IntSetting* setting :
       {&kUpstreamDeadlineMs, &kUpstreamChannels, &kThreads, &kMaxConnections, &kMaxInFlight,
        &kIdleTimeoutMs, &kRequestTimeoutMs, &kShutdownGraceMs}) {
    docs.push_back({setting->name, absl::StrCat(setting->default_value),
                    absl::StrCat(setting->description, ", ", setting->min, "..", setting->max)});
  }
  docs.push_back({kApiKeys, "none", "comma-separated <sha256-hex-of-key>:<admin|merchant|app>"});
  docs.push_back({kHs256Secret, "none", "HS256 secret of member tokens, >= 32 bytes"});
  docs.push_back({kHs256Kid, "none", "kid HS256 tokens carry; unset: tokens without kid"});
  docs.push_back({kPublicKeys, "none", "file of '<kid> <RS256|ES256> <pem-path>' lines"});
  docs.push_back({kIssuer, "none", "required iss of member tokens (required with JWT keys)"});
  docs.push_back({kAudience, "none", "required aud of member tokens (required with JWT keys)"});
  for (const IntSetting* setting :
       {&kBucketsMax, &kApiKeyRate, &kApiKeyBurst, &kMemberRate, &kMemberBurst}) {
    docs.push_back({setting->name, absl::StrCat(setting->default_value),
                    absl::StrCat(setting->description, ", ", setting->min, "..", setting->max)});
  }
  docs.push_back({kAccessLog, "true", "one log line per request"});
  docs.push_back({kLogLevel, "info", "debug, info, warning or error"});
  return docs;
}

}  // namespace loyalty::gateway
