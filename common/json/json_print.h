#pragma once

// Canonical proto3 JSON (lowerCamelCase names, 64-bit integers as strings, enums by name,
// Timestamps in RFC 3339), byte for byte what protobuf's util::MessageToJsonString prints with the
// same options, in a fraction of its time.
//
// protobuf's printer serialises the message, rebuilds a type description of every message in it,
// parses the bytes back and, when defaults are printed, builds a tree of default values:
// profiling showed it taking a quarter of the gateway's CPU on the purchase route and a tenth of
// points-svc's (the PointsEarned event of every purchase). Most of our messages hold only
// integers, booleans, enums, plain strings, nested messages and Timestamps, which a walk over the
// message by reflection prints directly. Such messages take that fast path, and everything else
// (maps, oneofs, floating point, bytes, the other well-known types, strings protobuf would
// escape, unknown enum values) goes to protobuf's printer, so the text is the same either way
// (json_print_test checks it for every message of every service, in both styles).

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"

namespace loyalty::json {

struct PrintOptions {
  // Print fields at their default value too (protobuf's always_print_primitive_fields): the
  // gateway's answers, so that clients find `"qualifyingPoints": "0"` without knowing defaults.
  // Unset message fields stay absent either way. Without it, as in event payloads, only fields
  // that differ from their default are printed, in field number order.
  bool print_defaults = false;
};

// The JSON text of `message`; INTERNAL only if protobuf cannot print it (an Any of an unknown
// type), which the callers treat as a bug.
absl::StatusOr<std::string> PrintJson(const google::protobuf::Message& message,
                                      PrintOptions options = {});

// The fast path alone: the JSON text, or nullopt when `message` holds something it leaves to
// protobuf's printer. For tests; callers use PrintJson.
std::optional<std::string> PrintJsonFastPath(const google::protobuf::Message& message,
                                             PrintOptions options = {});

}  // namespace loyalty::json
