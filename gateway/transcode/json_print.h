#pragma once

// How every answer is printed: the canonical proto3 JSON mapping (lowerCamelCase names, 64-bit
// integers as strings, enums by name, Timestamps in RFC 3339), with fields at their default value
// printed too. Mobile clients then always find `"marketingConsent": false` or
// `"qualifyingPoints": "0"` instead of having to know each field's default; grpc-gateway v2 made
// the same choice. Unset message fields (e.g. `nextTier` at the top of the ladder) stay absent.

#include <string>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"

namespace loyalty::gateway {

// The JSON text of `message`; INTERNAL only if protobuf cannot print it (an Any of an unknown
// type), which the callers treat as a bug.
absl::StatusOr<std::string> PrintJson(const google::protobuf::Message& message);

}  // namespace loyalty::gateway
