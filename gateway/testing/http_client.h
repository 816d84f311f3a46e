#pragma once

// A small synchronous HTTP/1.1 client on Boost.Beast for the gateway's tests: one keep-alive
// connection, reopened when the server closed it, with a receive timeout so a test never hangs.

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace loyalty::gateway::testing {

struct ClientResponse {
  int status = 0;
  // Names in lower case; a repeated header keeps its last value.
  std::map<std::string, std::string> headers;
  std::string body;
  // The server asked to close the connection.
  bool close = false;

  std::string Header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

class HttpClient {
 public:
  HttpClient(std::string host, int port);
  ~HttpClient();

  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request and reads its response. A JSON body gets content-type application/json
  // unless `headers` names another. UNAVAILABLE when the connection fails.
  absl::StatusOr<ClientResponse> Send(
      const std::string& method, const std::string& target,
      const std::vector<std::pair<std::string, std::string>>& headers = {},
      const std::string& body = "");

  // Writes `bytes` as they are and reads one response (for malformed requests).
  absl::StatusOr<ClientResponse> SendRaw(const std::string& bytes);

  // Whether the current connection is open (false after the server closed it and we noticed).
  bool connected() const;
  void Close();

  struct Connection;

 private:
  absl::Status Connect();
  absl::StatusOr<ClientResponse> Read();

  std::string host_;
  int port_;
  std::unique_ptr<Connection> connection_;
};

}  // namespace loyalty::gateway::testing
