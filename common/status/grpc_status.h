#pragma once

// The one conversion between absl::Status and grpc::Status.
//
// absl::StatusCode and grpc::StatusCode both mirror google.rpc.Code, so codes cast exactly. The
// error details (ErrorInfo, BadRequest payloads, see error.h) travel as a serialized
// google.rpc.Status in grpc-status-details-bin, the form every gRPC client library and the
// gateway understand. Every non-OK status leaves with an ErrorInfo: one without a reason gets a
// generic reason derived from its code, so clients can always switch on (reason, domain).

#include <string_view>

#include "absl/status/status.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/support/status.h"

namespace loyalty {

// `domain` is the ErrorInfo domain of the calling service, e.g. "members.loyalty".
grpc::Status ToGrpcStatus(const absl::Status& status, std::string_view domain);

// The inverse, for clients of our services: details become payloads again.
absl::Status FromGrpcStatus(const grpc::Status& status);

// The same conversions for an error carried inside a response (a batch RPC's per-item outcome):
// the google.rpc.Status that ToGrpcStatus would send as details, and back. OK maps to an empty
// google.rpc.Status (code 0) and back.
google::rpc::Status ToRpcStatus(const absl::Status& status, std::string_view domain);
absl::Status FromRpcStatus(const google::rpc::Status& status);

}  // namespace loyalty
