#include "common/server/metrics.h"

#include <array>
#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/interceptor.h"
#include "grpcpp/support/server_interceptor.h"
#include "grpcpp/support/status.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/labels.h"
#include "prometheus/registry.h"

namespace loyalty::server {
namespace {

// Indexed by grpc::StatusCode, which mirrors google.rpc.Code: OK is 0, UNAUTHENTICATED is 16.
constexpr std::array<std::string_view, 17> kCodeNames = {
    "OK",       "Canceled",        "Unknown",          "InvalidArgument",   "DeadlineExceeded",
    "NotFound", "AlreadyExists",   "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
    "Aborted",  "OutOfRange",      "Unimplemented",    "Internal",          "Unavailable",
    "DataLoss", "Unauthenticated",
};
static_assert(static_cast<int>(grpc::StatusCode::UNAUTHENTICATED) == kCodeNames.size() - 1);

// The buckets the dashboards expect: from sub-millisecond reads to a 10 s tail.
const prometheus::Histogram::BucketBoundaries& HandlingSecondsBuckets() {
  static const auto* const kBuckets = new prometheus::Histogram::BucketBoundaries{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return *kBuckets;
}

std::string TypeLabel(grpc::experimental::ServerRpcInfo::Type type) {
  using Type = grpc::experimental::ServerRpcInfo::Type;
  switch (type) {
    case Type::UNARY:
      return "unary";
    case Type::CLIENT_STREAMING:
      return "client_stream";
    case Type::SERVER_STREAMING:
      return "server_stream";
    case Type::BIDI_STREAMING:
      return "bidi_stream";
  }
  return "unknown";
}

// Splits "/pkg.Service/Method" into {"pkg.Service", "Method"}.
std::pair<std::string, std::string> SplitMethodPath(std::string_view path) {
  const size_t slash = path.rfind('/');
  if (path.size() < 4 || path.front() != '/' || slash == 0 || slash == std::string_view::npos ||
      slash == path.size() - 1) {
    return {"unknown", "unknown"};
  }
  return {std::string(path.substr(1, slash - 1)), std::string(path.substr(slash + 1))};
}

}  // namespace

struct ServerMetrics::Method {
  prometheus::Counter* started;
  prometheus::Histogram* handling_seconds;
  // Indexed by code.
  std::array<prometheus::Counter*, kCodeNames.size()> handled;
};

namespace {

class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit MetricsInterceptor(ServerMetrics::Method& method)
      : method_(method), start_(std::chrono::steady_clock::now()) {
    method_.started->Increment();
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
      size_t code = static_cast<size_t>(methods->GetSendStatus().error_code());
      if (code >= kCodeNames.size()) code = static_cast<size_t>(grpc::StatusCode::UNKNOWN);
      method_.handled[code]->Increment();
      method_.handling_seconds->Observe(elapsed.count());
    }
    methods->Proceed();
  }

 private:
  ServerMetrics::Method& method_;
  const std::chrono::steady_clock::time_point start_;
};

class MetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(ServerMetrics& metrics) : metrics_(metrics) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    const char* path = info->method();
    return new MetricsInterceptor(metrics_.ForMethod(path == nullptr ? "" : path));
  }

 private:
  ServerMetrics& metrics_;
};

}  // namespace

std::string_view GrpcCodeName(grpc::StatusCode code) {
  const auto index = static_cast<size_t>(code);
  return index < kCodeNames.size() ? kCodeNames[index] : "Unknown";
}

void RegisterBuildInfo(prometheus::Registry& registry, const std::string& service,
                       const std::string& version) {
  prometheus::BuildGauge()
      .Name("loyalty_build_info")
      .Help("Always 1; labels name the service and the build it runs.")
      .Register(registry)
      .Add({{"service", service}, {"version", version}})
      .Set(1);
}

ServerMetrics::ServerMetrics(prometheus::Registry& registry)
    : started_(prometheus::BuildCounter()
                   .Name("grpc_server_started_total")
                   .Help("Total number of RPCs started on the server.")
                   .Register(registry)),
      handled_(prometheus::BuildCounter()
                   .Name("grpc_server_handled_total")
                   .Help("Total number of RPCs completed on the server, regardless of success or "
                         "failure.")
                   .Register(registry)),
      handling_seconds_(prometheus::BuildHistogram()
                            .Name("grpc_server_handling_seconds")
                            .Help("Histogram of response latency (seconds) of gRPC that had been "
                                  "application-level handled by the server.")
                            .Register(registry)),
      // gRPC cannot know the type of a method it does not have and reports it as bidi.
      unknown_(NewMethod("unknown", "unknown",
                         grpc::experimental::ServerRpcInfo::Type::BIDI_STREAMING)) {}

ServerMetrics::~ServerMetrics() = default;

void ServerMetrics::AddMethod(const ServedMethod& method) {
  if (methods_.contains(method.path)) return;
  auto [service_label, method_label] = SplitMethodPath(method.path);
  methods_.emplace(method.path, NewMethod(service_label, method_label, method.type));
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
ServerMetrics::NewInterceptorFactory() {
  return std::make_unique<MetricsInterceptorFactory>(*this);
}

ServerMetrics::Method& ServerMetrics::ForMethod(std::string_view path) {
  const auto it = methods_.find(absl::string_view(path.data(), path.size()));
  return it == methods_.end() ? *unknown_ : *it->second;
}

std::unique_ptr<ServerMetrics::Method> ServerMetrics::NewMethod(
    const std::string& service, const std::string& method,
    grpc::experimental::ServerRpcInfo::Type type) {
  const prometheus::Labels labels = {
      {"grpc_type", TypeLabel(type)}, {"grpc_service", service}, {"grpc_method", method}};
  auto children = std::make_unique<Method>();
  children->started = &started_.Add(labels);
  children->handling_seconds = &handling_seconds_.Add(labels, HandlingSecondsBuckets());
  for (size_t code = 0; code < kCodeNames.size(); ++code) {
    prometheus::Labels code_labels = labels;
    code_labels.emplace("grpc_code", kCodeNames[code]);
    children->handled[code] = &handled_.Add(code_labels);
  }
  return children;
}

std::string HostPort(const std::string& host, int port) {
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<std::unique_ptr<prometheus::Exposer>> StartMetricsExposer(const std::string& host,
                                                                         int port) {
  const std::string address = HostPort(host, port);
  try {
    return std::make_unique<prometheus::Exposer>(std::vector<std::string>{
        "listening_ports", address, "num_threads", "2", "request_timeout_ms", "10000"});
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("metrics endpoint cannot listen on ", address, ": ", e.what()));
  }
}

}  // namespace loyalty::server
