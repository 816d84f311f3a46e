#pragma once

// The gateway's Prometheus metrics, served on LOYALTY_GATEWAY_METRICS_PORT:
//
//   gateway_http_requests_total{route,method,code}          requests answered, by route template
//   gateway_http_request_duration_seconds{route,method}     latency histogram
//   gateway_upstream_errors_total{service,grpc_code}        failed upstream calls
//   gateway_http_open_connections                          connections now open
//   gateway_http_rejected_connections_total                 connections closed at accept (limit)
//   gateway_rate_limited_total{caller}                      429s, caller "api_key" or "member"
//   loyalty_build_info{service,version}                     as every service
//
// Labels stay bounded: `route` is a route template from the table built at start (or "other"
// for requests that matched none), `code` an HTTP status, `grpc_code` a canonical code name.

#include <memory>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/support/status_code_enum.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace loyalty::gateway {

// The route label of requests that matched no route (404, 405, malformed).
inline constexpr std::string_view kUnmatchedRoute = "other";

class GatewayMetrics {
 public:
  // Registers the families in `registry`, which must outlive this object.
  explicit GatewayMetrics(prometheus::Registry& registry);

  // Thread-safe, like everything below.
  void RecordRequest(std::string_view route, std::string_view method, int http_status,
                     double seconds);
  void RecordUpstreamError(std::string_view service, grpc::StatusCode code);
  void SetOpenConnections(int connections);
  void RecordRejectedConnection();
  void RecordRateLimited(std::string_view caller);

 private:
  // The counter and histogram of one (route, method, code). Looking them up in the families builds
  // a label map of strings and hashes it under the family's lock, on every request; the series
  // never go away, so the gateway remembers them after the first time.
  struct RequestSeries {
    prometheus::Counter* requests;
    prometheus::Histogram* duration;
  };

  absl::Mutex series_mu_;
  // Keyed by route, method and code joined with '\n'. Bounded as the labels are.
  absl::flat_hash_map<std::string, RequestSeries> series_ ABSL_GUARDED_BY(series_mu_);
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Counter>& upstream_errors_;
  prometheus::Gauge& open_connections_;
  prometheus::Counter& rejected_connections_;
  prometheus::Family<prometheus::Counter>& rate_limited_;
};

}  // namespace loyalty::gateway
