#pragma once

// HTTP requests and responses as the gateway's logic sees them, free of Boost.Beast types so the
// request pipeline can be tested without sockets.

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace loyalty::gateway {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  // As sent, e.g. "GET" (HTTP methods are case-sensitive).
  std::string method;
  // The request target: path and query, e.g. "/v1/programs/demo?view=full".
  std::string target;
  // Names in lower case, in the order received.
  HttpHeaders headers;
  std::string body;
  // "ip:port" of the peer, for logs.
  std::string peer;

  // The first value of header `name` (lower case), if any.
  std::optional<std::string_view> Header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
      if (key == name) return std::string_view(value);
    }
    return std::nullopt;
  }
  size_t HeaderCount(std::string_view name) const {
    size_t count = 0;
    for (const auto& [key, value] : headers) count += key == name ? 1 : 0;
    return count;
  }
};

struct HttpResponse {
  int status = 200;
  HttpHeaders headers;
  std::string body;
  // Close the connection after this response (the server also closes when the client asked to,
  // or while draining).
  bool close = false;
};

// Hands the response for one request back to the server. Called exactly once, from any thread.
using Responder = std::function<void(HttpResponse)>;

// Runs a piece of work on the server's worker threads (never inline).
using Executor = std::function<void(std::function<void()>)>;

}  // namespace loyalty::gateway
