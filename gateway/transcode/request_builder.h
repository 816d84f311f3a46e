#pragma once

// HTTP request -> proto request message, per the route's google.api.http rule:
//   - the JSON body (the whole message for body "*", one field for body "<field>") is read with
//     protobuf's own JSON parser in the canonical proto3 mapping, unknown fields rejected;
//   - the remaining query parameters set fields by name (proto or lowerCamelCase JSON name, dotted
//     for nested fields: `profile.email=...`, `updateMask=displayName,email`);
//   - path variables are applied last, so the path, which authorisation looked at, always wins
//     over a body that names the same field.
//
// Every rejection is INVALID_ARGUMENT built with common/status/error.h, carrying an ErrorInfo
// reason and, when a field is to blame, a BadRequest naming it by proto names ("profile.email"),
// as the services name fields in their own errors.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gateway/http/router.h"
#include "google/protobuf/message.h"

namespace loyalty::gateway {

// ErrorInfo reasons of the request builder.
inline constexpr std::string_view kReasonMalformedJson = "MALFORMED_JSON";
inline constexpr std::string_view kReasonUnknownField = "UNKNOWN_FIELD";
inline constexpr std::string_view kReasonInvalidFieldValue = "INVALID_FIELD_VALUE";
inline constexpr std::string_view kReasonMalformedQuery = "MALFORMED_QUERY";
inline constexpr std::string_view kReasonUnexpectedBody = "UNEXPECTED_BODY";

// More parameters than this in one query string are refused rather than bound one by one.
inline constexpr size_t kQueryParametersMax = 64;

struct QueryParameter {
  std::string name;
  std::string value;
};

// Splits an application/x-www-form-urlencoded query ("a=1&b=x+y&c=%2F"): '+' is a space, escapes
// are decoded, empty pieces ("a=1&&b=2") are skipped and a name without '=' has an empty value.
// INVALID_ARGUMENT (MALFORMED_QUERY) for a bad escape, an empty name or more than
// kQueryParametersMax parameters.
absl::StatusOr<std::vector<QueryParameter>> ParseQuery(std::string_view query);

// Sets the leaf field at the end of `path` in `message` from `text`, creating the messages on the
// way; a repeated leaf gets `text` appended. Scalars take their usual text form (decimal integers
// in range, "true"/"false"/"1"/"0", floating point, base64 for bytes, valid UTF-8 for strings),
// enums their value name or a defined number; of the message types, the well-known ones with a
// JSON string form (Timestamp, Duration, FieldMask) and the wrapper types. INVALID_ARGUMENT
// (INVALID_FIELD_VALUE) naming the field otherwise.
absl::Status SetFieldFromText(google::protobuf::Message& message, const FieldPath& path,
                              std::string_view text);

// Parses `json` into `message` (replacing its contents) as protobuf's JSON parser does: through
// json_parse.h's fast path when it can, with protobuf's parser otherwise, to the same result.
// Errors, always protobuf's, name fields relative to the request: `field_prefix` ("profile") is
// put in front of what protobuf reports inside `message`. Returns INVALID_ARGUMENT with reason
// MALFORMED_JSON (not JSON, or not an object), UNKNOWN_FIELD or INVALID_FIELD_VALUE (a wrong type
// or value).
absl::Status ParseJsonInto(std::string_view json, google::protobuf::Message& message,
                           std::string_view field_prefix);

// Builds `request` (empty, of the route's input type) from the matched route, its path values,
// the raw query string (without '?') and the body. An empty body on a body route reads as "{}".
// A body on a route that takes none is UNEXPECTED_BODY; a query parameter on a body "*" route,
// or one naming a field that the path or the body binds, is UNKNOWN_FIELD.
absl::Status BuildRequest(const RouteMatch& match, std::string_view query, std::string_view body,
                          google::protobuf::Message& request);

// Whether `text` is well-formed UTF-8 (no overlong forms, surrogates or code points above
// U+10FFFF), which protobuf requires of every proto3 string field.
bool IsValidUtf8(std::string_view text);

}  // namespace loyalty::gateway
