#include "members-svc/domain/webhook.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status/error.h"

namespace loyalty::members {
namespace {

constexpr std::string_view kInvalidUrl = "INVALID_WEBHOOK_URL";

absl::string_view Absl(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

}  // namespace

absl::StatusOr<WebhookUrl> ParseWebhookUrl(std::string_view url, std::string_view field) {
  if (url.empty()) return InvalidField(field, "FIELD_REQUIRED", "the endpoint URL is required");
  if (url.size() > kWebhookUrlLengthMax) {
    return InvalidField(field, kInvalidUrl,
                        absl::StrCat("longer than ", kWebhookUrlLengthMax, " characters"));
  }
  for (const char c : url) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7f) {
      return InvalidField(field, kInvalidUrl,
                          "spaces, control and non-ASCII characters must be percent-encoded");
    }
  }
  WebhookUrl parsed;
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    return InvalidField(field, kInvalidUrl, "not an absolute http or https URL");
  }
  const std::string scheme = absl::AsciiStrToLower(Absl(url.substr(0, scheme_end)));
  if (scheme == "https") {
    parsed.tls = true;
    parsed.port = 443;
  } else if (scheme == "http") {
    parsed.port = 80;
  } else {
    return InvalidField(field, kInvalidUrl, "the scheme must be http or https");
  }
  std::string_view rest = url.substr(scheme_end + 3);
  if (rest.find('#') != std::string_view::npos) {
    return InvalidField(field, kInvalidUrl, "a fragment is never sent; remove it");
  }
  const size_t authority_end = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, authority_end);
  parsed.target =
      authority_end == std::string_view::npos ? "/" : std::string(rest.substr(authority_end));
  if (parsed.target.front() == '?') parsed.target.insert(0, "/");
  if (authority.find('@') != std::string_view::npos) {
    return InvalidField(field, kInvalidUrl, "user info (user:password@) is not allowed");
  }
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return InvalidField(field, kInvalidUrl, "an IPv6 address lacks its closing bracket");
    }
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return InvalidField(field, kInvalidUrl, "bad text after the host");
      port = after.substr(1);
    }
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return InvalidField(field, kInvalidUrl, "a host is required");
  parsed.host = std::string(host);
  if (!port.empty()) {
    int number = 0;
    if (!std::all_of(port.begin(), port.end(), absl::ascii_isdigit) || port.size() > 5 ||
        !absl::SimpleAtoi(Absl(port), &number) || number < 1 || number > 65535) {
      return InvalidField(field, kInvalidUrl, "the port must be a number from 1 to 65535");
    }
    parsed.port = number;
  }
  return parsed;
}

absl::StatusOr<std::vector<std::string>> NormalizeEventTypes(
    const std::vector<std::string>& requested, const absl::flat_hash_set<std::string>& known,
    std::string_view field) {
  if (requested.empty()) {
    return InvalidField(field, "EVENT_TYPES_REQUIRED", "at least one event type is required");
  }
  if (requested.size() > kWebhookEventTypesMax) {
    return InvalidField(field, "TOO_MANY_EVENT_TYPES",
                        absl::StrCat("at most ", kWebhookEventTypesMax, " event types"));
  }
  std::vector<std::string> types;
  for (size_t i = 0; i < requested.size(); ++i) {
    if (!known.contains(requested[i])) {
      // The index, not the value: an error never echoes input.
      return InvalidField(field, "UNKNOWN_EVENT_TYPE",
                          absl::StrCat("entry ", i,
                                       " is not a known event type (full names such as "
                                       "loyalty.points.v1.PointsEarned; docs/webhooks.md)"));
    }
    if (std::find(types.begin(), types.end(), requested[i]) == types.end()) {
      types.push_back(requested[i]);
    }
  }
  return types;
}

absl::Duration RetryDelay(int attempts, absl::Duration initial, absl::Duration max, double jitter) {
  absl::Duration delay = initial;
  for (int i = 1; i < attempts && delay < max; ++i) delay *= 2;
  delay = std::min(delay, max);
  return delay - delay * (std::clamp(jitter, 0.0, 1.0) / 5);
}

AttemptOutcome OutcomeOf(bool succeeded, int attempts, int max_attempts, absl::Time now,
                         absl::Duration backoff_initial, absl::Duration backoff_max,
                         double jitter) {
  if (succeeded) return {.state = DeliveryState::kDelivered, .next_attempt_time = now};
  if (attempts >= max_attempts) return {.state = DeliveryState::kDead, .next_attempt_time = now};
  return {.state = DeliveryState::kPending,
          .next_attempt_time = now + RetryDelay(attempts, backoff_initial, backoff_max, jitter)};
}

}  // namespace loyalty::members
