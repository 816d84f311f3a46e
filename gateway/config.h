#pragma once

// The gateway's configuration, from LOYALTY_GATEWAY_* variables (and the shared
// LOYALTY_LOG_LEVEL), validated at start: a bad value stops the process with one line and exit
// code 2 (config::ExitOnConfigError). DescribeGatewayConfig lists the same variables for --help
// from the same tables, so the help cannot drift from what is read. docs/gateway.md explains them.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config/env.h"
#include "common/config/service_config.h"
#include "gateway/auth/api_keys.h"
#include "gateway/auth/jwt.h"
#include "gateway/ratelimit/token_bucket.h"

namespace loyalty::gateway {

// An upstream address set to this is a service that is not deployed: its routes answer 503
// UPSTREAM_NOT_CONFIGURED, /readyz does not wait for it, the wallet lists it as partial.
inline constexpr char kAbsentUpstream[] = "absent";

// The request body limit the issue fixes; larger bodies get 413.
inline constexpr size_t kBodyBytesMax = 64 * 1024;
// Request line plus headers; larger get 431.
inline constexpr size_t kHeaderBytesMax = 16 * 1024;

struct GatewayConfig {
  std::string listen_address;
  int http_port = 0;
  int metrics_port = 0;
  // Upstream name ("members", "points", "rewards") -> gRPC target ("host:port", "dns:///...");
  // absent services are not in the map.
  std::map<std::string, std::string> upstreams;
  int64_t upstream_deadline_ms = 0;
  int upstream_channels = 0;
  int threads = 0;
  int max_connections = 0;
  int max_in_flight = 0;
  int64_t idle_timeout_ms = 0;
  int64_t request_timeout_ms = 0;
  int64_t shutdown_grace_ms = 0;
  bool access_log = true;
  std::string log_level;

  ApiKeyTable api_keys;
  // Never null; has_keys() is false when no JWT key is configured (member tokens then get 401).
  std::shared_ptr<JwtVerifier> jwt;
  RateLimitOptions api_key_rate;
  RateLimitOptions member_rate;
};

// Reads every variable through `reader`. Returns the reader's first error, or INVALID_ARGUMENT
// for values the reader accepts but the gateway cannot use (equal ports, a malformed API key
// list, an unreadable JWT key file, JWT keys without issuer and audience). Secrets (API key
// digests, the HS256 secret) never appear in an error.
absl::StatusOr<GatewayConfig> LoadGatewayConfig(config::EnvReader& reader);

// The variables LoadGatewayConfig reads, in the same order.
std::vector<config::VariableDoc> DescribeGatewayConfig();

}  // namespace loyalty::gateway
