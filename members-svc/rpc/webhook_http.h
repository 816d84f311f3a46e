#pragma once

// The HTTP client of webhook deliveries, on Boost.Beast: one POST per connection over plain HTTP
// or HTTPS (OpenSSL, the system CA paths or a CA file, SNI and host name verification). The
// timeout covers everything (resolve, connect, TLS handshake, write, read); the response body is
// read up to kResponseBodyMax and ignored; redirects are not followed (a 3xx is a failure).
//
// Server-side request forgery: a merchant's admin registers the URL, and members-svc runs inside
// the platform's network, next to PostgreSQL, the other services and a cloud's metadata address.
// So by default a delivery connects only to public addresses: the host is resolved at every
// attempt (a name may be repointed after registration) and loopback, private, link-local,
// carrier-grade NAT, multicast and reserved addresses are refused, IPv4 inside IPv6 included.
// `allow_private_targets` lifts this for receivers inside the network (and for development).

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "boost/asio/ip/address.hpp"
#include "members-svc/domain/webhook.h"

namespace loyalty::members {

struct WebhookHttpOptions {
  absl::Duration timeout = absl::Seconds(10);
  // PEM file of extra trusted CAs; empty for the system's default paths only.
  std::string ca_file;
  // Deliver to loopback, private and other non-public addresses too (see above).
  bool allow_private_targets = false;
};

// Whether `address` is reachable on the public internet: not loopback, private (RFC 1918, IPv6
// unique local), link-local (the 169.254.169.254 metadata address among them), carrier-grade
// NAT, unspecified, multicast, documentation, benchmarking or reserved; IPv4-mapped and NAT64
// IPv6 addresses are judged by their IPv4 address.
bool IsPublicAddress(const boost::asio::ip::address& address);

struct HttpOutcome {
  // The response's status; 0 when there was none (network error, timeout).
  int status_code = 0;
  // What went wrong; empty when a response arrived.
  std::string error;
  bool delivered() const { return status_code >= 200 && status_code <= 299; }
};

class WebhookHttpClient {
 public:
  static constexpr size_t kResponseBodyMax = 64 * 1024;

  // INVALID_ARGUMENT when the CA file cannot be loaded.
  static absl::StatusOr<std::unique_ptr<WebhookHttpClient>> Create(
      const WebhookHttpOptions& options);
  ~WebhookHttpClient();

  // POSTs `body` with `headers` to `url` and waits for the status line, at most the timeout, or
  // until `cancelled` becomes true (checked every few milliseconds), whichever is first. Safe to
  // call from many threads at once. Never fails: the outcome says what happened.
  HttpOutcome Post(const WebhookUrl& url,
                   const std::vector<std::pair<std::string, std::string>>& headers,
                   const std::string& body, const std::atomic<bool>& cancelled) const;

 private:
  struct Tls;
  WebhookHttpClient(WebhookHttpOptions options, std::unique_ptr<Tls> tls);

  const WebhookHttpOptions options_;
  const std::unique_ptr<Tls> tls_;
};

}  // namespace loyalty::members
