#include "members-svc/rpc/webhook_config.h"

#include "absl/status/status.h"

namespace loyalty::members {

absl::StatusOr<WebhookConfig> ReadWebhookConfig(config::EnvReader& reader) {
  WebhookConfig config;
  WebhookDispatcherOptions& dispatcher = config.dispatcher;
  dispatcher.workers = static_cast<int>(reader.Int("LOYALTY_MEMBERS_WEBHOOK_WORKERS", 8, 2, 256));
  dispatcher.endpoint_concurrency =
      static_cast<int>(reader.Int("LOYALTY_MEMBERS_WEBHOOK_ENDPOINT_CONCURRENCY", 2, 1, 255));
  const int64_t timeout_ms = reader.Int("LOYALTY_MEMBERS_WEBHOOK_TIMEOUT_MS", 10'000, 100, 120'000);
  const int64_t backoff_initial_ms =
      reader.Int("LOYALTY_MEMBERS_WEBHOOK_BACKOFF_INITIAL_MS", 5'000, 10, 3'600'000);
  const int64_t backoff_max_ms =
      reader.Int("LOYALTY_MEMBERS_WEBHOOK_BACKOFF_MAX_MS", 3'600'000, 10, 86'400'000);
  dispatcher.max_attempts =
      static_cast<int>(reader.Int("LOYALTY_MEMBERS_WEBHOOK_MAX_ATTEMPTS", 12, 1, 100));
  config.retention =
      absl::Hours(reader.Int("LOYALTY_MEMBERS_WEBHOOK_RETENTION_HOURS", 168, 1, 24 * 366));
  dispatcher.poll_interval =
      absl::Milliseconds(reader.Int("LOYALTY_MEMBERS_WEBHOOK_POLL_INTERVAL_MS", 1'000, 10, 60'000));
  config.http.ca_file = reader.String("LOYALTY_MEMBERS_WEBHOOK_CA_FILE", "", 4096);
  config.http.allow_private_targets =
      reader.Bool("LOYALTY_MEMBERS_WEBHOOK_ALLOW_PRIVATE_TARGETS", false);
  dispatcher.timeout = absl::Milliseconds(timeout_ms);
  dispatcher.backoff_initial = absl::Milliseconds(backoff_initial_ms);
  dispatcher.backoff_max = absl::Milliseconds(backoff_max_ms);
  config.http.timeout = dispatcher.timeout;
  if (!reader.status().ok()) return config;
  // One endpoint must never hold every worker, or a hanging one would stall the others.
  if (dispatcher.endpoint_concurrency >= dispatcher.workers) {
    return absl::InvalidArgumentError(
        "LOYALTY_MEMBERS_WEBHOOK_ENDPOINT_CONCURRENCY must be below "
        "LOYALTY_MEMBERS_WEBHOOK_WORKERS, so one endpoint can never occupy every worker");
  }
  if (backoff_max_ms < backoff_initial_ms) {
    return absl::InvalidArgumentError(
        "LOYALTY_MEMBERS_WEBHOOK_BACKOFF_MAX_MS must not be below "
        "LOYALTY_MEMBERS_WEBHOOK_BACKOFF_INITIAL_MS");
  }
  return config;
}

std::vector<std::pair<std::string, std::string>> WebhookConfigHelp() {
  return {{"LOYALTY_MEMBERS_WEBHOOK_WORKERS", "webhook attempts sent at once, 2-256 (default: 8)"},
          {"LOYALTY_MEMBERS_WEBHOOK_ENDPOINT_CONCURRENCY",
           "webhook attempts in flight per endpoint, below the workers (default: 2)"},
          {"LOYALTY_MEMBERS_WEBHOOK_TIMEOUT_MS",
           "one webhook attempt, connect to answer, 100-120000 (default: 10000)"},
          {"LOYALTY_MEMBERS_WEBHOOK_BACKOFF_INITIAL_MS",
           "pause after a first failed attempt, doubling after each (default: 5000)"},
          {"LOYALTY_MEMBERS_WEBHOOK_BACKOFF_MAX_MS",
           "longest pause between attempts (default: 3600000)"},
          {"LOYALTY_MEMBERS_WEBHOOK_MAX_ATTEMPTS",
           "attempts before a delivery is DEAD, 1-100 (default: 12)"},
          {"LOYALTY_MEMBERS_WEBHOOK_RETENTION_HOURS",
           "how long delivered, dead and cancelled deliveries are kept (default: 168)"},
          {"LOYALTY_MEMBERS_WEBHOOK_POLL_INTERVAL_MS",
           "how often due deliveries are looked for and own events fanned out (default: 1000)"},
          {"LOYALTY_MEMBERS_WEBHOOK_CA_FILE",
           "PEM file of CAs trusted for https endpoints besides the system's (default: none)"},
          {"LOYALTY_MEMBERS_WEBHOOK_ALLOW_PRIVATE_TARGETS",
           "true: also deliver to loopback, private and link-local addresses (default: false)"}};
}

}  // namespace loyalty::members
