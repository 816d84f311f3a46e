#pragma once

// The request pipeline: HTTP request in, HTTP response out, with one upstream call (or the
// wallet's several) in between. In order, a request is
//
//   1. given a trace context: a child of its W3C traceparent, or a new trace;
//   2. matched to a route (404 ROUTE_NOT_FOUND, 405 METHOD_NOT_ALLOWED);
//   3. authenticated: x-api-key or Authorization: Bearer <member JWT> (401 UNAUTHENTICATED);
//   4. for member tokens, refused when the path names another member or program (404
//      RESOURCE_NOT_FOUND), then authorised at function level by the policy table (403
//      PERMISSION_DENIED);
//   5. rate limited per API key or member (429 RATE_LIMITED with Retry-After);
//   6. checked for a JSON content type when it has a body (415 UNSUPPORTED_MEDIA_TYPE);
//   7. transcoded into the RPC's request message (400 MALFORMED_JSON, UNKNOWN_FIELD, ...);
//   8. authorised at object level for member tokens (404 RESOURCE_NOT_FOUND, no upstream call);
//   9. given its idempotency key (400 IDEMPOTENCY_KEY_REQUIRED);
//  10. sent upstream with a deadline and the trace context; the answer, or the error mapped per
//      transcode/errors.h, goes back with a traceparent header.
//
// Handle never blocks. An upstream call's answer is printed and handed back on the thread that
// completed the call (Upstreams::Call), where it waits on nothing; the wallet's and /readyz's
// joins continue on the HTTP worker threads (Executor).

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/random.h"
#include "gateway/auth/api_keys.h"
#include "gateway/auth/jwt.h"
#include "gateway/auth/policy.h"
#include "gateway/http/message.h"
#include "gateway/http/router.h"
#include "gateway/metrics.h"
#include "gateway/ratelimit/token_bucket.h"
#include "gateway/services.h"
#include "gateway/upstream/upstreams.h"
#include "gateway/wallet/wallet.h"

namespace loyalty::gateway {

struct GatewayOptions {
  ApiKeyTable api_keys;
  // Null or without keys: member tokens are refused (401).
  std::shared_ptr<const JwtVerifier> jwt;
  RateLimitOptions api_key_rate;
  RateLimitOptions member_rate;
  absl::Duration upstream_deadline = absl::Seconds(3);
  absl::Duration health_deadline = absl::Seconds(1);
  bool access_log = true;
  // The upstreams /readyz reports, in order; those Upstreams::Has denies show as ABSENT.
  std::vector<std::string> ready_services;
  // The OpenAPI document served at /openapi.json.
  std::string openapi_json;
};

// Builds the route table: every annotated RPC of `services`, plus the wallet route.
absl::StatusOr<Router> BuildRouter(const std::vector<LinkedService>& services);

class Gateway {
 public:
  // `upstreams`, `clock` and `metrics` (which may be null) must outlive the gateway. `executor`
  // runs continuations of upstream calls; `random` makes generated idempotency keys.
  Gateway(GatewayOptions options, Router router, Upstreams& upstreams,
          std::vector<std::unique_ptr<WalletPart>> wallet_parts, const Clock& clock,
          Executor executor, GatewayMetrics* metrics, RandomSource random);
  ~Gateway();

  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Answers `request` through `respond`, exactly once. Thread-safe.
  void Handle(HttpRequest request, Responder respond);

  // The response for an error the HTTP server answers itself (413, 431, ...): the same body and
  // headers as the gateway's own errors.
  HttpResponse ServerErrorResponse(int http_status, const absl::Status& status);

  // From now on /readyz answers 503, so that load balancers stop sending before the drain.
  void SetDraining() { draining_.store(true); }

  const Router& router() const { return router_; }

  struct Exchange;

 private:
  void Dispatch(const std::shared_ptr<Exchange>& exchange);
  void HandleReady(const std::shared_ptr<Exchange>& exchange);
  void HandleRoute(const std::shared_ptr<Exchange>& exchange, const RouteMatch& match,
                   std::string_view query);
  void HandleWallet(const std::shared_ptr<Exchange>& exchange, const RouteMatch& match,
                    const RoutePolicy& policy);
  void OnRpcDone(const std::shared_ptr<Exchange>& exchange,
                 const std::shared_ptr<google::protobuf::Message>& response,
                 const grpc::Status& status);
  absl::StatusOr<Principal> Authenticate(Exchange& exchange);
  bool RateLimited(const std::shared_ptr<Exchange>& exchange, const Principal& principal);
  absl::Status ApplyIdempotencyKey(Exchange& exchange, const Route& route,
                                   const RoutePolicy& policy, google::protobuf::Message& request);
  UpstreamCallOptions CallOptions(const Exchange& exchange) const;

  void Fail(const std::shared_ptr<Exchange>& exchange, const absl::Status& status,
            int http_status = 0);
  void FailUpstream(const std::shared_ptr<Exchange>& exchange, const grpc::Status& status,
                    std::string_view upstream);
  void Finish(const std::shared_ptr<Exchange>& exchange, HttpResponse response);

  const GatewayOptions options_;
  const Router router_;
  Upstreams& upstreams_;
  const std::vector<std::unique_ptr<WalletPart>> wallet_parts_;
  const Clock& clock_;
  const Executor executor_;
  GatewayMetrics* const metrics_;
  const RandomSource random_;
  RateLimiter api_key_limiter_;
  RateLimiter member_limiter_;
  std::atomic<bool> draining_{false};
};

}  // namespace loyalty::gateway
