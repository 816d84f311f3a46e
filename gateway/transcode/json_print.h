#pragma once

// How every answer is printed: the canonical proto3 JSON mapping (lowerCamelCase names, 64-bit
// integers as strings, enums by name, Timestamps in RFC 3339), with fields at their default value
// printed too. Mobile clients then always find `"marketingConsent": false` or
// `"qualifyingPoints": "0"` instead of having to know each field's default; grpc-gateway v2 made
// the same choice. Unset message fields (e.g. `nextTier` at the top of the ladder) stay absent.
//
// protobuf's printer (util::MessageToJsonString) serialises the message, rebuilds a type
// description of every message in it, parses the bytes back and builds a tree of default values:
// profiling scripts/bench-gateway showed it taking a quarter of the gateway's CPU on the purchase
// route. Most answers hold only integers, booleans, enums, plain strings, nested messages and
// Timestamps, which a walk over the message by reflection prints in a fraction of the time. Such
// messages take that fast path, and everything else (maps, oneofs, floating point, bytes, the
// other well-known types, strings protobuf would escape, unknown enum values) goes to protobuf's
// printer, so the text is byte for byte what protobuf prints either way (json_print_test checks
// it for every message of every linked service).

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"

namespace loyalty::gateway {

// The JSON text of `message`; INTERNAL only if protobuf cannot print it (an Any of an unknown
// type), which the callers treat as a bug.
absl::StatusOr<std::string> PrintJson(const google::protobuf::Message& message);

// The fast path alone: the JSON text, or nullopt when `message` holds something it leaves to
// protobuf's printer. For tests; callers use PrintJson.
std::optional<std::string> PrintJsonFastPath(const google::protobuf::Message& message);

}  // namespace loyalty::gateway
