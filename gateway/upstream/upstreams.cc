#include "gateway/upstream/upstreams.h"

#include <atomic>
#include <chrono>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpc/grpc.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace loyalty::gateway {
namespace {

using google::protobuf::Message;
using MessageStub = grpc::TemplatedGenericStub<Message, Message>;

// Keepalive pings find a dead service pod long before TCP would; the services accept pings down
// to every 10 s (common/server/server.cc).
constexpr int kKeepaliveTimeMs = 30'000;
constexpr int kKeepaliveTimeoutMs = 10'000;
// gRPC's default backoff grows to two minutes: a service that restarts would stay unreachable
// through the gateway long after it is back. Reconnect within a second instead.
constexpr int kReconnectBackoffMinMs = 100;
constexpr int kReconnectBackoffMaxMs = 1'000;
constexpr int kReceiveMessageBytesMax = 4 * 1024 * 1024;
constexpr char kHealthCheckMethod[] = "/grpc.health.v1.Health/Check";

std::chrono::system_clock::time_point DeadlineIn(absl::Duration duration) {
  return absl::ToChronoTime(absl::Now() + duration);
}

const char* ServingStatusName(int value) {
  switch (value) {
    case 0:
      return "UNKNOWN";
    case 1:
      return "SERVING";
    case 2:
      return "NOT_SERVING";
    case 3:
      return "SERVICE_UNKNOWN";
    default:
      return "UNKNOWN";
  }
}

// grpc.health.v1 is not compiled into the gateway; HealthCheckResponse is one enum field,
// `ServingStatus status = 1`, which encodes as 0x08 and a one-byte varint (or nothing for 0).
const char* DecodeHealthResponse(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return "UNKNOWN";
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  if (bytes.empty()) return ServingStatusName(0);
  if (bytes.size() == 2 && bytes[0] == 0x08) return ServingStatusName(bytes[1]);
  return "UNKNOWN";
}

}  // namespace

struct GrpcUpstreams::Service {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<MessageStub>> stubs;
  std::unique_ptr<grpc::GenericStub> health_stub;
  std::atomic<uint32_t> next{0};
};

// The calls in flight, so that shutdown can cancel them and wait for their callbacks.
struct GrpcUpstreams::Tracker {
  absl::Mutex mu;
  absl::flat_hash_set<grpc::ClientContext*> active ABSL_GUARDED_BY(mu);
  bool closed ABSL_GUARDED_BY(mu) = false;

  bool Add(grpc::ClientContext* context) {
    absl::MutexLock lock(&mu);
    if (closed) return false;
    active.insert(context);
    return true;
  }
  void Remove(grpc::ClientContext* context) {
    absl::MutexLock lock(&mu);
    active.erase(context);
  }
  void CancelAndWait() {
    absl::MutexLock lock(&mu);
    closed = true;
    for (grpc::ClientContext* context : active) context->TryCancel();
    mu.Await(absl::Condition(
        +[](absl::flat_hash_set<grpc::ClientContext*>* set) { return set->empty(); }, &active));
  }
};

GrpcUpstreams::GrpcUpstreams(const std::map<std::string, std::string>& targets, int channels)
    : tracker_(std::make_shared<Tracker>()) {
  for (const auto& [name, target] : targets) {
    auto service = std::make_unique<Service>();
    for (int i = 0; i < std::max(1, channels); ++i) {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveTimeMs);
      args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
      args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, kReconnectBackoffMinMs);
      args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, kReconnectBackoffMinMs);
      args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, kReconnectBackoffMaxMs);
      args.SetInt(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, kReceiveMessageBytesMax);
      // Without a local pool, channels with equal arguments share one connection; the index
      // makes each channel its own connection.
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      args.SetInt("loyalty.channel_index", i);
      // Behind a headless Kubernetes Service (dns:///...), spread calls over every pod.
      args.SetLoadBalancingPolicyName("round_robin");
      service->channels.push_back(
          grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
      service->stubs.push_back(std::make_unique<MessageStub>(service->channels.back()));
    }
    service->health_stub = std::make_unique<grpc::GenericStub>(service->channels.front());
    services_.emplace(name, std::move(service));
  }
}

GrpcUpstreams::~GrpcUpstreams() { CancelAndWait(); }

bool GrpcUpstreams::Has(std::string_view service) const {
  return services_.find(service) != services_.end();
}

void GrpcUpstreams::CancelAndWait() { tracker_->CancelAndWait(); }

void GrpcUpstreams::Call(std::string_view service_name, const std::string& grpc_path,
                         std::shared_ptr<const Message> request, std::shared_ptr<Message> response,
                         const UpstreamCallOptions& options,
                         std::function<void(grpc::Status)> done) {
  const auto found = services_.find(service_name);
  if (found == services_.end()) {
    done(grpc::Status(grpc::StatusCode::UNAVAILABLE, "service not configured"));
    return;
  }
  Service& service = *found->second;
  struct InFlight {
    grpc::ClientContext context;
    std::shared_ptr<const Message> request;
    std::shared_ptr<Message> response;
    std::function<void(grpc::Status)> done;
  };
  auto call = std::make_unique<InFlight>();
  call->context.set_deadline(DeadlineIn(options.deadline));
  if (!options.traceparent.empty()) call->context.AddMetadata("traceparent", options.traceparent);
  if (!options.tracestate.empty()) call->context.AddMetadata("tracestate", options.tracestate);
  call->request = std::move(request);
  call->response = std::move(response);
  call->done = std::move(done);
  if (!tracker_->Add(&call->context)) {
    call->done(grpc::Status(grpc::StatusCode::CANCELLED, "the gateway is stopping"));
    return;
  }
  MessageStub& stub = *service.stubs[service.next.fetch_add(1) % service.stubs.size()];
  InFlight* raw = call.release();
  stub.UnaryCall(&raw->context, grpc_path, grpc::StubOptions(), raw->request.get(),
                 raw->response.get(), [raw, tracker = tracker_](grpc::Status status) {
                   std::unique_ptr<InFlight> owned(raw);
                   owned->done(std::move(status));
                   // After `done` returned: CancelAndWait must not return before it did.
                   tracker->Remove(&owned->context);
                 });
}

void GrpcUpstreams::CheckHealth(absl::Duration deadline, std::function<void(HealthReport)> done) {
  struct Join {
    absl::Mutex mu;
    HealthReport report ABSL_GUARDED_BY(mu);
    int pending ABSL_GUARDED_BY(mu) = 0;
    std::function<void(HealthReport)> done;
  };
  auto join = std::make_shared<Join>();
  join->done = std::move(done);
  {
    absl::MutexLock lock(&join->mu);
    join->pending = static_cast<int>(services_.size());
  }
  if (services_.empty()) {
    join->done({});
    return;
  }
  // Records one service's state; the last one to arrive hands the report over.
  auto record = [join](const std::string& name, const char* state) {
    bool last = false;
    HealthReport report;
    {
      absl::MutexLock lock(&join->mu);
      join->report[name] = state;
      last = --join->pending == 0;
      if (last) report = join->report;
    }
    if (last) join->done(std::move(report));
  };
  for (const auto& [name, service] : services_) {
    struct Check {
      grpc::ClientContext context;
      grpc::ByteBuffer request;
      grpc::ByteBuffer response;
    };
    auto check = std::make_shared<Check>();
    check->context.set_deadline(DeadlineIn(deadline));
    // Tracked like calls, so that shutdown waits for this callback too.
    if (!tracker_->Add(&check->context)) {
      record(name, "UNREACHABLE");
      continue;
    }
    // HealthCheckRequest{service: ""}: the server as a whole.
    grpc::Slice empty("");
    check->request = grpc::ByteBuffer(&empty, 1);
    service->health_stub->UnaryCall(
        &check->context, kHealthCheckMethod, grpc::StubOptions(), &check->request, &check->response,
        [record, check, name = name, tracker = tracker_](grpc::Status status) {
          record(name, status.ok() ? DecodeHealthResponse(check->response) : "UNREACHABLE");
          tracker->Remove(&check->context);
        });
  }
}

}  // namespace loyalty::gateway
