#pragma once

// What a webhook request carries (docs/webhooks.md), following the Standard Webhooks
// specification (standardwebhooks.com): the body built from an event once, when the delivery is
// queued, and the signature computed afresh for each attempt.
//
//   webhook-id:        the event id (the same on every attempt: receivers dedupe on it)
//   webhook-timestamp: unix seconds of the attempt
//   webhook-signature: "v1," + base64(HMAC-SHA256(key, id + "." + timestamp + "." + body)),
//                      key being the base64-decoded part of the secret after "whsec_"

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "loyalty/events/v1/events.pb.h"

namespace loyalty::members {

inline constexpr std::string_view kWebhookSecretPrefix = "whsec_";
inline constexpr size_t kWebhookSecretBytes = 32;

// "whsec_" + base64 of 32 bytes from OpenSSL's CSPRNG. Aborts if the CSPRNG fails.
std::string NewWebhookSecret();

// The request body for `event`:
//   {"id":…,"type":…,"program":…,"occurredAt":"<RFC 3339>","data":<the payload JSON as stored>}
// The payload is embedded byte for byte; the other values are JSON-escaped.
std::string WebhookBody(const events::v1::Event& event);

// The webhook-signature header value. INVALID_ARGUMENT when `secret` is not "whsec_" + base64.
absl::StatusOr<std::string> WebhookSignature(std::string_view secret, std::string_view id,
                                             int64_t timestamp, std::string_view body);

}  // namespace loyalty::members
