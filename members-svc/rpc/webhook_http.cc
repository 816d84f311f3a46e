#include "members-svc/rpc/webhook_http.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/ssl.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "boost/beast/ssl.hpp"

namespace loyalty::members {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// How often a request in progress looks at its cancellation flag.
constexpr absl::Duration kCancelCheckInterval = absl::Milliseconds(20);

std::string HostHeader(const WebhookUrl& url) {
  const bool v6 = url.host.find(':') != std::string::npos;
  const std::string host = v6 ? absl::StrCat("[", url.host, "]") : url.host;
  const int default_port = url.tls ? 443 : 80;
  return url.port == default_port ? host : absl::StrCat(host, ":", url.port);
}

bool IsPublicV4(const asio::ip::address_v4& address) {
  const uint32_t a = address.to_uint();
  // (network, prefix length) of every block that is not public.
  constexpr std::pair<uint32_t, int> kBlocked[] = {
      {0x00000000, 8},   // 0.0.0.0/8 "this network"
      {0x0A000000, 8},   // 10.0.0.0/8 private
      {0x64400000, 10},  // 100.64.0.0/10 carrier-grade NAT
      {0x7F000000, 8},   // 127.0.0.0/8 loopback
      {0xA9FE0000, 16},  // 169.254.0.0/16 link-local, cloud metadata
      {0xAC100000, 12},  // 172.16.0.0/12 private
      {0xC0000000, 24},  // 192.0.0.0/24 IETF protocol assignments
      {0xC0000200, 24},  // 192.0.2.0/24 documentation
      {0xC0A80000, 16},  // 192.168.0.0/16 private
      {0xC6120000, 15},  // 198.18.0.0/15 benchmarking
      {0xC6336400, 24},  // 198.51.100.0/24 documentation
      {0xCB007100, 24},  // 203.0.113.0/24 documentation
      {0xE0000000, 4},   // 224.0.0.0/4 multicast
      {0xF0000000, 4},   // 240.0.0.0/4 reserved, broadcast
  };
  for (const auto& [network, length] : kBlocked) {
    const uint32_t mask = ~uint32_t{0} << (32 - length);
    if ((a & mask) == network) return false;
  }
  return true;
}

}  // namespace

bool IsPublicAddress(const asio::ip::address& address) {
  if (address.is_v4()) return IsPublicV4(address.to_v4());
  const asio::ip::address_v6 v6 = address.to_v6();
  const asio::ip::address_v6::bytes_type bytes = v6.to_bytes();
  if (v6.is_v4_mapped()) return IsPublicV4(asio::ip::make_address_v4(asio::ip::v4_mapped, v6));
  // 64:ff9b::/96, NAT64: the last four bytes are the IPv4 address it reaches.
  constexpr uint8_t kNat64[12] = {0x00, 0x64, 0xff, 0x9b};
  if (std::equal(bytes.begin(), bytes.begin() + 12, std::begin(kNat64))) {
    return IsPublicV4(asio::ip::address_v4({bytes[12], bytes[13], bytes[14], bytes[15]}));
  }
  if (v6.is_unspecified() || v6.is_loopback() || v6.is_multicast() || v6.is_link_local() ||
      v6.is_site_local()) {
    return false;
  }
  if ((bytes[0] & 0xfe) == 0xfc) return false;  // fc00::/7 unique local
  if (bytes[0] == 0x20 && bytes[1] == 0x01 && bytes[2] == 0x0d && bytes[3] == 0xb8) {
    return false;  // 2001:db8::/32 documentation
  }
  return true;
}

namespace {

// One exchange on `stream` (tcp_stream or ssl_stream over it), driven by the caller's
// io_context. Every step ends in Finish on error; `outcome` holds the status once the header is in.
template <typename Stream>
class Exchange {
 public:
  Exchange(asio::io_context& io, Stream& stream, const WebhookUrl& url,
           http::request<http::string_body>& request, bool allow_private_targets)
      : resolver_(io),
        stream_(stream),
        url_(url),
        request_(request),
        allow_private_targets_(allow_private_targets) {
    parser_.body_limit(WebhookHttpClient::kResponseBodyMax);
  }

  void Start() {
    resolver_.async_resolve(url_.host, std::to_string(url_.port),
                            [this](beast::error_code ec, tcp::resolver::results_type results) {
                              if (ec) return Finish("resolve", ec);
                              Connect(results);
                            });
  }

  bool done() const { return done_; }
  HttpOutcome& outcome() { return outcome_; }

 private:
  // Connects to the first address that answers, among those allowed.
  void Connect(const tcp::resolver::results_type& results) {
    for (const auto& entry : results) {
      if (allow_private_targets_ || IsPublicAddress(entry.endpoint().address())) {
        allowed_.push_back(entry.endpoint());
      }
    }
    if (allowed_.empty()) {
      outcome_.error = absl::StrCat("resolve: ", url_.host,
                                    " has no public address (private targets are not allowed)");
      done_ = true;
      return;
    }
    beast::get_lowest_layer(stream_).async_connect(
        allowed_, [this](beast::error_code ec, const tcp::endpoint&) {
          if (ec) return Finish("connect", ec);
          Handshake();
        });
  }

  void Handshake() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      Write();
    } else {
      stream_.async_handshake(asio::ssl::stream_base::client, [this](beast::error_code ec) {
        if (ec) return Finish("TLS handshake", ec);
        Write();
      });
    }
  }

  void Write() {
    http::async_write(stream_, request_, [this](beast::error_code ec, size_t) {
      if (ec) return Finish("write", ec);
      http::async_read_header(stream_, buffer_, parser_, [this](beast::error_code ec, size_t) {
        if (ec) return Finish("read", ec);
        outcome_.status_code = static_cast<int>(parser_.get().result_int());
        // The body is read (up to the limit) only so the server sees a polite close; whatever
        // happens to it, the status decides.
        http::async_read(stream_, buffer_, parser_,
                         [this](beast::error_code, size_t) { done_ = true; });
      });
    });
  }

  void Finish(const char* step, beast::error_code ec) {
    outcome_.error = absl::StrCat(step, ": ", ec.message());
    done_ = true;
  }

  tcp::resolver resolver_;
  Stream& stream_;
  const WebhookUrl& url_;
  http::request<http::string_body>& request_;
  const bool allow_private_targets_;
  std::vector<tcp::endpoint> allowed_;
  beast::flat_buffer buffer_;
  http::response_parser<http::string_body> parser_;
  HttpOutcome outcome_;
  bool done_ = false;
};

// Runs `io` until the exchange is done, the deadline passes or `cancelled` is set.
template <typename Stream>
HttpOutcome Run(asio::io_context& io, Exchange<Stream>& exchange, absl::Time deadline,
                const std::atomic<bool>& cancelled) {
  exchange.Start();
  while (!exchange.done() && !io.stopped()) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration() || cancelled.load()) break;
    io.run_for(absl::ToChronoMilliseconds(
        std::max(absl::Milliseconds(1), std::min(left, kCancelCheckInterval))));
  }
  HttpOutcome outcome = exchange.outcome();
  if (!exchange.done() && outcome.status_code == 0) {
    outcome.error = cancelled.load() ? "cancelled: the dispatcher is stopping" : "timed out";
  }
  return outcome;
}

}  // namespace

struct WebhookHttpClient::Tls {
  asio::ssl::context context{asio::ssl::context::tls_client};
};

absl::StatusOr<std::unique_ptr<WebhookHttpClient>> WebhookHttpClient::Create(
    const WebhookHttpOptions& options) {
  auto tls = std::make_unique<Tls>();
  beast::error_code ec;
  tls->context.set_default_verify_paths(ec);
  if (ec) return absl::InternalError(absl::StrCat("no system CA paths: ", ec.message()));
  if (!options.ca_file.empty()) {
    tls->context.load_verify_file(options.ca_file, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot load the webhook CA file ", options.ca_file, ": ", ec.message()));
    }
  }
  tls->context.set_verify_mode(asio::ssl::verify_peer);
  return std::unique_ptr<WebhookHttpClient>(new WebhookHttpClient(options, std::move(tls)));
}

WebhookHttpClient::WebhookHttpClient(WebhookHttpOptions options, std::unique_ptr<Tls> tls)
    : options_(std::move(options)), tls_(std::move(tls)) {}

WebhookHttpClient::~WebhookHttpClient() = default;

HttpOutcome WebhookHttpClient::Post(const WebhookUrl& url,
                                    const std::vector<std::pair<std::string, std::string>>& headers,
                                    const std::string& body,
                                    const std::atomic<bool>& cancelled) const {
  const absl::Time deadline = absl::Now() + options_.timeout;
  http::request<http::string_body> request{http::verb::post, url.target, 11};
  request.set(http::field::host, HostHeader(url));
  request.set(http::field::connection, "close");
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = body;
  request.prepare_payload();
  asio::io_context io;
  if (!url.tls) {
    beast::tcp_stream stream(io);
    Exchange<beast::tcp_stream> exchange(io, stream, url, request, options_.allow_private_targets);
    return Run(io, exchange, deadline, cancelled);
  }
  beast::ssl_stream<beast::tcp_stream> stream(io, tls_->context);
  // SNI, and the certificate must name the host.
  if (!SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str())) {
    return HttpOutcome{.error = "TLS: cannot set the server name"};
  }
  stream.set_verify_callback(asio::ssl::host_name_verification(url.host));
  Exchange<beast::ssl_stream<beast::tcp_stream>> exchange(io, stream, url, request,
                                                          options_.allow_private_targets);
  return Run(io, exchange, deadline, cancelled);
}

}  // namespace loyalty::members
