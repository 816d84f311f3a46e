#pragma once

// The HTTP client of webhook deliveries, on Boost.Beast: one POST per connection over plain HTTP
// or HTTPS (OpenSSL, the system CA paths or a CA file, SNI and host name verification). The
// timeout covers everything (resolve, connect, TLS handshake, write, read); the response body is
// read up to kResponseBodyMax and ignored; redirects are not followed (a 3xx is a failure).

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "members-svc/domain/webhook.h"

namespace loyalty::members {

struct WebhookHttpOptions {
  absl::Duration timeout = absl::Seconds(10);
  // PEM file of extra trusted CAs; empty for the system's default paths only.
  std::string ca_file;
};

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
