#pragma once

// Calls from the gateway to the services behind it: asynchronous unary calls through gRPC's
// generic stub (the request and response are whatever message the route's descriptors say), each
// with a deadline and the caller's W3C trace context, plus grpc.health.v1 checks for /readyz.
//
// Calls are asynchronous so that an HTTP worker thread never waits on a service: with a few
// threads the gateway keeps many calls in flight (bounded by the HTTP server's max_in_flight).

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "grpcpp/support/status.h"

namespace loyalty::gateway {

struct UpstreamCallOptions {
  // Relative to the start of the call.
  absl::Duration deadline = absl::Seconds(3);
  // Sent as gRPC metadata "traceparent" / "tracestate" when not empty.
  std::string traceparent;
  std::string tracestate;
};

// "SERVING", "NOT_SERVING", "UNKNOWN", "SERVICE_UNKNOWN" (grpc.health.v1), or "UNREACHABLE" when
// the check itself failed.
using HealthReport = std::map<std::string, std::string>;

// What the gateway needs of its upstreams; GrpcUpstreams below is the real one, tests substitute
// fakes.
class Upstreams {
 public:
  virtual ~Upstreams() = default;

  // Whether `service` ("members") has an address (it may still be down).
  virtual bool Has(std::string_view service) const = 0;

  // Calls `grpc_path` ("/loyalty.members.v1.MembersService/GetMember") on `service`, which must
  // be one Has() accepts. `done` runs exactly once, on a gRPC thread, after `response` was
  // filled; it must not block (it may print the answer, but anything that waits goes to an
  // executor).
  virtual void Call(std::string_view service, const std::string& grpc_path,
                    std::shared_ptr<const google::protobuf::Message> request,
                    std::shared_ptr<google::protobuf::Message> response,
                    const UpstreamCallOptions& options, std::function<void(grpc::Status)> done) = 0;

  // Checks every service with an address, concurrently, each within `deadline`; `done` gets one
  // entry per service and runs once, on a gRPC thread.
  virtual void CheckHealth(absl::Duration deadline, std::function<void(HealthReport)> done) = 0;
};

class GrpcUpstreams final : public Upstreams {
 public:
  // One entry per service: name -> gRPC target. `channels` connections per service spread the
  // load over several HTTP/2 connections (one connection serialises on one event-loop thread).
  GrpcUpstreams(const std::map<std::string, std::string>& targets, int channels);
  // Cancels what is still in flight and waits for those calls to finish (CancelAndWait).
  ~GrpcUpstreams() override;

  bool Has(std::string_view service) const override;
  void Call(std::string_view service, const std::string& grpc_path,
            std::shared_ptr<const google::protobuf::Message> request,
            std::shared_ptr<google::protobuf::Message> response, const UpstreamCallOptions& options,
            std::function<void(grpc::Status)> done) override;
  void CheckHealth(absl::Duration deadline, std::function<void(HealthReport)> done) override;

  // Cancels every call in flight and returns once all their `done` callbacks have returned, so
  // whatever they reference may then be destroyed. New calls fail with CANCELLED afterwards.
  void CancelAndWait();

  struct Service;
  struct Tracker;

 private:
  std::map<std::string, std::unique_ptr<Service>, std::less<>> services_;
  std::shared_ptr<Tracker> tracker_;
};

}  // namespace loyalty::gateway
