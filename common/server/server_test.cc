#include "common/server/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/server/request_context.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/client_callback.h"
#include "gtest/gtest.h"
#include "loyalty/test/v1/probe.grpc.pb.h"
#include "prometheus/counter.h"

namespace loyalty::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;

MATCHER_P(IsOkAndHolds, value, "is OK and holds " + ::testing::PrintToString(value)) {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status();
    return false;
  }
  *result_listener << "holds " << *arg;
  return *arg == value;
}

constexpr char kProbeService[] = "loyalty.test.v1.Probe";
constexpr char kHealthCheck[] = "/grpc.health.v1.Health/Check";
constexpr char kHealthWatch[] = "/grpc.health.v1.Health/Watch";
constexpr char kReflection[] = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

// grpc.health.v1.HealthCheckResponse.ServingStatus values.
constexpr int kServing = 1;
constexpr int kNotServing = 2;

constexpr absl::Duration kCallTimeout = absl::Seconds(10);

using test::v1::Probe;
using test::v1::ProbeRequest;
using test::v1::ProbeResponse;

class ProbeService final : public Probe::Service {
 public:
  grpc::Status Echo(grpc::ServerContext*, const ProbeRequest* request,
                    ProbeResponse* response) override {
    response->set_text(request->text());
    return grpc::Status::OK;
  }

  grpc::Status Fail(grpc::ServerContext*, const ProbeRequest*, ProbeResponse*) override {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "probe failure");
  }

  grpc::Status Slow(grpc::ServerContext*, const ProbeRequest*, ProbeResponse*) override {
    started.Notify();
    absl::SleepFor(absl::Milliseconds(300));
    return grpc::Status::OK;
  }

  grpc::Status UntilCancelled(grpc::ServerContext* context, const ProbeRequest*,
                              ProbeResponse*) override {
    started.Notify();
    const absl::Time give_up = absl::Now() + kCallTimeout;
    while (!context->IsCancelled() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
    saw_cancel = context->IsCancelled();
    return grpc::Status::OK;
  }

  grpc::Status TraceParent(grpc::ServerContext* context, const ProbeRequest*,
                           ProbeResponse* response) override {
    response->set_text(IncomingTraceParent(*context).value_or("none"));
    return grpc::Status::OK;
  }

  grpc::Status Count(grpc::ServerContext*, const ProbeRequest* request,
                     grpc::ServerWriter<ProbeResponse>* writer) override {
    ProbeResponse response;
    for (int i = 0; i < request->count(); ++i) {
      response.set_text(absl::StrCat(i));
      if (!writer->Write(response)) break;
    }
    return grpc::Status::OK;
  }

  // Notified when Slow or UntilCancelled starts.
  absl::Notification started;
  std::atomic<bool> saw_cancel = false;
};

grpc::ByteBuffer ToByteBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::string ToString(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (!buffer.Dump(&slices).ok()) return bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return bytes;
}

void SetDeadline(grpc::ClientContext& context) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + kCallTimeout));
}

std::shared_ptr<grpc::Channel> Connect(int port) {
  return grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
}

// Calls a unary Probe method, e.g. Call(channel, &Probe::Stub::Echo, "ping").
using UnaryProbeMethod = grpc::Status (Probe::Stub::*)(grpc::ClientContext*, const ProbeRequest&,
                                                       ProbeResponse*);
grpc::Status Call(const std::shared_ptr<grpc::Channel>& channel, UnaryProbeMethod method,
                  const std::string& text = "", ProbeResponse* response = nullptr,
                  const std::multimap<std::string, std::string>& metadata = {}) {
  std::unique_ptr<Probe::Stub> stub = Probe::NewStub(channel);
  grpc::ClientContext context;
  SetDeadline(context);
  for (const auto& [key, value] : metadata) context.AddMetadata(key, value);
  ProbeRequest request;
  request.set_text(text);
  ProbeResponse ignored;
  return ((*stub).*method)(&context, request, response == nullptr ? &ignored : response);
}

// Calls `method` with raw bytes through the generic stub: the health protos are not generated
// here, and unknown methods have no stub.
grpc::Status CallRaw(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                     const std::string& request, std::string* response = nullptr) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  SetDeadline(context);
  const grpc::ByteBuffer request_buffer = ToByteBuffer(request);
  grpc::ByteBuffer response_buffer;
  grpc::Status status;
  absl::Notification done;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request_buffer, &response_buffer,
                 [&](grpc::Status call_status) {
                   status = std::move(call_status);
                   done.Notify();
                 });
  done.WaitForNotification();
  if (response != nullptr) *response = ToString(response_buffer);
  return status;
}

// HealthCheckRequest{service: `service`}: field 1, length-delimited (names here are < 128 bytes).
std::string HealthRequest(const std::string& service) {
  if (service.empty()) return "";
  return absl::StrCat("\x0a", std::string(1, static_cast<char>(service.size())), service);
}

// The status (field 1, varint) of a HealthCheckResponse; proto3 omits 0 (UNKNOWN).
int HealthStatusOf(const std::string& response) {
  if (response.size() < 2 || response[0] != '\x08') return 0;
  return static_cast<unsigned char>(response[1]);
}

// The serving status for `service`, or the call's error.
absl::StatusOr<int> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                const std::string& service) {
  std::string response;
  const grpc::Status status = CallRaw(channel, kHealthCheck, HealthRequest(service), &response);
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  }
  return HealthStatusOf(response);
}

// A streaming call with raw bytes that sends one request, half-closes, and collects every
// response.
class StreamCollector final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  StreamCollector(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                  const std::string& request)
      : stub_(channel), request_(ToByteBuffer(request)) {
    SetDeadline(context_);
    stub_.PrepareBidiStreamingCall(&context_, method, grpc::StubOptions(), this);
    StartWriteLast(&request_, grpc::WriteOptions());
    StartRead(&response_);
    StartCall();
  }

  // The reactor must outlive the call.
  ~StreamCollector() override { WaitForDone(); }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    {
      absl::MutexLock lock(&mu_);
      responses_.push_back(ToString(response_));
    }
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    status_ = status;
  }

  // The responses so far, once there are at least `count` (or after the call timeout).
  std::vector<std::string> WaitForResponses(size_t count) {
    absl::MutexLock lock(&mu_);
    const auto enough = [&] { return responses_.size() >= count; };
    mu_.AwaitWithTimeout(absl::Condition(&enough), kCallTimeout);
    return responses_;
  }

  // The call's status, once it has ended (nullopt after the call timeout).
  std::optional<grpc::Status> WaitForDone() {
    absl::MutexLock lock(&mu_);
    const auto done = [&] { return status_.has_value(); };
    mu_.AwaitWithTimeout(absl::Condition(&done), kCallTimeout);
    return status_;
  }

 private:
  grpc::GenericStub stub_;
  grpc::ClientContext context_;
  const grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  absl::Mutex mu_;
  std::vector<std::string> responses_ ABSL_GUARDED_BY(mu_);
  std::optional<grpc::Status> status_ ABSL_GUARDED_BY(mu_);
};

// GET http://127.0.0.1:<port><path> over a plain socket; returns the body.
absl::StatusOr<std::string> HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket");
  const timeval timeout = {.tv_sec = 5, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return absl::UnavailableError("connect");
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  if (send(fd, request.data(), request.size(), 0) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return absl::UnavailableError("send");
  }
  std::string reply;
  char chunk[4096];
  ssize_t n;
  while ((n = recv(fd, chunk, sizeof(chunk), 0)) > 0) reply.append(chunk, n);
  close(fd);
  const size_t body = reply.find("\r\n\r\n");
  if (reply.rfind("HTTP/1.1 200", 0) != 0 || body == std::string::npos) {
    return absl::UnavailableError(absl::StrCat("bad reply: ", reply.substr(0, 100)));
  }
  return reply.substr(body + 4);
}

// The value of the sample `name{labels}` in a Prometheus text exposition, matching the labels
// exactly (in any order).
std::optional<double> Sample(const std::string& exposition, const std::string& name,
                             const std::map<std::string, std::string>& labels) {
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (line.empty() || line.front() == '#') continue;
    const size_t open = line.find('{');
    const size_t space = line.rfind(' ');
    if (space == absl::string_view::npos) continue;
    const absl::string_view sample_name = line.substr(0, std::min(open, space));
    if (sample_name != name) continue;
    std::map<std::string, std::string> sample_labels;
    if (open != absl::string_view::npos) {
      const absl::string_view inside = line.substr(open + 1, line.rfind('}') - open - 1);
      for (absl::string_view pair : absl::StrSplit(inside, ',', absl::SkipEmpty())) {
        const std::pair<std::string, std::string> kv =
            absl::StrSplit(pair, absl::MaxSplits('=', 1));
        sample_labels[kv.first] =
            std::string(absl::StripPrefix(absl::StripSuffix(kv.second, "\""), "\""));
      }
    }
    if (sample_labels == labels) return std::stod(std::string(line.substr(space + 1)));
  }
  return std::nullopt;
}

std::map<std::string, std::string> MethodLabels(const std::string& service,
                                                const std::string& method,
                                                const std::string& type = "unary") {
  return {{"grpc_service", service}, {"grpc_method", method}, {"grpc_type", type}};
}

std::map<std::string, std::string> With(std::map<std::string, std::string> labels,
                                        const std::string& key, const std::string& value) {
  labels[key] = value;
  return labels;
}

std::unique_ptr<GrpcServer> StartOrNull(const ServerOptions& options,
                                        std::vector<grpc::Service*> services) {
  absl::StatusOr<std::unique_ptr<GrpcServer>> server =
      GrpcServer::Start(options, std::move(services));
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

// No metrics endpoint unless a test needs one: stopping civetweb takes up to 2 s.
ServerOptions TestOptions() {
  return {.service_name = "probe-svc", .listen_address = "127.0.0.1", .metrics_port = -1};
}

ServerOptions TestOptionsWithMetrics() {
  ServerOptions options = TestOptions();
  options.metrics_port = 0;
  return options;
}

TEST(GrpcServer, HealthCheckAnswersServingForServerAndEachService) {
  ProbeService probe;
  std::unique_ptr<GrpcServer> server = StartOrNull(TestOptions(), {&probe});
  ASSERT_NE(server, nullptr);
  EXPECT_GT(server->grpc_port(), 0);
  const std::shared_ptr<grpc::Channel> channel = Connect(server->grpc_port());

  EXPECT_THAT(CheckHealth(channel, ""), IsOkAndHolds(kServing));
  EXPECT_THAT(CheckHealth(channel, kProbeService), IsOkAndHolds(kServing));
  EXPECT_EQ(CheckHealth(channel, "loyalty.test.v1.Absent").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(GrpcServer, HealthCheckWorksWithNoServices) {
  std::unique_ptr<GrpcServer> server = StartOrNull(TestOptions(), {});
  ASSERT_NE(server, nullptr);

  EXPECT_THAT(CheckHealth(Connect(server->grpc_port()), ""), IsOkAndHolds(kServing));
}

TEST(GrpcServer, SetServingFalseTurnsEveryNameNotServingAndBack) {
  ProbeService probe;
  std::unique_ptr<GrpcServer> server = StartOrNull(TestOptions(), {&probe});
  ASSERT_NE(server, nullptr);
  const std::shared_ptr<grpc::Channel> channel = Connect(server->grpc_port());

  server->SetServing(false);
  EXPECT_THAT(CheckHealth(channel, ""), IsOkAndHolds(kNotServing));
  EXPECT_THAT(CheckHealth(channel, kProbeService), IsOkAndHolds(kNotServing));

  server->SetServing(true);
  EXPECT_THAT(CheckHealth(channel, ""), IsOkAndHolds(kServing));
  EXPECT_THAT(CheckHealth(channel, kProbeService), IsOkAndHolds(kServing));
}

TEST(GrpcServer, ReflectionListsTheRegisteredService) {
  ProbeService probe;
  std::unique_ptr<GrpcServer> server = StartOrNull(TestOptions(), {&probe});
  ASSERT_NE(server, nullptr);

  // ServerReflectionRequest{list_services: ""}: field 7, length-delimited, empty.
  StreamCollector reflection(Connect(server->grpc_port()), kReflection, std::string("\x3a\x00", 2));
  const std::optional<grpc::Status> status = reflection.WaitForDone();
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->ok()) << status->error_message();
  const std::vector<std::string> responses = reflection.WaitForResponses(1);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_THAT(responses[0], HasSubstr(kProbeService));
}

TEST(GrpcServer, MetricsEndpointCountsRpcsByMethodAndCode) {
  ProbeService probe;
  ServerOptions options = TestOptionsWithMetrics();
  options.version = "1.2.3";
  std::unique_ptr<GrpcServer> server = StartOrNull(options, {&probe});
  ASSERT_NE(server, nullptr);
  const std::shared_ptr<grpc::Channel> channel = Connect(server->grpc_port());

  for (int i = 0; i < 3; ++i) {
    ProbeResponse response;
    const grpc::Status status = Call(channel, &Probe::Stub::Echo, "ping", &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.text(), "ping");
  }
  EXPECT_EQ(Call(channel, &Probe::Stub::Fail).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  {
    std::unique_ptr<Probe::Stub> stub = Probe::NewStub(channel);
    grpc::ClientContext context;
    SetDeadline(context);
    ProbeRequest request;
    request.set_count(2);
    std::unique_ptr<grpc::ClientReader<ProbeResponse>> reader = stub->Count(&context, request);
    ProbeResponse response;
    while (reader->Read(&response)) {
    }
    ASSERT_TRUE(reader->Finish().ok());
  }
  ASSERT_THAT(CheckHealth(channel, ""), IsOkAndHolds(kServing));

  const absl::StatusOr<std::string> exposition = HttpGet(server->metrics_port(), "/metrics");
  ASSERT_TRUE(exposition.ok()) << exposition.status();

  const auto echo = MethodLabels(kProbeService, "Echo");
  EXPECT_THAT(Sample(*exposition, "grpc_server_started_total", echo), Optional(3.0));
  EXPECT_THAT(Sample(*exposition, "grpc_server_handled_total", With(echo, "grpc_code", "OK")),
              Optional(3.0));
  EXPECT_THAT(Sample(*exposition, "grpc_server_handled_total",
                     With(echo, "grpc_code", "FailedPrecondition")),
              Optional(0.0));
  EXPECT_THAT(Sample(*exposition, "grpc_server_handling_seconds_count", echo), Optional(3.0));
  EXPECT_THAT(Sample(*exposition, "grpc_server_handling_seconds_bucket", With(echo, "le", "+Inf")),
              Optional(3.0));
  EXPECT_THAT(Sample(*exposition, "grpc_server_handling_seconds_bucket", With(echo, "le", "10")),
              Optional(3.0));

  const auto fail = MethodLabels(kProbeService, "Fail");
  EXPECT_THAT(Sample(*exposition, "grpc_server_started_total", fail), Optional(1.0));
  EXPECT_THAT(Sample(*exposition, "grpc_server_handled_total",
                     With(fail, "grpc_code", "FailedPrecondition")),
              Optional(1.0));
  EXPECT_THAT(Sample(*exposition, "grpc_server_handled_total", With(fail, "grpc_code", "OK")),
              Optional(0.0));

  const auto count = MethodLabels(kProbeService, "Count", "server_stream");
  EXPECT_THAT(Sample(*exposition, "grpc_server_handled_total", With(count, "grpc_code", "OK")),
              Optional(1.0));

  // Registered but never called: present at zero.
  EXPECT_THAT(
      Sample(*exposition, "grpc_server_started_total", MethodLabels(kProbeService, "TraceParent")),
      Optional(0.0));

  const auto check = MethodLabels("grpc.health.v1.Health", "Check");
  EXPECT_THAT(Sample(*exposition, "grpc_server_handled_total", With(check, "grpc_code", "OK")),
              Optional(1.0));

  EXPECT_THAT(
      Sample(*exposition, "loyalty_build_info", {{"service", "probe-svc"}, {"version", "1.2.3"}}),
      Optional(1.0));
}

TEST(GrpcServer, UnknownMethodsAreCountedUnimplementedUnderOneUnknownLabel) {
  ProbeService probe;
  std::unique_ptr<GrpcServer> server = StartOrNull(TestOptionsWithMetrics(), {&probe});
  ASSERT_NE(server, nullptr);
  const std::shared_ptr<grpc::Channel> channel = Connect(server->grpc_port());

  EXPECT_EQ(CallRaw(channel, "/loyalty.test.v1.Probe/Absent", "").error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(CallRaw(channel, "/loyalty.test.v1.Nothing/Here", "").error_code(),
            grpc::StatusCode::UNIMPLEMENTED);

  const absl::StatusOr<std::string> exposition = HttpGet(server->metrics_port(), "/metrics");
  ASSERT_TRUE(exposition.ok()) << exposition.status();
  const auto unknown = MethodLabels("unknown", "unknown", "bidi_stream");
  EXPECT_THAT(Sample(*exposition, "grpc_server_started_total", unknown), Optional(2.0));
  EXPECT_THAT(
      Sample(*exposition, "grpc_server_handled_total", With(unknown, "grpc_code", "Unimplemented")),
      Optional(2.0));
  EXPECT_THAT(*exposition, Not(HasSubstr("Absent")));
  EXPECT_THAT(*exposition, Not(HasSubstr("Nothing")));
}

TEST(GrpcServer, CallsBeyondMaxThreadsAreRejectedResourceExhausted) {
  ProbeService probe;
  ServerOptions options = TestOptionsWithMetrics();
  options.max_threads = 2;
  std::unique_ptr<GrpcServer> server = StartOrNull(options, {&probe});
  ASSERT_NE(server, nullptr);
  const std::shared_ptr<grpc::Channel> channel = Connect(server->grpc_port());
  // Connect without a call: a thread that has just sent a response may not be back in the quota
  // yet, which would make the next step race.
  ASSERT_TRUE(channel->WaitForConnected(absl::ToChronoTime(absl::Now() + kCallTimeout)));

  // The first thread takes Slow and starts a second to poll; no third may run Echo.
  std::jthread slow([&] { EXPECT_TRUE(Call(channel, &Probe::Stub::Slow).ok()); });
  ASSERT_TRUE(probe.started.WaitForNotificationWithTimeout(kCallTimeout));
  EXPECT_EQ(Call(channel, &Probe::Stub::Echo).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  slow.join();

  const absl::StatusOr<std::string> exposition = HttpGet(server->metrics_port(), "/metrics");
  ASSERT_TRUE(exposition.ok()) << exposition.status();
  EXPECT_THAT(Sample(*exposition, "grpc_server_handled_total",
                     With(MethodLabels(kProbeService, "Echo"), "grpc_code", "ResourceExhausted")),
              Optional(1.0));
  EXPECT_THAT(Sample(*exposition, "grpc_server_handled_total",
                     With(MethodLabels(kProbeService, "Slow"), "grpc_code", "OK")),
              Optional(1.0));
}

TEST(GrpcServer, ShutdownLetsInFlightCallFinishAndIsIdempotent) {
  ProbeService probe;
  std::unique_ptr<GrpcServer> server = StartOrNull(TestOptions(), {&probe});
  ASSERT_NE(server, nullptr);
  const std::shared_ptr<grpc::Channel> channel = Connect(server->grpc_port());

  grpc::Status slow_status;
  std::jthread slow([&] { slow_status = Call(channel, &Probe::Stub::Slow); });
  ASSERT_TRUE(probe.started.WaitForNotificationWithTimeout(kCallTimeout));
  const absl::Time start = absl::Now();
  server->Shutdown();
  const absl::Duration took = absl::Now() - start;
  slow.join();

  EXPECT_TRUE(slow_status.ok()) << slow_status.error_message();
  EXPECT_LT(took, TestOptions().shutdown_grace);
  server->Shutdown();
  EXPECT_EQ(Call(channel, &Probe::Stub::Echo).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST(GrpcServer, ShutdownCancelsCallsStillRunningAfterTheGrace) {
  ProbeService probe;
  ServerOptions options = TestOptions();
  options.shutdown_grace = absl::Milliseconds(200);
  std::unique_ptr<GrpcServer> server = StartOrNull(options, {&probe});
  ASSERT_NE(server, nullptr);
  const std::shared_ptr<grpc::Channel> channel = Connect(server->grpc_port());

  grpc::Status stuck_status;
  std::jthread stuck([&] { stuck_status = Call(channel, &Probe::Stub::UntilCancelled); });
  ASSERT_TRUE(probe.started.WaitForNotificationWithTimeout(kCallTimeout));
  const absl::Time start = absl::Now();
  server->Shutdown();
  const absl::Duration took = absl::Now() - start;
  stuck.join();

  EXPECT_TRUE(probe.saw_cancel);
  EXPECT_GE(took, absl::Milliseconds(200));
  EXPECT_LT(took, absl::Seconds(5));
  // What gRPC's cancel-all tells the caller: retryable, on another replica.
  EXPECT_EQ(stuck_status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << stuck_status.error_message();
}

TEST(GrpcServer, ShutdownTellsHealthWatchersNotServingThenEndsTheirStreamsAtTheGrace) {
  ProbeService probe;
  ServerOptions options = TestOptions();
  options.shutdown_grace = absl::Milliseconds(300);
  std::unique_ptr<GrpcServer> server = StartOrNull(options, {&probe});
  ASSERT_NE(server, nullptr);

  StreamCollector watch(Connect(server->grpc_port()), kHealthWatch, HealthRequest(kProbeService));
  ASSERT_EQ(watch.WaitForResponses(1).size(), 1u);
  const absl::Time start = absl::Now();
  server->Shutdown();
  const absl::Duration took = absl::Now() - start;

  std::vector<int> statuses;
  for (const std::string& response : watch.WaitForResponses(2)) {
    statuses.push_back(HealthStatusOf(response));
  }
  EXPECT_THAT(statuses, ElementsAre(kServing, kNotServing));
  // gRPC 1.51 keeps Watch streams open after NOT_SERVING; the grace ends them.
  const std::optional<grpc::Status> status = watch.WaitForDone();
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->error_code(), grpc::StatusCode::UNAVAILABLE) << status->error_message();
  EXPECT_GE(took, options.shutdown_grace);
  EXPECT_LT(took, absl::Seconds(5));
}

TEST(GrpcServer, GrpcPortInUseFailsUnavailable) {
  std::unique_ptr<GrpcServer> first = StartOrNull(TestOptions(), {});
  ASSERT_NE(first, nullptr);

  ServerOptions options = TestOptions();
  options.grpc_port = first->grpc_port();
  const absl::StatusOr<std::unique_ptr<GrpcServer>> second = GrpcServer::Start(options, {});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
}

TEST(GrpcServer, MetricsPortInUseFailsUnavailable) {
  std::unique_ptr<GrpcServer> first = StartOrNull(TestOptionsWithMetrics(), {});
  ASSERT_NE(first, nullptr);

  ServerOptions options = TestOptions();
  options.metrics_port = first->metrics_port();
  const absl::StatusOr<std::unique_ptr<GrpcServer>> second = GrpcServer::Start(options, {});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
}

TEST(GrpcServer, MetricsPortZeroPicksAFreePort) {
  std::unique_ptr<GrpcServer> server = StartOrNull(TestOptionsWithMetrics(), {});
  ASSERT_NE(server, nullptr);

  EXPECT_GT(server->metrics_port(), 0);
  EXPECT_NE(server->metrics_port(), server->grpc_port());
}

TEST(GrpcServer, MetricsPortMinusOneServesNoMetrics) {
  std::unique_ptr<GrpcServer> server = StartOrNull(TestOptions(), {});
  ASSERT_NE(server, nullptr);

  EXPECT_EQ(server->metrics_port(), -1);
  EXPECT_THAT(CheckHealth(Connect(server->grpc_port()), ""), IsOkAndHolds(kServing));
}

TEST(GrpcServer, RegistryServesTheServicesOwnMetrics) {
  std::unique_ptr<GrpcServer> server = StartOrNull(TestOptionsWithMetrics(), {});
  ASSERT_NE(server, nullptr);

  prometheus::BuildCounter()
      .Name("loyalty_points_earned_total")
      .Help("Points earned.")
      .Register(server->registry())
      .Add({})
      .Increment(5);

  const absl::StatusOr<std::string> exposition = HttpGet(server->metrics_port(), "/metrics");
  ASSERT_TRUE(exposition.ok()) << exposition.status();
  EXPECT_THAT(Sample(*exposition, "loyalty_points_earned_total", {}), Optional(5.0));
}

TEST(GrpcServer, OptionsOutOfRangeFailInvalidArgument) {
  const auto start_code = [](const ServerOptions& options) {
    return GrpcServer::Start(options, {}).status().code();
  };
  ServerOptions options = TestOptions();
  options.service_name = "";
  EXPECT_EQ(start_code(options), absl::StatusCode::kInvalidArgument);
  options = TestOptions();
  options.max_threads = 1;
  EXPECT_EQ(start_code(options), absl::StatusCode::kInvalidArgument);
  options = TestOptions();
  options.grpc_port = 65536;
  EXPECT_EQ(start_code(options), absl::StatusCode::kInvalidArgument);
  options = TestOptions();
  options.metrics_port = -2;
  EXPECT_EQ(start_code(options), absl::StatusCode::kInvalidArgument);
  options = TestOptions();
  options.max_receive_message_bytes = 0;
  EXPECT_EQ(start_code(options), absl::StatusCode::kInvalidArgument);
  options = TestOptions();
  options.shutdown_grace = absl::Seconds(-1);
  EXPECT_EQ(start_code(options), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GrpcServer::Start(TestOptions(), {nullptr}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(IncomingTraceParent, ReturnsTheCallersHeaderOrNothing) {
  ProbeService probe;
  std::unique_ptr<GrpcServer> server = StartOrNull(TestOptions(), {&probe});
  ASSERT_NE(server, nullptr);
  const std::shared_ptr<grpc::Channel> channel = Connect(server->grpc_port());
  const std::string traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  ProbeResponse response;

  ASSERT_TRUE(
      Call(channel, &Probe::Stub::TraceParent, "", &response, {{"traceparent", traceparent}}).ok());
  EXPECT_EQ(response.text(), traceparent);

  ASSERT_TRUE(Call(channel, &Probe::Stub::TraceParent, "", &response).ok());
  EXPECT_EQ(response.text(), "none");

  ASSERT_TRUE(Call(channel, &Probe::Stub::TraceParent, "", &response,
                   {{"traceparent", std::string(kTraceParentSizeMax + 1, 'a')}})
                  .ok());
  EXPECT_EQ(response.text(), "none");
}

}  // namespace
}  // namespace loyalty::server
