#include "common/server/request_context.h"

#include <optional>
#include <string>

#include "grpcpp/server_context.h"

namespace loyalty::server {

std::optional<std::string> IncomingTraceParent(const grpc::ServerContextBase& context) {
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find("traceparent");
  if (it == metadata.end() || it->second.size() > kTraceParentSizeMax) return std::nullopt;
  return std::string(it->second.data(), it->second.size());
}

}  // namespace loyalty::server
