#include "gateway/metrics.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/server/metrics.h"
#include "gateway/strings.h"

namespace loyalty::gateway {
namespace {

// Seconds, from a cache hit to the upstream deadline.
const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* const buckets = new prometheus::Histogram::BucketBoundaries{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return *buckets;
}

std::string Str(std::string_view text) { return std::string(text); }

}  // namespace

GatewayMetrics::GatewayMetrics(prometheus::Registry& registry)
    : requests_(prometheus::BuildCounter()
                    .Name("gateway_http_requests_total")
                    .Help("HTTP requests answered by the gateway, by route template and status.")
                    .Register(registry)),
      duration_(prometheus::BuildHistogram()
                    .Name("gateway_http_request_duration_seconds")
                    .Help("Time from a complete request to its answer, by route template.")
                    .Register(registry)),
      upstream_errors_(prometheus::BuildCounter()
                           .Name("gateway_upstream_errors_total")
                           .Help("Upstream gRPC calls that failed, by service and code.")
                           .Register(registry)),
      open_connections_(prometheus::BuildGauge()
                            .Name("gateway_http_open_connections")
                            .Help("HTTP connections open now.")
                            .Register(registry)
                            .Add({})),
      rejected_connections_(prometheus::BuildCounter()
                                .Name("gateway_http_rejected_connections_total")
                                .Help("Connections closed at accept: the connection limit.")
                                .Register(registry)
                                .Add({})),
      rate_limited_(prometheus::BuildCounter()
                        .Name("gateway_rate_limited_total")
                        .Help("Requests refused with 429, by kind of caller.")
                        .Register(registry)) {}

void GatewayMetrics::RecordRequest(std::string_view route, std::string_view method, int http_status,
                                   double seconds) {
  // Reused per thread, so that a lookup allocates nothing.
  thread_local std::string key;
  key.clear();
  absl::StrAppend(&key, Absl(route), "\n", Absl(method), "\n", http_status);
  RequestSeries series{};
  bool found = false;
  {
    absl::ReaderMutexLock lock(&series_mu_);
    if (const auto it = series_.find(key); it != series_.end()) {
      series = it->second;
      found = true;
    }
  }
  if (!found) {
    series.requests = &requests_.Add(
        {{"route", Str(route)}, {"method", Str(method)}, {"code", std::to_string(http_status)}});
    series.duration =
        &duration_.Add({{"route", Str(route)}, {"method", Str(method)}}, LatencyBuckets());
    absl::MutexLock lock(&series_mu_);
    series_.emplace(key, series);
  }
  series.requests->Increment();
  series.duration->Observe(seconds);
}

void GatewayMetrics::RecordUpstreamError(std::string_view service, grpc::StatusCode code) {
  upstream_errors_.Add({{"service", Str(service)}, {"grpc_code", Str(server::GrpcCodeName(code))}})
      .Increment();
}

void GatewayMetrics::SetOpenConnections(int connections) { open_connections_.Set(connections); }

void GatewayMetrics::RecordRejectedConnection() { rejected_connections_.Increment(); }

void GatewayMetrics::RecordRateLimited(std::string_view caller) {
  rate_limited_.Add({{"caller", Str(caller)}}).Increment();
}

}  // namespace loyalty::gateway
