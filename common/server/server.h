#pragma once

// The gRPC server every service runs: a sync server (handlers block on libpq, which the callback
// API's reactor threads must not do) with the standard health service, server reflection,
// go-grpc-prometheus RPC metrics on a Prometheus /metrics endpoint, and a graceful drain.
//
//   int main() {
//     loyalty::server::BlockTerminationSignals();           // signals.h
//     ... config, pool, service implementation ...
//     absl::StatusOr<std::unique_ptr<loyalty::server::GrpcServer>> server =
//         loyalty::server::GrpcServer::Start({.service_name = "members-svc", .grpc_port = 50051,
//                                             .metrics_port = 9090},
//                                            {&members_service});
//     if (!server.ok()) { ...report server.status()...; return 1; }
//     loyalty::server::WaitForTerminationSignal();
//     (*server)->Shutdown();
//   }

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/impl/service_type.h"
#include "grpcpp/server.h"
#include "prometheus/exposer.h"
#include "prometheus/registry.h"

namespace loyalty::server {

class ServerMetrics;

struct ServerOptions {
  // The loyalty_build_info `service` label, e.g. "members-svc".
  std::string service_name;
  // The loyalty_build_info `version` label; empty reports the CMake project version.
  std::string version;
  // Address both listeners bind. An IPv6 address is given bare ("::"), without brackets.
  std::string listen_address = "0.0.0.0";
  // 0 picks a free port (tests); grpc_port() tells which.
  int grpc_port = 0;
  // 0 picks a free port (tests); -1 serves no metrics endpoint.
  int metrics_port = 0;
  // Bounds the sync server's threads. One always waits for new calls, so max_threads - 1 handlers
  // run at once; a call arriving when none is free is answered RESOURCE_EXHAUSTED at once rather
  // than queued. Handlers mostly wait (for a pooled connection, a group commit, the database),
  // so this is the calls a service keeps in flight, not its CPU use. At least 2.
  int max_threads = 128;
  int max_receive_message_bytes = 4 * 1024 * 1024;
  // How long Shutdown lets in-flight calls finish before cancelling them.
  absl::Duration shutdown_grace = absl::Seconds(10);
};

class GrpcServer {
 public:
  // Builds and starts the server with `services` (not owned; they must outlive the server), the
  // default health service answering SERVING for "" and for each service's full name, server
  // reflection, RPC metrics and, unless options.metrics_port is -1, a Prometheus endpoint at
  // http://listen_address:metrics_port/metrics.
  //
  // Returns INVALID_ARGUMENT for options out of range and UNAVAILABLE when a port cannot be bound
  // (including one already bound by another gRPC server: port sharing is disabled).
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(const ServerOptions& options,
                                                           std::vector<grpc::Service*> services);

  // Shuts down (see Shutdown), then stops the metrics endpoint, which takes up to 2 s (civetweb
  // polls for its stop flag every 2 s).
  ~GrpcServer();

  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // The bound ports. metrics_port() is -1 when there is no metrics endpoint.
  int grpc_port() const { return grpc_port_; }
  int metrics_port() const { return metrics_port_; }

  // The registry /metrics serves, for the service's own metrics. Thread-safe.
  prometheus::Registry& registry() { return *registry_; }

  // Health for "" and every service. Ignored once Shutdown has begun.
  void SetServing(bool serving);

  // Drains, then returns once every handler has returned:
  //   1. health turns NOT_SERVING for every name, and Watch streams are told so: probes and
  //      clients that check health move away;
  //   2. the server stops accepting calls (GOAWAY) and in-flight calls get until now +
  //      shutdown_grace to finish;
  //   3. calls still open then are cancelled; their callers see UNAVAILABLE.
  // gRPC 1.51 keeps health Watch streams open after NOT_SERVING, so while any client watches
  // health the drain lasts the full grace. A handler that ignores cancellation delays the return:
  // handlers must bound their own work (deadlines, statement_timeout). Idempotent and
  // thread-safe. The metrics endpoint stays up until destruction, so a last scrape sees the
  // final counts.
  void Shutdown();

 private:
  explicit GrpcServer(const ServerOptions& options);

  const ServerOptions options_;
  // Declared in dependency order: the server's interceptors use metrics_, which uses registry_.
  const std::shared_ptr<prometheus::Registry> registry_;
  const std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::unique_ptr<grpc::Server> server_;
  int grpc_port_ = 0;
  int metrics_port_ = -1;

  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace loyalty::server
