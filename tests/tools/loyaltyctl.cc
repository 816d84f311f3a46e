// loyaltyctl: a small gRPC client for development, scripts/run and smoke tests (grpcurl is in
// neither Debian nor npm). It knows every loyalty proto linked into it, so requests and answers
// are JSON in the canonical proto3 mapping.
//
//   loyaltyctl [--addr=HOST:PORT] [--deadline-ms=N] health [SERVICE]
//   loyaltyctl [--addr=HOST:PORT] [--deadline-ms=N] call PACKAGE.SERVICE/METHOD 'JSON'
//   loyaltyctl [--addr=HOST:PORT] wait-healthy SECONDS
//
// Exit codes: 0 success; 1 the call failed (the google.rpc.Status is printed as JSON on
// stderr); 2 usage error.

#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <iostream>
#include <string>
#include <thread>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/util/json_util.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "loyalty/members/v1/members_service.grpc.pb.h"
#include "loyalty/points/v1/points_service.grpc.pb.h"

namespace {

using google::protobuf::Message;
using MessageStub = grpc::TemplatedGenericStub<Message, Message>;

struct Options {
  std::string address = "127.0.0.1:50051";
  int deadline_ms = 10000;
};

int Usage() {
  std::fprintf(stderr,
               "usage: loyaltyctl [--addr=HOST:PORT] [--deadline-ms=N] health [SERVICE]\n"
               "       loyaltyctl [--addr=HOST:PORT] [--deadline-ms=N] call SERVICE/METHOD JSON\n"
               "       loyaltyctl [--addr=HOST:PORT] wait-healthy SECONDS\n");
  return 2;
}

grpc::Status Invoke(MessageStub& stub, const Options& options, const std::string& method,
                    const Message& request, Message& response) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(options.deadline_ms));
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status status) { done.set_value(std::move(status)); });
  return done.get_future().get();
}

void PrintError(const grpc::Status& status) {
  google::rpc::Status rpc_status;
  if (!status.error_details().empty() && rpc_status.ParseFromString(status.error_details())) {
    std::string json;
    if (google::protobuf::util::MessageToJsonString(rpc_status, &json).ok()) {
      std::fprintf(stderr, "%s\n", json.c_str());
      return;
    }
  }
  std::fprintf(stderr, "{\"code\":%d,\"message\":\"%s\"}\n", static_cast<int>(status.error_code()),
               status.error_message().c_str());
}

// grpc.health.v1 is not generated here; its two messages are one field each, encoded by hand:
// HealthCheckRequest{string service = 1}, HealthCheckResponse{ServingStatus status = 1}.
int Health(MessageStub&, const Options& options, const std::string& service, bool quiet) {
  auto channel = grpc::CreateChannel(options.address, grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  std::string request;
  if (!service.empty()) {
    request.push_back(0x0a);
    request.push_back(static_cast<char>(service.size()));
    request += service;
  }
  grpc::Slice slice(request);
  grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::ByteBuffer response_buffer;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(options.deadline_ms));
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request_buffer,
                 &response_buffer, [&done](grpc::Status status) { done.set_value(status); });
  grpc::Status status = done.get_future().get();
  if (!status.ok()) {
    if (!quiet) PrintError(status);
    return 1;
  }
  std::vector<grpc::Slice> slices;
  (void)response_buffer.Dump(&slices);
  std::string bytes;
  for (const grpc::Slice& s : slices)
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  const int serving = bytes.size() == 2 && bytes[0] == 0x08 ? bytes[1] : 0;
  static const char* kNames[] = {"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"};
  if (!quiet) std::printf("%s\n", serving >= 0 && serving <= 3 ? kNames[serving] : "UNKNOWN");
  return serving == 1 ? 0 : 1;
}

int Call(MessageStub& stub, const Options& options, const std::string& full_method,
         const std::string& json) {
  const std::string::size_type slash = full_method.find('/');
  if (slash == std::string::npos) return Usage();
  const google::protobuf::DescriptorPool* pool = google::protobuf::DescriptorPool::generated_pool();
  const google::protobuf::ServiceDescriptor* service =
      pool->FindServiceByName(full_method.substr(0, slash));
  const google::protobuf::MethodDescriptor* method =
      service == nullptr ? nullptr : service->FindMethodByName(full_method.substr(slash + 1));
  if (method == nullptr) {
    std::fprintf(stderr, "loyaltyctl: unknown method %s\n", full_method.c_str());
    return 2;
  }
  google::protobuf::MessageFactory* factory = google::protobuf::MessageFactory::generated_factory();
  std::unique_ptr<Message> request(factory->GetPrototype(method->input_type())->New());
  std::unique_ptr<Message> response(factory->GetPrototype(method->output_type())->New());
  if (auto parsed = google::protobuf::util::JsonStringToMessage(json, request.get());
      !parsed.ok()) {
    std::fprintf(stderr, "loyaltyctl: bad request JSON: %s\n", parsed.ToString().c_str());
    return 2;
  }
  grpc::Status status =
      Invoke(stub, options, "/" + service->full_name() + "/" + method->name(), *request, *response);
  if (!status.ok()) {
    PrintError(status);
    return 1;
  }
  google::protobuf::util::JsonPrintOptions print;
  print.add_whitespace = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(*response, &out, print);
  std::printf("%s", out.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Touch each service's descriptor so its generated code is linked in and registered in the
  // generated pool that `call` looks methods up in.
  (void)loyalty::members::v1::MembersService::service_full_name();
  (void)loyalty::members::v1::EnrollMemberRequest::descriptor();
  (void)loyalty::points::v1::PointsService::service_full_name();
  (void)loyalty::points::v1::RecordPurchaseRequest::descriptor();
  (void)google::rpc::ErrorInfo::descriptor();
  (void)google::rpc::BadRequest::descriptor();
  Options options;
  int i = 1;
  for (; i < argc && std::strncmp(argv[i], "--", 2) == 0; ++i) {
    if (std::strncmp(argv[i], "--addr=", 7) == 0) {
      options.address = argv[i] + 7;
    } else if (std::strncmp(argv[i], "--deadline-ms=", 14) == 0) {
      options.deadline_ms = std::atoi(argv[i] + 14);
      if (options.deadline_ms <= 0) return Usage();
    } else {
      return Usage();
    }
  }
  if (i >= argc) return Usage();
  const std::string command = argv[i];
  auto channel = grpc::CreateChannel(options.address, grpc::InsecureChannelCredentials());
  MessageStub stub(channel);
  if (command == "health" && argc - i <= 2) {
    return Health(stub, options, argc - i == 2 ? argv[i + 1] : "", /*quiet=*/false);
  }
  if (command == "wait-healthy" && argc - i == 2) {
    const int seconds = std::atoi(argv[i + 1]);
    options.deadline_ms = 1000;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < until) {
      if (Health(stub, options, "", /*quiet=*/true) == 0) return 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    std::fprintf(stderr, "loyaltyctl: %s not healthy after %d s\n", options.address.c_str(),
                 seconds);
    return 1;
  }
  if (command == "call" && argc - i == 3) return Call(stub, options, argv[i + 1], argv[i + 2]);
  return Usage();
}
