#pragma once

// How every answer is printed: the canonical proto3 JSON mapping with fields at their default
// value printed too (common/json/json_print.h). Mobile clients then always find
// `"marketingConsent": false` or `"qualifyingPoints": "0"` instead of having to know each field's
// default; grpc-gateway v2 made the same choice. Unset message fields (e.g. `nextTier` at the top
// of the ladder) stay absent.

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/json/json_print.h"
#include "google/protobuf/message.h"

namespace loyalty::gateway {

inline constexpr json::PrintOptions kAnswerJson{.print_defaults = true};

// The JSON text of `message`; INTERNAL only if protobuf cannot print it (an Any of an unknown
// type), which the callers treat as a bug.
inline absl::StatusOr<std::string> PrintJson(const google::protobuf::Message& message) {
  return json::PrintJson(message, kAnswerJson);
}

// The fast path alone. For tests; callers use PrintJson.
inline std::optional<std::string> PrintJsonFastPath(const google::protobuf::Message& message) {
  return json::PrintJsonFastPath(message, kAnswerJson);
}

}  // namespace loyalty::gateway
