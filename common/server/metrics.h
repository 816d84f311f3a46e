#pragma once

// Server-side RPC metrics with the names, labels and buckets of go-grpc-prometheus, so the
// dashboards and alerts written for Go services work unchanged:
//
//   grpc_server_started_total{grpc_type,grpc_service,grpc_method}
//   grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}
//   grpc_server_handling_seconds{grpc_type,grpc_service,grpc_method}      (histogram)
//
// grpc_type is unary|client_stream|server_stream|bidi_stream; grpc_service and grpc_method come
// from the method path "/loyalty.members.v1.MembersService/GetMember"; grpc_code is the Go name
// of the status code ("OK", "InvalidArgument", ...).
//
// A server interceptor (NewInterceptorFactory) records them. GrpcServer (server.h) wires all of
// this up; services only touch the registry, to add their own domain metrics.

#include <memory>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "grpcpp/support/server_interceptor.h"
#include "grpcpp/support/status_code_enum.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace loyalty::server {

// The go-grpc-prometheus name of `code`, e.g. "DeadlineExceeded". Values outside the canonical
// range read "Unknown", which keeps the grpc_code label bounded.
std::string_view GrpcCodeName(grpc::StatusCode code);

// Sets the gauge loyalty_build_info{service,version} to 1 in `registry`, so dashboards can join
// any metric to the build that produced it.
void RegisterBuildInfo(prometheus::Registry& registry, const std::string& service,
                       const std::string& version);

// A method a server serves.
struct ServedMethod {
  // "/pkg.Service/Method".
  std::string path;
  grpc::experimental::ServerRpcInfo::Type type;
};

// The three RPC metric families, registered once in a registry, with the children of each served
// method created up front.
//
// Only methods added with AddMethod get their own labels. gRPC hands interceptors the path the
// client sent, even for a method the server does not have, so labelling by that path would let
// any client grow the label set without bound; calls to other paths count under service and
// method "unknown".
class ServerMetrics {
 public:
  // Children of the families for one method; defined in metrics.cc.
  struct Method;

  // Registers the families in `registry`, which must outlive this object.
  explicit ServerMetrics(prometheus::Registry& registry);
  ~ServerMetrics();

  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  // Creates the children of `method` at zero, as go-grpc-prometheus' InitializeMetrics does, so
  // the first error shows as an increase that rate() and alerts see. Not thread-safe: add every
  // method before the server takes its first call. Adding a path twice keeps the first.
  void AddMethod(const ServedMethod& method);

  // An interceptor factory for ServerBuilder::experimental().SetInterceptorCreators(). It counts a
  // call as started when gRPC creates the interceptor (the call has arrived) and as handled, with
  // its code and duration, when the status is about to be sent. It must not outlive this object.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewInterceptorFactory();

  // The children for `path`, or the "unknown" ones if it was never added. Lock-free; safe from
  // any thread once the methods are added.
  Method& ForMethod(std::string_view path);

 private:
  prometheus::Family<prometheus::Counter>& started_;
  prometheus::Family<prometheus::Counter>& handled_;
  prometheus::Family<prometheus::Histogram>& handling_seconds_;

  std::unique_ptr<Method> NewMethod(const std::string& service, const std::string& method,
                                    grpc::experimental::ServerRpcInfo::Type type);

  std::unique_ptr<Method> unknown_;
  absl::flat_hash_map<std::string, std::unique_ptr<Method>> methods_;
};

// "host:port", with an IPv6 host in brackets.
std::string HostPort(const std::string& host, int port);

// A Prometheus /metrics endpoint on host:port (2 threads, 10 s request timeout). UNAVAILABLE when
// the port cannot be bound: prometheus-cpp throws from civetweb's constructor, and this is the
// one place that exception becomes a status.
absl::StatusOr<std::unique_ptr<prometheus::Exposer>> StartMetricsExposer(const std::string& host,
                                                                         int port);

}  // namespace loyalty::server
