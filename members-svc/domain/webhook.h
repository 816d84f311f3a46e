#pragma once

// Webhooks for merchant systems (docs/webhooks.md): the pure rules. What an endpoint URL may be,
// which event types it may ask for, and when a failed delivery is attempted again.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace loyalty::members {

inline constexpr size_t kWebhookUrlLengthMax = 2048;
inline constexpr size_t kWebhookEventTypesMax = 64;
inline constexpr size_t kWebhookDescriptionCharsMax = 500;

// Matches loyalty.members.v1.WebhookState.
enum class WebhookState : int { kActive = 1, kDisabled = 2 };
// Matches loyalty.members.v1.DeliveryState.
enum class DeliveryState : int { kPending = 1, kDelivered = 2, kDead = 3, kCancelled = 4 };

// An endpoint URL taken apart for the HTTP client.
struct WebhookUrl {
  bool tls = false;  // https
  // Host name or IP address, without the brackets of an IPv6 literal.
  std::string host;
  int port = 0;  // The scheme's default when the URL names none.
  // Path and query, "/" when the URL has no path.
  std::string target;
};

// Parses an endpoint URL: http or https (case-insensitive), a host, an optional port 1-65535,
// no user info, no fragment, no spaces or control characters, at most kWebhookUrlLengthMax
// characters. INVALID_ARGUMENT for `field` with reason FIELD_REQUIRED when empty, else
// INVALID_WEBHOOK_URL (the description says what is wrong, never echoing the URL).
absl::StatusOr<WebhookUrl> ParseWebhookUrl(std::string_view url, std::string_view field);

// The requested event types without duplicates, in the order given. INVALID_ARGUMENT for
// `field` with reason EVENT_TYPES_REQUIRED when empty, TOO_MANY_EVENT_TYPES above
// kWebhookEventTypesMax, UNKNOWN_EVENT_TYPE for a name not in `known`.
absl::StatusOr<std::vector<std::string>> NormalizeEventTypes(
    const std::vector<std::string>& requested, const absl::flat_hash_set<std::string>& known,
    std::string_view field);

// The pause before attempt `attempts + 1` after `attempts` (>= 1) failed: initial * 2^(attempts-1),
// capped at `max`, less up to a fifth of it by `jitter` (in [0, 1)), so endpoints that failed
// together are not all retried in the same instant. Never above `max`.
absl::Duration RetryDelay(int attempts, absl::Duration initial, absl::Duration max, double jitter);

struct AttemptOutcome {
  DeliveryState state = DeliveryState::kPending;
  // When PENDING: when the next attempt is due.
  absl::Time next_attempt_time;
};

// What follows attempt number `attempts` (>= 1), which ended at `now`: DELIVERED when it
// succeeded, DEAD when it failed and was the last of `max_attempts`, else PENDING again after
// RetryDelay.
AttemptOutcome OutcomeOf(bool succeeded, int attempts, int max_attempts, absl::Time now,
                         absl::Duration backoff_initial, absl::Duration backoff_max, double jitter);

}  // namespace loyalty::members
