// rewards-load: drives rewards-svc's RedeemReward, the whole redemption saga (stock, points-svc
// hold spent as made, voucher), at a fixed number of calls outstanding, and reports throughput and
// latency percentiles. scripts/bench-rewards runs it against a fresh platform (issue 4, "Speed").
//
//   rewards-load --rewards=HOST:PORT --points=HOST:PORT --members=HOST:PORT --program=ID
//                [--members-count=500] [--concurrency=32] [--warmup-s=3] [--duration-s=20]
//
// Setup: enrols the members (idempotently), grants each enough points for the run, creates one
// reward with unlimited stock costing 1 point. Then `concurrency` threads each keep one
// RedeemReward outstanding, each with its own request_id, members taken in turn. The last line
// of output is one JSON object: requests, ok, throughput_rps, p50, p99, max (ms), errors.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "loyalty/members/v1/members_service.grpc.pb.h"
#include "loyalty/points/v1/points_service.grpc.pb.h"
#include "loyalty/rewards/v1/rewards_service.grpc.pb.h"

namespace {

namespace mv1 = ::loyalty::members::v1;
namespace pv1 = ::loyalty::points::v1;
namespace rv1 = ::loyalty::rewards::v1;
using Clock = std::chrono::steady_clock;

constexpr int kSetupAttemptsMax = 20;
constexpr int64_t kCallDeadlineMs = 10'000;

struct Options {
  std::string rewards = "127.0.0.1:50053";
  std::string points = "127.0.0.1:50052";
  std::string members = "127.0.0.1:50051";
  std::string program = "bench";
  int64_t members_count = 500;
  int64_t concurrency = 32;
  int64_t warmup_s = 3;
  int64_t duration_s = 20;
};

bool ParseFlag(absl::string_view arg, absl::string_view name, std::string* out) {
  const std::string prefix = absl::StrCat("--", name, "=");
  if (!absl::StartsWith(arg, prefix)) return false;
  *out = std::string(arg.substr(prefix.size()));
  return true;
}

bool ParseOptions(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    std::string value;
    bool ok =
        ParseFlag(arg, "rewards", &options.rewards) || ParseFlag(arg, "points", &options.points) ||
        ParseFlag(arg, "members", &options.members) || ParseFlag(arg, "program", &options.program);
    for (auto [name, field, min, max] :
         {std::tuple{"members-count", &options.members_count, 1, 100'000},
          std::tuple{"concurrency", &options.concurrency, 1, 1024},
          std::tuple{"warmup-s", &options.warmup_s, 0, 3600},
          std::tuple{"duration-s", &options.duration_s, 1, 3600}}) {
      if (!ok && ParseFlag(arg, name, &value)) {
        ok = absl::SimpleAtoi(value, field) && *field >= min && *field <= max;
        if (!ok) std::fprintf(stderr, "rewards-load: --%s must be in [%d, %d]\n", name, min, max);
        if (!ok) return false;
      }
    }
    if (!ok) {
      std::fprintf(stderr,
                   "rewards-load: unknown argument %s (see the header of rewards_load.cc)\n",
                   argv[i]);
      return false;
    }
  }
  return true;
}

std::chrono::system_clock::time_point DeadlineIn(int64_t ms) {
  return std::chrono::system_clock::now() + std::chrono::milliseconds(ms);
}

std::shared_ptr<grpc::Channel> NewChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

// A setup call, retried while the server sheds load or starts up (every setup call is
// idempotent by its request_id).
template <typename Stub, typename Request, typename Response>
bool Setup(Stub& stub, grpc::Status (Stub::*rpc)(grpc::ClientContext*, const Request&, Response*),
           const Request& request, Response& response, const char* what) {
  for (int attempt = 1; attempt <= kSetupAttemptsMax; ++attempt) {
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(kCallDeadlineMs));
    const grpc::Status status = (stub.*rpc)(&context, request, &response);
    if (status.ok()) return true;
    if (status.error_code() != grpc::RESOURCE_EXHAUSTED &&
        status.error_code() != grpc::UNAVAILABLE) {
      std::fprintf(stderr, "rewards-load: %s failed: %s\n", what, status.error_message().c_str());
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20 * attempt));
  }
  std::fprintf(stderr, "rewards-load: %s kept failing\n", what);
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  // As in the services (common/service/service_main.cc): Debian's Abseil checks every mutex for
  // lock-order cycles, which showed in this tool's profile; the generator's CPU is taken from
  // the machine the service under test runs on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  Options options;
  if (!ParseOptions(argc, argv, options)) return 2;
  auto members = mv1::MembersService::NewStub(NewChannel(options.members));
  auto points = pv1::PointsService::NewStub(NewChannel(options.points));
  auto setup_rewards = rv1::RewardsService::NewStub(NewChannel(options.rewards));
  const int64_t redemptions_max = (options.warmup_s + options.duration_s) * 20'000;
  const int64_t grant = redemptions_max / options.members_count + 1000;

  // Members and their points, a few threads at a time.
  std::vector<std::string> ids(static_cast<size_t>(options.members_count));
  std::atomic<int64_t> next{0};
  std::atomic<bool> setup_ok{true};
  std::vector<std::thread> setup;
  for (int t = 0; t < 8; ++t) {
    setup.emplace_back([&] {
      for (int64_t i = next++; i < options.members_count && setup_ok; i = next++) {
        mv1::EnrollMemberRequest enrol;
        enrol.set_program(options.program);
        enrol.set_request_id(absl::StrCat("rewards-load-enrol-", i));
        enrol.mutable_profile()->set_email(absl::StrCat("rewards-load-", i, "@load.example.com"));
        mv1::EnrollMemberResponse enrolled;
        if (!Setup(*members, &mv1::MembersService::Stub::EnrollMember, enrol, enrolled,
                   "EnrollMember")) {
          setup_ok = false;
          return;
        }
        ids[static_cast<size_t>(i)] = enrolled.member().id();
        pv1::AdjustPointsRequest adjust;
        adjust.set_program(options.program);
        adjust.set_member(enrolled.member().id());
        adjust.set_request_id(absl::StrCat("rewards-load-grant-", i, "-", grant));
        adjust.set_points(grant);
        adjust.set_reason("rewards-load grant");
        pv1::AdjustPointsResponse adjusted;
        if (!Setup(*points, &pv1::PointsService::Stub::AdjustPoints, adjust, adjusted,
                   "AdjustPoints")) {
          setup_ok = false;
          return;
        }
      }
    });
  }
  for (std::thread& thread : setup) thread.join();
  if (!setup_ok) return 1;
  rv1::CreateRewardRequest create;
  create.set_program(options.program);
  create.set_request_id("rewards-load-reward");
  create.mutable_reward()->set_title("Benchmark voucher");
  create.mutable_reward()->set_points_cost(1);
  create.mutable_reward()->mutable_discount_percent()->set_percent(10);
  rv1::CreateRewardResponse created;
  if (!Setup(*setup_rewards, &rv1::RewardsService::Stub::CreateReward, create, created,
             "CreateReward")) {
    return 1;
  }
  std::fprintf(stderr, "rewards-load: %lld members enrolled with %lld points each, reward %s\n",
               static_cast<long long>(options.members_count), static_cast<long long>(grant),
               created.reward().id().c_str());

  // The run: each worker keeps one call outstanding on its own connection.
  const std::string run = absl::StrCat(std::chrono::system_clock::now().time_since_epoch().count());
  const Clock::time_point start = Clock::now();
  const Clock::time_point measure_from = start + std::chrono::seconds(options.warmup_s);
  const Clock::time_point end = measure_from + std::chrono::seconds(options.duration_s);
  std::atomic<int64_t> sequence{0};
  std::mutex mutex;
  std::vector<int64_t> latencies_ns;
  std::map<std::string, int64_t> errors;
  int64_t requests = 0, ok = 0;
  std::vector<std::thread> workers;
  for (int64_t w = 0; w < options.concurrency; ++w) {
    workers.emplace_back([&] {
      auto stub = rv1::RewardsService::NewStub(NewChannel(options.rewards));
      std::vector<int64_t> mine;
      std::map<std::string, int64_t> my_errors;
      int64_t my_requests = 0, my_ok = 0;
      for (Clock::time_point now = Clock::now(); now < end; now = Clock::now()) {
        const int64_t n = sequence++;
        rv1::RedeemRewardRequest request;
        request.set_program(options.program);
        request.set_member(ids[static_cast<size_t>(n % options.members_count)]);
        request.set_reward(created.reward().id());
        request.set_request_id(absl::StrCat("rl-", run, "-", n));
        rv1::RedeemRewardResponse response;
        grpc::ClientContext context;
        context.set_deadline(DeadlineIn(kCallDeadlineMs));
        const grpc::Status status = stub->RedeemReward(&context, request, &response);
        const Clock::time_point done = Clock::now();
        if (now < measure_from) continue;
        ++my_requests;
        if (status.ok()) {
          ++my_ok;
          mine.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(done - now).count());
        } else {
          ++my_errors[absl::StrCat(status.error_code(), " ", status.error_message().substr(0, 60))];
        }
      }
      std::lock_guard<std::mutex> lock(mutex);
      latencies_ns.insert(latencies_ns.end(), mine.begin(), mine.end());
      for (const auto& [error, count] : my_errors) errors[error] += count;
      requests += my_requests;
      ok += my_ok;
    });
  }
  for (std::thread& worker : workers) worker.join();
  std::sort(latencies_ns.begin(), latencies_ns.end());
  const auto percentile = [&](double fraction) {
    if (latencies_ns.empty()) return 0.0;
    const size_t index =
        std::min(latencies_ns.size() - 1, static_cast<size_t>(fraction * latencies_ns.size()));
    return static_cast<double>(latencies_ns[index]) / 1e6;
  };
  const double rps = static_cast<double>(ok) / static_cast<double>(options.duration_s);
  std::string error_json;
  for (const auto& [error, count] : errors) {
    std::string clean = error;
    std::replace(clean.begin(), clean.end(), '"', '\'');
    absl::StrAppend(&error_json, error_json.empty() ? "" : ",", "\"", clean, "\":", count);
  }
  std::printf(
      "RedeemReward: %lld requests, %lld ok, %.0f/s, p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
      static_cast<long long>(requests), static_cast<long long>(ok), rps, percentile(0.5),
      percentile(0.99), percentile(1.0));
  std::printf(
      "{\"requests\":%lld,\"ok\":%lld,\"throughput_rps\":%.1f,\"p50\":%.2f,\"p99\":%.2f,"
      "\"max\":%.2f,\"errors\":{%s}}\n",
      static_cast<long long>(requests), static_cast<long long>(ok), rps, percentile(0.5),
      percentile(0.99), percentile(1.0), error_json.c_str());
  return ok > 0 ? 0 : 1;
}
