#pragma once

// members-svc's webhook variables (docs/configuration.md), read and checked at start:
//
//   LOYALTY_MEMBERS_WEBHOOK_WORKERS               attempts sent at once (2-256, default 8)
//   LOYALTY_MEMBERS_WEBHOOK_ENDPOINT_CONCURRENCY  attempts in flight per endpoint (1..workers-1,
//                                                 default 2)
//   LOYALTY_MEMBERS_WEBHOOK_TIMEOUT_MS            one attempt, connect to status line (default 10
//   s) LOYALTY_MEMBERS_WEBHOOK_BACKOFF_INITIAL_MS    pause after the first failure (default 5 s)
//   LOYALTY_MEMBERS_WEBHOOK_BACKOFF_MAX_MS        longest pause (default 1 h)
//   LOYALTY_MEMBERS_WEBHOOK_MAX_ATTEMPTS          attempts before DEAD (1-100, default 12)
//   LOYALTY_MEMBERS_WEBHOOK_RETENTION_HOURS       finished deliveries kept (default 168)
//   LOYALTY_MEMBERS_WEBHOOK_POLL_INTERVAL_MS      how often due deliveries are looked for and
//                                                 own events fanned out (default 1000)
//   LOYALTY_MEMBERS_WEBHOOK_CA_FILE               extra trusted CAs (PEM), besides the system's

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/config/env.h"
#include "members-svc/rpc/webhook_dispatcher.h"
#include "members-svc/rpc/webhook_http.h"

namespace loyalty::members {

struct WebhookConfig {
  WebhookDispatcherOptions dispatcher;
  WebhookHttpOptions http;
  absl::Duration retention = absl::Hours(168);
};

// Reads the variables above; a bad value is recorded in `reader` (the defaults are returned then),
// and INVALID_ARGUMENT says which two variables disagree.
absl::StatusOr<WebhookConfig> ReadWebhookConfig(config::EnvReader& reader);
// The same variables for --help: name and description.
std::vector<std::pair<std::string, std::string>> WebhookConfigHelp();

}  // namespace loyalty::members
