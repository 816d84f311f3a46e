#pragma once

// Errors with machine-readable details, in absl terms so pure domain code can build them.
//
// An error carries, as absl::Status payloads, what the API returns to callers:
//   - a google.rpc.ErrorInfo: a stable UPPER_SNAKE `reason` plus metadata (AIP-193);
//   - for bad input, a google.rpc.BadRequest naming each offending field.
// ToGrpcStatus (grpc_status.h) turns them into grpc-status-details-bin; the ErrorInfo domain is
// filled in there, per service. Messages are for developers: ids, never personal data.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace loyalty {

// Payload type URLs, identical to the Any type URLs of the google.rpc detail messages.
inline constexpr std::string_view kErrorInfoTypeUrl = "type.googleapis.com/google.rpc.ErrorInfo";
inline constexpr std::string_view kBadRequestTypeUrl = "type.googleapis.com/google.rpc.BadRequest";

using ErrorMetadata = std::map<std::string, std::string>;

struct FieldViolation {
  // Path of the field in the request, proto names joined by '.', e.g. "profile.email".
  std::string field;
  // What is wrong with it, for developers.
  std::string description;
};

// A status with `code`, `message` and an ErrorInfo{reason, metadata}. `reason` must match
// [A-Z][A-Z0-9_]+[A-Z0-9] (checked). An OK code is a programmer error.
absl::Status ErrorWithReason(absl::StatusCode code, std::string_view reason,
                             std::string_view message, const ErrorMetadata& metadata = {});

// INVALID_ARGUMENT with ErrorInfo{reason} and a BadRequest holding one violation for `field`.
// The message reads "<field>: <description>".
absl::Status InvalidField(std::string_view field, std::string_view reason,
                          std::string_view description);

// INVALID_ARGUMENT listing several violations (reason applies to the whole request).
absl::Status InvalidFields(std::string_view reason, const std::vector<FieldViolation>& violations);

// The ErrorInfo reason carried by `status`, if any.
std::optional<std::string> ErrorReason(const absl::Status& status);

// The ErrorInfo metadata carried by `status` (empty if none).
ErrorMetadata ErrorMetadataOf(const absl::Status& status);

// The BadRequest field violations carried by `status` (empty if none).
std::vector<FieldViolation> FieldViolations(const absl::Status& status);

// "CODE REASON: message" for logs: the parts an operator reads, without the binary payloads
// that absl::Status::ToString prints.
std::string StatusSummary(const absl::Status& status);

}  // namespace loyalty
