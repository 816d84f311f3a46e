#pragma once

// The body of every unary gRPC method of our services, so the generated-service adapters stay
// three lines each:
//   - the caller's W3C traceparent (gRPC metadata) becomes the thread's trace context, so every
//     log line of the call carries its trace id; without one, a new trace starts;
//   - the handler's absl::Status becomes a grpc::Status with ErrorInfo (common/status);
//   - failures an operator must look at (INTERNAL, UNKNOWN, DATA_LOSS, UNAVAILABLE,
//     DEADLINE_EXCEEDED) are logged with the method and reason; client errors are not.

#include <functional>
#include <string_view>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "common/log/trace.h"
#include "common/status/grpc_status.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"

namespace loyalty::rpc {

// Trace context for the call: a child of the caller's, or a new trace.
log::TraceContext TraceContextFor(const grpc::ServerContextBase& context);

// Logs a failed call of `method` when it is the server's concern (see above).
void LogFailure(std::string_view method, const absl::Status& status);

// `method` names the RPC in logs (gRPC 1.51's sync ServerContext does not expose it).
template <typename Request, typename Response>
grpc::Status Unary(grpc::ServerContext* context, std::string_view method,
                   std::string_view error_domain, const Request& request, Response* response,
                   absl::FunctionRef<absl::StatusOr<Response>(const Request&)> handler) {
  log::ScopedTraceContext trace(TraceContextFor(*context));
  absl::StatusOr<Response> result = handler(request);
  if (!result.ok()) {
    LogFailure(method, result.status());
    return ToGrpcStatus(result.status(), error_domain);
  }
  *response = *std::move(result);
  return grpc::Status::OK;
}

// The same for a method served with gRPC's callback API, for handlers that answer later from
// another thread (e.g. after a group commit) instead of holding a server thread meanwhile.
// `handler` gets the request and a callback to call exactly once with the answer; the trace
// context covers the handler's synchronous part.
template <typename Request, typename Response>
grpc::ServerUnaryReactor* AsyncUnary(
    grpc::CallbackServerContext* context, std::string_view method, std::string_view error_domain,
    const Request& request, Response* response,
    absl::FunctionRef<void(const Request&, std::function<void(absl::StatusOr<Response>)>)>
        handler) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  log::ScopedTraceContext trace(TraceContextFor(*context));
  handler(request, [reactor, response, method, error_domain](absl::StatusOr<Response> result) {
    if (!result.ok()) {
      LogFailure(method, result.status());
      reactor->Finish(ToGrpcStatus(result.status(), error_domain));
      return;
    }
    *response = *std::move(result);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

}  // namespace loyalty::rpc
