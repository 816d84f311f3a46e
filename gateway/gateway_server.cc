#include "gateway/gateway_server.h"

#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log/log.h"
#include "common/random.h"
#include "common/server/metrics.h"
#include "gateway/openapi/openapi.h"
#include "gateway/services.h"

namespace loyalty::gateway {
namespace {

// The metrics endpoint serves a scraper or two; bounded like the services' (common/server).

#ifndef LOYALTY_PROJECT_VERSION
#define LOYALTY_PROJECT_VERSION "dev"
#endif

}  // namespace

std::vector<std::unique_ptr<WalletPart>> DefaultWalletParts(Upstreams& upstreams,
                                                            const Clock& clock) {
  std::vector<std::unique_ptr<WalletPart>> parts;
  if (upstreams.Has("members")) {
    parts.push_back(std::make_unique<MembersWalletPart>(upstreams));
  } else {
    parts.push_back(std::make_unique<AbsentWalletPart>("members"));
  }
  if (upstreams.Has("points")) {
    parts.push_back(std::make_unique<PointsWalletPart>(upstreams));
  } else {
    parts.push_back(std::make_unique<AbsentWalletPart>("points"));
  }
  if (upstreams.Has("rewards")) {
    parts.push_back(std::make_unique<RewardsWalletPart>(upstreams, clock));
  } else {
    parts.push_back(std::make_unique<AbsentWalletPart>("rewards"));
  }
  return parts;
}

absl::StatusOr<std::unique_ptr<GatewayServer>> GatewayServer::Start(GatewayConfig config,
                                                                    GatewayServerHooks hooks) {
  LinkErrorDetailTypes();
  std::unique_ptr<GatewayServer> server(new GatewayServer());
  server->config_ = std::move(config);
  const GatewayConfig& cfg = server->config_;
  const Clock& clock = hooks.clock != nullptr ? *hooks.clock : server->real_clock_;

  absl::StatusOr<Router> router = BuildRouter(LinkedServices());
  if (!router.ok()) return router.status();
  absl::StatusOr<std::string> openapi = BuildOpenApi(*router, LOYALTY_PROJECT_VERSION);
  if (!openapi.ok()) return openapi.status();

  server->registry_ = std::make_shared<prometheus::Registry>();
  server->metrics_ = std::make_unique<GatewayMetrics>(*server->registry_);
  server::RegisterBuildInfo(*server->registry_, "gateway", LOYALTY_PROJECT_VERSION);
  if (hooks.serve_metrics) {
    absl::StatusOr<std::unique_ptr<prometheus::Exposer>> exposer =
        server::StartMetricsExposer(cfg.listen_address, cfg.metrics_port);
    if (!exposer.ok()) return exposer.status();
    server->exposer_ = *std::move(exposer);
    server->exposer_->RegisterCollectable(server->registry_);
    const std::vector<int> ports = server->exposer_->GetListeningPorts();
    if (ports.empty()) return absl::UnavailableError("metrics endpoint has no listening port");
    server->metrics_port_ = ports.front();
  }

  // Channels only to the services this gateway links and that are deployed.
  std::map<std::string, std::string> targets;
  std::vector<std::string> ready_services;
  for (const LinkedService& service : LinkedServices()) {
    ready_services.push_back(service.upstream);
    if (const auto it = cfg.upstreams.find(service.upstream); it != cfg.upstreams.end()) {
      targets[service.upstream] = it->second;
    }
  }
  server->upstreams_ = std::make_unique<GrpcUpstreams>(targets, cfg.upstream_channels);

  GatewayMetrics* metrics = server->metrics_.get();
  HttpServerHooks http_hooks;
  // The gateway is built after the server (it needs the server's executor); the hook only runs
  // once requests arrive, after Start, when the gateway exists.
  http_hooks.error_response = [&gateway = server->gateway_](int status, const absl::Status& error) {
    return gateway->ServerErrorResponse(status, error);
  };
  http_hooks.on_connections_changed = [metrics](int open) { metrics->SetOpenConnections(open); };
  http_hooks.on_connection_rejected = [metrics] { metrics->RecordRejectedConnection(); };
  absl::StatusOr<std::unique_ptr<HttpServer>> http =
      HttpServer::Create({.listen_address = cfg.listen_address,
                          .port = cfg.http_port,
                          .threads = cfg.threads,
                          .max_connections = cfg.max_connections,
                          .max_in_flight = cfg.max_in_flight,
                          .idle_timeout = absl::Milliseconds(cfg.idle_timeout_ms),
                          .request_timeout = absl::Milliseconds(cfg.request_timeout_ms),
                          .body_bytes_max = kBodyBytesMax,
                          .header_bytes_max = kHeaderBytesMax},
                         std::move(http_hooks));
  if (!http.ok()) return http.status();
  server->http_ = *std::move(http);

  GatewayOptions options;
  options.api_keys = cfg.api_keys;
  options.jwt = cfg.jwt;
  options.api_key_rate = cfg.api_key_rate;
  options.member_rate = cfg.member_rate;
  options.upstream_deadline = absl::Milliseconds(cfg.upstream_deadline_ms);
  options.access_log = cfg.access_log;
  options.ready_services = std::move(ready_services);
  options.openapi_json = *std::move(openapi);
  std::vector<std::unique_ptr<WalletPart>> parts =
      hooks.wallet_parts ? hooks.wallet_parts(*server->upstreams_)
                         : DefaultWalletParts(*server->upstreams_, clock);
  server->gateway_ = std::make_unique<Gateway>(
      std::move(options), *std::move(router), *server->upstreams_, std::move(parts), clock,
      server->http_->executor(), metrics, SecureRandomUint64);
  server->http_->Start([gateway = server->gateway_.get()](HttpRequest request, Responder respond) {
    gateway->Handle(std::move(request), std::move(respond));
  });
  log::Info("gateway serving",
            {{"http_port", static_cast<int64_t>(server->http_->port())},
             {"metrics_port", static_cast<int64_t>(server->metrics_port_)},
             {"routes", static_cast<int64_t>(server->gateway_->router().routes().size())}});
  return server;
}

GatewayServer::~GatewayServer() { Shutdown(); }

void GatewayServer::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  if (gateway_ != nullptr) gateway_->SetDraining();
  if (http_ != nullptr) http_->Shutdown(absl::Milliseconds(config_.shutdown_grace_ms));
  // The HTTP threads are gone; cancel what is still upstream so that no completion runs after
  // the gateway it would call into is destroyed.
  if (upstreams_ != nullptr) upstreams_->CancelAndWait();
}

}  // namespace loyalty::gateway
