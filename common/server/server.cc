#include "common/server/server.h"

#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/server/metrics.h"
#include "google/protobuf/descriptor.h"
#include "grpc/grpc.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/impl/server_builder_option.h"
#include "grpcpp/impl/server_builder_plugin.h"
#include "grpcpp/impl/server_initializer.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/support/server_interceptor.h"
#include "prometheus/exposer.h"
#include "prometheus/registry.h"

namespace loyalty::server {
namespace {

constexpr int kPortMax = 65535;
// The metrics endpoint serves one scraper or two; its threads and request time are bounded so a
// stuck client cannot hold it.

// Client-side load balancing (round_robin over a headless Service) spreads calls only across the
// pods a client has connected to, and clients resolve again only when a connection closes.
// Bounding connection age makes every client reconnect, and so find new or rescheduled pods,
// within five minutes; the grace lets calls on an aged connection finish.
constexpr int kMaxConnectionAgeMs = 300000;
constexpr int kMaxConnectionAgeGraceMs = 30000;
// Clients send keepalive pings to detect a dead pod or a dropped NAT entry long before TCP would.
// By default the server answers pings more often than every 5 minutes with GOAWAY
// "too_many_pings", and pings on idle connections too; accept both, down to every 10 s, so
// client keepalive settings of 10 s or more work.
constexpr int kMinRecvPingIntervalWithoutDataMs = 10000;
constexpr int kKeepalivePermitWithoutCalls = 1;

// Both calls change process-wide gRPC state without synchronization; do them once.
void InitGrpcOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    grpc::EnableDefaultHealthCheckService(true);
    // Called rather than linked in with --whole-archive: the reference keeps the reflection
    // library from being dropped by --as-needed.
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  });
}

absl::Status ValidateOptions(const ServerOptions& options,
                             const std::vector<grpc::Service*>& services) {
  if (options.service_name.empty()) return absl::InvalidArgumentError("service_name is empty");
  if (options.grpc_port < 0 || options.grpc_port > kPortMax) {
    return absl::InvalidArgumentError(absl::StrCat("grpc_port out of range: ", options.grpc_port));
  }
  if (options.metrics_port < -1 || options.metrics_port > kPortMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics_port out of range: ", options.metrics_port));
  }
  // One thread always polls for new calls; with fewer than 2, every call would be answered
  // RESOURCE_EXHAUSTED.
  if (options.max_threads < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_threads must be at least 2: ", options.max_threads));
  }
  if (options.max_receive_message_bytes <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("max_receive_message_bytes must be positive: ",
                                                   options.max_receive_message_bytes));
  }
  if (options.shutdown_grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("shutdown_grace is negative");
  }
  for (const grpc::Service* service : services) {
    if (service == nullptr) return absl::InvalidArgumentError("null service");
  }
  return absl::OkStatus();
}

// The methods of the services gRPC itself adds to every server built here: the default health
// service, which is not protobuf-generated (so the descriptor pool does not know it), and
// reflection, which its plugin registers after ServiceRegistryPlugin has read the list.
std::vector<ServedMethod> BuiltinMethods() {
  using Type = grpc::experimental::ServerRpcInfo::Type;
  return {{"/grpc.health.v1.Health/Check", Type::UNARY},
          {"/grpc.health.v1.Health/Watch", Type::SERVER_STREAMING},
          {"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", Type::BIDI_STREAMING}};
}

// The methods of a protobuf-generated service, from the descriptors every generated service
// links into the generated pool (as reflection reads them); empty for a service without one.
std::vector<ServedMethod> MethodsOf(const std::string& service_name) {
  using Type = grpc::experimental::ServerRpcInfo::Type;
  std::vector<ServedMethod> methods;
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service_name);
  if (service == nullptr) return methods;
  for (int i = 0; i < service->method_count(); ++i) {
    const google::protobuf::MethodDescriptor* method = service->method(i);
    Type type = Type::UNARY;
    if (method->client_streaming() && method->server_streaming()) {
      type = Type::BIDI_STREAMING;
    } else if (method->client_streaming()) {
      type = Type::CLIENT_STREAMING;
    } else if (method->server_streaming()) {
      type = Type::SERVER_STREAMING;
    }
    methods.push_back({absl::StrCat("/", service_name, "/", method->name()), type});
  }
  return methods;
}

// grpc::Service does not say which service it is or which methods it has; only builder plugins
// see the names of the registered services. InitServer runs after the builder registered the
// caller's services and before the server takes calls; this plugin is put first, so it also runs
// before other plugins (reflection) register theirs, and the list holds exactly the caller's
// services. It records their names, for health, and adds their methods to the metrics.
class ServiceRegistryPlugin final : public grpc::ServerBuilderPlugin {
 public:
  ServiceRegistryPlugin(ServerMetrics& metrics, std::vector<std::string>& service_names)
      : metrics_(metrics), service_names_(service_names) {}

  std::string name() override { return "loyalty_service_registry"; }
  void InitServer(grpc::ServerInitializer* initializer) override {
    service_names_ = *initializer->GetServiceList();
    for (const std::string& service : service_names_) {
      for (const ServedMethod& method : MethodsOf(service)) metrics_.AddMethod(method);
    }
    for (const ServedMethod& method : BuiltinMethods()) metrics_.AddMethod(method);
  }
  void Finish(grpc::ServerInitializer* /*initializer*/) override {}
  void ChangeArguments(const std::string& /*name*/, void* /*value*/) override {}

 private:
  ServerMetrics& metrics_;
  std::vector<std::string>& service_names_;
};

class ServiceRegistryOption final : public grpc::ServerBuilderOption {
 public:
  ServiceRegistryOption(ServerMetrics& metrics, std::vector<std::string>& service_names)
      : metrics_(metrics), service_names_(service_names) {}

  void UpdateArguments(grpc::ChannelArguments* /*args*/) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->insert(plugins->begin(),
                    std::make_unique<ServiceRegistryPlugin>(metrics_, service_names_));
  }

 private:
  ServerMetrics& metrics_;
  std::vector<std::string>& service_names_;
};

}  // namespace

GrpcServer::GrpcServer(const ServerOptions& options)
    : options_(options),
      registry_(std::make_shared<prometheus::Registry>()),
      metrics_(std::make_unique<ServerMetrics>(*registry_)) {}

GrpcServer::~GrpcServer() { Shutdown(); }

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(
    const ServerOptions& options, std::vector<grpc::Service*> services) {
  if (absl::Status valid = ValidateOptions(options, services); !valid.ok()) return valid;
  InitGrpcOnce();

  std::unique_ptr<GrpcServer> server(new GrpcServer(options));
  RegisterBuildInfo(*server->registry_, options.service_name,
                    options.version.empty() ? LOYALTY_PROJECT_VERSION : options.version);

  // The metrics endpoint starts first, so a failure leaves no half-started gRPC server behind.
  if (options.metrics_port >= 0) {
    absl::StatusOr<std::unique_ptr<prometheus::Exposer>> exposer =
        StartMetricsExposer(options.listen_address, options.metrics_port);
    if (!exposer.ok()) return exposer.status();
    server->exposer_ = *std::move(exposer);
    server->exposer_->RegisterCollectable(server->registry_);
    const std::vector<int> ports = server->exposer_->GetListeningPorts();
    if (ports.empty()) return absl::UnavailableError("metrics endpoint has no listening port");
    server->metrics_port_ = ports.front();
  }

  const std::string grpc_address = HostPort(options.listen_address, options.grpc_port);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(grpc_address, grpc::InsecureServerCredentials(), &server->grpc_port_);
  for (grpc::Service* service : services) builder.RegisterService(service);

  grpc::ResourceQuota quota(absl::StrCat(options.service_name, "-grpc"));
  quota.SetMaxThreads(options.max_threads);
  builder.SetResourceQuota(quota);
  // A handler thread that finishes goes back to waiting for calls. gRPC keeps at most
  // MAX_POLLERS of those (default 2) and ends the rest, so under steady concurrency it created
  // and destroyed a thread for nearly every call. Keeping them all costs only idle threads.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS,
                              options.max_threads);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  // gRPC sets SO_REUSEPORT by default, so a second server on a taken port would start and
  // silently split the traffic; without it, a taken port fails Start.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, kMaxConnectionAgeMs);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, kMaxConnectionAgeGraceMs);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             kMinRecvPingIntervalWithoutDataMs);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, kKeepalivePermitWithoutCalls);

  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
  creators.push_back(server->metrics_->NewInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(creators));

  std::vector<std::string> service_names;
  builder.SetOption(std::make_unique<ServiceRegistryOption>(*server->metrics_, service_names));

  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->grpc_port_ == 0) {
    server->server_.reset();
    return absl::UnavailableError(
        absl::StrCat("gRPC server cannot listen on ", grpc_address, " (port in use?)"));
  }

  grpc::HealthCheckServiceInterface* health = server->server_->GetHealthCheckService();
  health->SetServingStatus("", true);
  for (const std::string& name : service_names) health->SetServingStatus(name, true);
  return server;
}

void GrpcServer::SetServing(bool serving) {
  server_->GetHealthCheckService()->SetServingStatus(serving);
}

void GrpcServer::Shutdown() {
  absl::MutexLock lock(&shutdown_mu_);
  if (shut_down_ || server_ == nullptr) return;
  shut_down_ = true;
  // Sets every name NOT_SERVING, tells Watch streams, and ignores later SetServing calls.
  server_->GetHealthCheckService()->Shutdown();
  server_->Shutdown(absl::ToChronoTime(absl::Now() + options_.shutdown_grace));
  server_->Wait();
}

}  // namespace loyalty::server
