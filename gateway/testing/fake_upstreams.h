#pragma once

// Upstreams for unit tests: answers come from a function, synchronously, and every call is
// recorded with the request and the options it was sent with.

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gateway/upstream/upstreams.h"
#include "google/protobuf/message.h"

namespace loyalty::gateway::testing {

class FakeUpstreams final : public Upstreams {
 public:
  using Answer = std::function<grpc::Status(const std::string& grpc_path,
                                            const google::protobuf::Message& request,
                                            google::protobuf::Message& response)>;
  struct RecordedCall {
    std::string service;
    std::string grpc_path;
    std::shared_ptr<const google::protobuf::Message> request;
    UpstreamCallOptions options;
  };

  explicit FakeUpstreams(std::set<std::string> services) : services_(std::move(services)) {}

  void SetAnswer(Answer answer) { answer_ = std::move(answer); }
  void SetHealth(HealthReport report) { health_ = std::move(report); }

  bool Has(std::string_view service) const override {
    return services_.count(std::string(service)) > 0;
  }

  void Call(std::string_view service, const std::string& grpc_path,
            std::shared_ptr<const google::protobuf::Message> request,
            std::shared_ptr<google::protobuf::Message> response, const UpstreamCallOptions& options,
            std::function<void(grpc::Status)> done) override {
    {
      absl::MutexLock lock(&mu_);
      calls_.push_back({std::string(service), grpc_path, request, options});
    }
    grpc::Status status = answer_ ? answer_(grpc_path, *request, *response) : grpc::Status::OK;
    done(std::move(status));
  }

  void CheckHealth(absl::Duration, std::function<void(HealthReport)> done) override {
    done(health_);
  }

  std::vector<RecordedCall> calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

 private:
  std::set<std::string> services_;
  Answer answer_;
  HealthReport health_;
  mutable absl::Mutex mu_;
  std::vector<RecordedCall> calls_ ABSL_GUARDED_BY(mu_);
};

}  // namespace loyalty::gateway::testing
