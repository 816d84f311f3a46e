#include "common/rpc/unary.h"

#include <string>

#include "common/log/log.h"
#include "common/server/request_context.h"
#include "common/status/error.h"

namespace loyalty::rpc {

log::TraceContext TraceContextFor(const grpc::ServerContextBase& context) {
  if (std::optional<std::string> header = server::IncomingTraceParent(context); header) {
    if (std::optional<log::TraceContext> parent = log::ParseTraceParent(*header); parent) {
      return log::ChildOf(*parent);
    }
  }
  return log::NewTraceContext();
}

void LogFailure(std::string_view method, const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      break;
    default:
      return;
  }
  // The message names queries and ids, never personal data (common/status/error.h).
  log::Error("call failed", {{"method", method}, {"error", StatusSummary(status)}});
}

}  // namespace loyalty::rpc
