#include "gateway/testing/http_client.h"

#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"

namespace loyalty::gateway::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

namespace {

// A test waits at most this long for an answer.
constexpr int kReceiveTimeoutMs = 15000;

}  // namespace

struct HttpClient::Connection {
  net::io_context ioc;
  tcp::socket socket{ioc};
  beast::flat_buffer buffer;
  bool open = false;
};

HttpClient::HttpClient(std::string host, int port) : host_(std::move(host)), port_(port) {}
HttpClient::~HttpClient() { Close(); }

bool HttpClient::connected() const { return connection_ != nullptr && connection_->open; }

void HttpClient::Close() {
  if (connection_ == nullptr) return;
  beast::error_code ignored;
  connection_->socket.shutdown(tcp::socket::shutdown_both, ignored);
  connection_->socket.close(ignored);
  connection_.reset();
}

absl::Status HttpClient::Connect() {
  if (connected()) return absl::OkStatus();
  Close();
  connection_ = std::make_unique<Connection>();
  beast::error_code ec;
  const tcp::endpoint endpoint(net::ip::make_address(host_, ec),
                               static_cast<unsigned short>(port_));
  if (ec) return absl::InvalidArgumentError(ec.message());
  connection_->socket.connect(endpoint, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("connect: ", ec.message()));
  const timeval timeout{kReceiveTimeoutMs / 1000, 0};
  setsockopt(connection_->socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout,
             sizeof(timeout));
  connection_->open = true;
  return absl::OkStatus();
}

absl::StatusOr<ClientResponse> HttpClient::Read() {
  beast::error_code ec;
  http::response_parser<http::string_body> parser;
  parser.body_limit(16 * 1024 * 1024);
  http::read(connection_->socket, connection_->buffer, parser, ec);
  if (ec) {
    connection_->open = false;
    return absl::UnavailableError(absl::StrCat("read: ", ec.message()));
  }
  const auto& message = parser.get();
  ClientResponse response;
  response.status = static_cast<int>(message.result_int());
  for (const auto& field : message) {
    response.headers[absl::AsciiStrToLower(std::string(field.name_string()))] =
        std::string(field.value());
  }
  response.body = message.body();
  response.close = !message.keep_alive();
  if (response.close) connection_->open = false;
  return response;
}

absl::StatusOr<ClientResponse> HttpClient::Send(
    const std::string& method, const std::string& target,
    const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body) {
  if (absl::Status status = Connect(); !status.ok()) return status;
  http::request<http::string_body> request;
  request.method_string(method);
  request.target(target);
  request.version(11);
  request.set(http::field::host, absl::StrCat(host_, ":", port_));
  bool content_type = false;
  for (const auto& [name, value] : headers) {
    request.insert(name, value);
    if (absl::EqualsIgnoreCase(name, "content-type")) content_type = true;
  }
  if (!body.empty() && !content_type) request.set(http::field::content_type, "application/json");
  request.body() = body;
  request.prepare_payload();
  beast::error_code ec;
  http::write(connection_->socket, request, ec);
  if (ec) {
    connection_->open = false;
    return absl::UnavailableError(absl::StrCat("write: ", ec.message()));
  }
  return Read();
}

absl::StatusOr<ClientResponse> HttpClient::SendRaw(const std::string& bytes) {
  if (absl::Status status = Connect(); !status.ok()) return status;
  beast::error_code ec;
  net::write(connection_->socket, net::buffer(bytes), ec);
  if (ec) {
    connection_->open = false;
    return absl::UnavailableError(absl::StrCat("write: ", ec.message()));
  }
  return Read();
}

}  // namespace loyalty::gateway::testing
