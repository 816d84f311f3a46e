#pragma once

// What a handler reads from the incoming call, before it leaves the gRPC layer.

#include <cstddef>
#include <optional>
#include <string>

#include "grpcpp/server_context.h"

namespace loyalty::server {

// The largest traceparent value passed on. Version 00 is 55 characters; later versions may only
// append fields, and this leaves them room while bounding what a caller can make us copy and log.
inline constexpr size_t kTraceParentSizeMax = 512;

// The W3C traceparent the caller sent in metadata key "traceparent", unvalidated; nullopt when
// absent or longer than kTraceParentSizeMax.
std::optional<std::string> IncomingTraceParent(const grpc::ServerContextBase& context);

}  // namespace loyalty::server
