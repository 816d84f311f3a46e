#pragma once

// The whole gateway process minus main(): configuration -> routes from the linked services'
// annotations -> upstream channels -> wallet parts -> OpenAPI -> metrics endpoint -> HTTP
// server. main() and the integration tests start it the same way.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "gateway/config.h"
#include "gateway/gateway.h"
#include "gateway/http/server.h"
#include "gateway/metrics.h"
#include "gateway/upstream/upstreams.h"
#include "gateway/wallet/wallet.h"
#include "prometheus/exposer.h"
#include "prometheus/registry.h"

namespace loyalty::gateway {

// Test seams; production leaves them default.
struct GatewayServerHooks {
  // Default: the real clock.
  const Clock* clock = nullptr;
  // false serves no metrics endpoint (tests); true serves it on config.metrics_port.
  bool serve_metrics = true;
  // Builds the wallet parts; default: DefaultWalletParts.
  std::function<std::vector<std::unique_ptr<WalletPart>>(Upstreams&)> wallet_parts;
};

// A real part for each of members-svc, points-svc and rewards-svc that is configured, else an
// absent one; `clock` (which must outlive the parts) tells the rewards part which vouchers expired.
std::vector<std::unique_ptr<WalletPart>> DefaultWalletParts(Upstreams& upstreams,
                                                            const Clock& clock);

class GatewayServer {
 public:
  // Starts serving. INVALID_ARGUMENT for a route table that cannot be built (a proto the
  // gateway cannot transcode), UNAVAILABLE when a port cannot be bound.
  static absl::StatusOr<std::unique_ptr<GatewayServer>> Start(GatewayConfig config,
                                                              GatewayServerHooks hooks = {});
  ~GatewayServer();

  int http_port() const { return http_->port(); }
  // -1 without a metrics endpoint.
  int metrics_port() const { return metrics_port_; }
  Gateway& gateway() { return *gateway_; }

  // /readyz turns NOT_SERVING, the listener closes, requests in flight get until the shutdown
  // grace to finish, then upstream calls still open are cancelled. Idempotent.
  void Shutdown();

 private:
  GatewayServer() = default;

  GatewayConfig config_;
  RealClock real_clock_;
  // Destroyed in reverse order: the HTTP server stops before the gateway it calls, the gateway
  // before the upstreams it calls, metrics last.
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<GatewayMetrics> metrics_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int metrics_port_ = -1;
  std::unique_ptr<GrpcUpstreams> upstreams_;
  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<HttpServer> http_;
  bool shut_down_ = false;
};

}  // namespace loyalty::gateway
