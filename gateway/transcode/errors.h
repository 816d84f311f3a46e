#pragma once

// gRPC status -> HTTP error, in exactly one place (CONVENTIONS rule 3).
//
// Every error body is the JSON form of google.rpc.Status, {"code", "message", "details"}, with
// the details the service attached (ErrorInfo with its reason and domain, BadRequest naming the
// field), so a client switches on the same (reason, domain) whether it speaks gRPC or REST. The
// HTTP status follows the "HTTP Mapping" comments of googleapis google/rpc/code.proto.
//
// What must not leak is replaced: INTERNAL, UNKNOWN and DATA_LOSS answers keep only a generic
// message and the trace id (operators find the real error in the logs by it), and a status the
// gRPC library made up itself (no details: connection refused, deadline hit in transit) never
// shows its text, which names internal addresses. One of those is re-coded: RESOURCE_EXHAUSTED
// without details is a service's own thread quota refusing the call, not the client's quota, so
// it becomes 503 UPSTREAM_OVERLOADED (code UNAVAILABLE) with Retry-After rather than a 429.

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/support/status.h"

namespace loyalty::gateway {

// ErrorInfo domain of the errors the gateway raises itself.
inline constexpr std::string_view kGatewayErrorDomain = "gateway.loyalty";

// ErrorInfo reasons the gateway raises (besides those of the request builder).
inline constexpr std::string_view kReasonRouteNotFound = "ROUTE_NOT_FOUND";
inline constexpr std::string_view kReasonMethodNotAllowed = "METHOD_NOT_ALLOWED";
inline constexpr std::string_view kReasonUnauthenticated = "UNAUTHENTICATED";
inline constexpr std::string_view kReasonPermissionDenied = "PERMISSION_DENIED";
inline constexpr std::string_view kReasonResourceNotFound = "RESOURCE_NOT_FOUND";
inline constexpr std::string_view kReasonBodyTooLarge = "BODY_TOO_LARGE";
inline constexpr std::string_view kReasonHeadersTooLarge = "HEADERS_TOO_LARGE";
inline constexpr std::string_view kReasonMalformedRequest = "MALFORMED_REQUEST";
inline constexpr std::string_view kReasonUnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE";
inline constexpr std::string_view kReasonRateLimited = "RATE_LIMITED";
inline constexpr std::string_view kReasonIdempotencyKeyRequired = "IDEMPOTENCY_KEY_REQUIRED";
inline constexpr std::string_view kReasonOverloaded = "OVERLOADED";
inline constexpr std::string_view kReasonRequestTimeout = "REQUEST_TIMEOUT";
inline constexpr std::string_view kReasonInternal = "INTERNAL";
inline constexpr std::string_view kReasonUpstreamUnavailable = "UPSTREAM_UNAVAILABLE";
inline constexpr std::string_view kReasonUpstreamDeadlineExceeded = "UPSTREAM_DEADLINE_EXCEEDED";
inline constexpr std::string_view kReasonUpstreamError = "UPSTREAM_ERROR";
inline constexpr std::string_view kReasonUpstreamNotConfigured = "UPSTREAM_NOT_CONFIGURED";
inline constexpr std::string_view kReasonUpstreamOverloaded = "UPSTREAM_OVERLOADED";

// The HTTP status for a canonical code: OK 200, INVALID_ARGUMENT / FAILED_PRECONDITION /
// OUT_OF_RANGE 400, UNAUTHENTICATED 401, PERMISSION_DENIED 403, NOT_FOUND 404, ALREADY_EXISTS /
// ABORTED 409, RESOURCE_EXHAUSTED 429, CANCELLED 499, UNIMPLEMENTED 501, UNAVAILABLE 503,
// DEADLINE_EXCEEDED 504, INTERNAL / UNKNOWN / DATA_LOSS and anything else 500.
int HttpStatusFromCode(grpc::StatusCode code);

struct ErrorReply {
  int http_status = 500;
  // The JSON form of `status`.
  std::string body;
  google::rpc::Status status;
  // When positive, the answer's Retry-After: the failure is the service's momentary state.
  int retry_after_seconds = 0;
};

// The reply for a failed upstream call of `upstream` ("members"); see the header comment.
// `trace_id` goes into the generic INTERNAL answer.
ErrorReply UpstreamErrorReply(const grpc::Status& status, std::string_view upstream,
                              std::string_view trace_id);

// The reply for an error the gateway raised itself, built with common/status/error.h
// (ErrorWithReason, InvalidField); its ErrorInfo gets the domain gateway.loyalty. `http_status`
// overrides the mapped one where HTTP has a more precise answer than the code (413, 415, 405,
// 431); 0 maps from the code.
ErrorReply GatewayErrorReply(const absl::Status& status, int http_status = 0);

// The JSON form of `status`. Details of a type this binary does not know cannot be printed and
// are dropped rather than failing the whole answer.
std::string StatusToJson(const google::rpc::Status& status);

}  // namespace loyalty::gateway
