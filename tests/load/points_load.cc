// points-load: a load generator for points-svc's RecordPurchase (issue 3, "Speed"), over the
// generated async gRPC stubs and one completion queue, so it needs one thread and little CPU on
// the 2-core machine it shares with the service and PostgreSQL.
//
//   points-load --points=HOST:PORT --members=HOST:PORT --program=ID
//               (--concurrency=N | --rate=R) [--members-count=K] [--duration-s=S]
//               [--warmup-s=W] [--channels=C] [--deadline-ms=D] [--total-minor=M]
//               [--member-prefix=P] [--run-id=ID] [--max-outstanding=O] [--floor] [--json]
//
// It first enrols K members through members-svc. Their request ids and emails depend only on
// the prefix and the index, so a rerun against the same database gets the same members back
// (idempotent replay) instead of failing. Then it sends RecordPurchase round robin over the
// members, so that with K well above N no two outstanding calls touch one member, each call with
// an order_id and request_id of its own (prefixed by the run id: orders are unique per program
// for good). Two modes:
//   --concurrency=N  closed loop: N calls outstanding at all times.
//   --rate=R         open loop: a call is due every 1/R s whatever the answers do, and its
//                    latency counts from when it was due, not from when it went out, so a server
//                    that stalls cannot hide the stall by slowing the generator down
//                    (coordinated omission). --max-outstanding bounds the calls in flight; a call
//                    held back by it still counts from when it was due.
// --floor sends every call without an order id, which points-svc refuses (INVALID_ARGUMENT) in
// its validation, before any database work or hand-off to a writer: what is left is the gRPC hop
// both ways, the request's parsing and checks and the error's answer, on the same method and
// server path. Those refusals count as the successful calls of the run; anything else fails.
// Only the measurement window after the warm-up counts: in closed loop the calls that complete
// inside it, in open loop the calls that were due inside it (waited for to the end). Every
// latency is kept and sorted at the end, so percentiles are exact. --json adds one line of JSON
// with the same figures at the end, for scripts.
//
// Exit codes: 0 the run completed (failed calls are counted in the report, not fatal); 1 setup
// failed (program unknown, enrolment failed, a service unreachable); 2 usage error.

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/completion_queue.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/async_unary_call.h"
#include "grpcpp/support/channel_arguments.h"
#include "grpcpp/support/status.h"
#include "loyalty/members/v1/members_service.grpc.pb.h"
#include "loyalty/points/v1/points_service.grpc.pb.h"

namespace {

namespace members_v1 = loyalty::members::v1;
namespace points_v1 = loyalty::points::v1;
using Clock = std::chrono::steady_clock;

// Limits on what the flags may ask for (CONVENTIONS rule 6).
constexpr int64_t kConcurrencyMax = 10'000;
constexpr double kRateMax = 1'000'000;
constexpr int64_t kMembersCountMax = 1'000'000;
constexpr int64_t kDurationSecondsMax = 3'600;
constexpr int64_t kChannelsMax = 64;
constexpr int64_t kDeadlineMsMax = 600'000;
constexpr int64_t kOutstandingMax = 100'000;
// Below the 16 threads of a synchronous members-svc with default settings.
constexpr int kEnrollConcurrency = 8;
constexpr int kEnrollAttemptsMax = 10;
constexpr std::chrono::milliseconds kEnrollRetryDelay{20};
constexpr int kSetupDeadlineMs = 10'000;
constexpr int kConnectTimeoutMs = 10'000;
// After the window, in-flight calls get at most their deadline plus this to come back.
constexpr std::chrono::milliseconds kDrainSlack{2'000};

struct Options {
  std::string points_address;
  std::string members_address;
  std::string program;
  int64_t members_count = 1'000;
  int64_t concurrency = 0;  // closed loop when > 0
  double rate = 0;          // open loop when > 0
  int64_t duration_s = 20;
  int64_t warmup_s = 5;
  int64_t channels = 1;
  int64_t deadline_ms = 10'000;
  int64_t total_minor = 4'999;
  std::string member_prefix = "load";
  std::string run_id;
  int64_t max_outstanding = 10'000;
  bool floor = false;  // refused calls only: the cost of the call without the ledger
  bool json = false;
};

constexpr char kUsage[] =
    "usage: points-load --points=HOST:PORT --members=HOST:PORT --program=ID\n"
    "                   (--concurrency=N | --rate=R) [--members-count=K (1000)]\n"
    "                   [--duration-s=S (20)] [--warmup-s=W (5)] [--channels=C (1)]\n"
    "                   [--deadline-ms=D (10000)] [--total-minor=M (4999)]\n"
    "                   [--member-prefix=P (load)] [--run-id=ID (time and pid)]\n"
    "                   [--max-outstanding=O (10000, open loop)] [--floor] [--json]\n";

absl::Status ParseInt(std::string_view value, std::string_view flag, int64_t min, int64_t max,
                      int64_t& out) {
  int64_t parsed = 0;
  if (!absl::SimpleAtoi(absl::string_view(value.data(), value.size()), &parsed) || parsed < min ||
      parsed > max) {
    return absl::InvalidArgumentError(absl::StrCat("--",
                                                   absl::string_view(flag.data(), flag.size()),
                                                   " must be an integer in ", min, "..", max));
  }
  out = parsed;
  return absl::OkStatus();
}

// Returns the options, or INVALID_ARGUMENT naming the first bad flag.
absl::StatusOr<Options> ParseOptions(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--json") {
      options.json = true;
      continue;
    }
    if (arg == "--floor") {
      options.floor = true;
      continue;
    }
    const std::string_view::size_type equals = arg.find('=');
    if (arg.substr(0, 2) != "--" || equals == std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument ", argv[i]));
    }
    const std::string_view name = arg.substr(2, equals - 2);
    const std::string_view value = arg.substr(equals + 1);
    absl::Status parsed = absl::OkStatus();
    if (name == "points") {
      options.points_address = std::string(value);
    } else if (name == "members") {
      options.members_address = std::string(value);
    } else if (name == "program") {
      options.program = std::string(value);
    } else if (name == "members-count") {
      parsed = ParseInt(value, name, 1, kMembersCountMax, options.members_count);
    } else if (name == "concurrency") {
      parsed = ParseInt(value, name, 1, kConcurrencyMax, options.concurrency);
    } else if (name == "rate") {
      if (!absl::SimpleAtod(absl::string_view(value.data(), value.size()), &options.rate) ||
          !(options.rate > 0 && options.rate <= kRateMax)) {
        parsed = absl::InvalidArgumentError(
            absl::StrCat("--rate must be a number of requests per second in (0, ", kRateMax, "]"));
      }
    } else if (name == "duration-s") {
      parsed = ParseInt(value, name, 1, kDurationSecondsMax, options.duration_s);
    } else if (name == "warmup-s") {
      parsed = ParseInt(value, name, 0, kDurationSecondsMax, options.warmup_s);
    } else if (name == "channels") {
      parsed = ParseInt(value, name, 1, kChannelsMax, options.channels);
    } else if (name == "deadline-ms") {
      parsed = ParseInt(value, name, 1, kDeadlineMsMax, options.deadline_ms);
    } else if (name == "total-minor") {
      parsed = ParseInt(value, name, 0, int64_t{1} << 40, options.total_minor);
    } else if (name == "member-prefix") {
      options.member_prefix = std::string(value);
    } else if (name == "run-id") {
      options.run_id = std::string(value);
    } else if (name == "max-outstanding") {
      parsed = ParseInt(value, name, 1, kOutstandingMax, options.max_outstanding);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag ", argv[i]));
    }
    if (!parsed.ok()) return parsed;
  }
  if (options.points_address.empty() || options.members_address.empty() ||
      options.program.empty()) {
    return absl::InvalidArgumentError("--points, --members and --program are required");
  }
  if ((options.concurrency > 0) == (options.rate > 0)) {
    return absl::InvalidArgumentError("give exactly one of --concurrency and --rate");
  }
  // Ids are "<prefix>-enroll-<i>" and "<run>-o<i>": keep them within the 128-character limits.
  if (options.member_prefix.empty() || options.member_prefix.size() > 32) {
    return absl::InvalidArgumentError("--member-prefix must be 1-32 characters");
  }
  if (options.run_id.empty()) {
    // Orders are unique per program for good, so every run needs its own order ids.
    const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    options.run_id = absl::StrCat("load-", now_ms, "-", getpid());
  }
  if (options.run_id.size() > 64) return absl::InvalidArgumentError("--run-id is too long");
  return options;
}

std::chrono::system_clock::time_point DeadlineIn(int64_t ms) {
  return std::chrono::system_clock::now() + std::chrono::milliseconds(ms);
}

absl::Status FromGrpc(const grpc::Status& status, std::string_view what) {
  return absl::Status(
      static_cast<absl::StatusCode>(status.error_code()),
      absl::StrCat(absl::string_view(what.data(), what.size()), ": ", status.error_message()));
}

// One channel per TCP connection: a local subchannel pool keeps channels with equal arguments
// from sharing a connection.
std::shared_ptr<grpc::Channel> NewChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

absl::Status WaitConnected(grpc::Channel& channel, const std::string& address) {
  if (!channel.WaitForConnected(DeadlineIn(kConnectTimeoutMs))) {
    return absl::UnavailableError(absl::StrCat("cannot connect to ", address));
  }
  return absl::OkStatus();
}

// Returns the program's currency, which every purchase must carry.
absl::StatusOr<std::string> ProgramCurrency(members_v1::MembersService::Stub& stub,
                                            const std::string& program) {
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(kSetupDeadlineMs));
  members_v1::GetProgramRequest request;
  request.set_program(program);
  members_v1::GetProgramResponse response;
  const grpc::Status status = stub.GetProgram(&context, request, &response);
  if (!status.ok()) return FromGrpc(status, absl::StrCat("GetProgram ", program));
  return response.program().currency_code();
}

struct EnrollCall {
  int64_t index = 0;
  int attempt = 1;
  grpc::ClientContext context;
  members_v1::EnrollMemberRequest request;
  members_v1::EnrollMemberResponse response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<members_v1::EnrollMemberResponse>> reader;
};

// A synchronous gRPC server answers RESOURCE_EXHAUSTED when all its threads are busy (and the
// whole platform may be busy starting up); enrolment is idempotent, so these are retried.
bool Retryable(const grpc::Status& status) {
  return status.error_code() == grpc::RESOURCE_EXHAUSTED ||
         status.error_code() == grpc::UNAVAILABLE;
}

// Enrols (or, on a rerun, finds again through idempotent replay) `count` members, a bounded
// number at a time. Returns their ids by index, or the first failure.
absl::StatusOr<std::vector<std::string>> EnrollMembers(members_v1::MembersService::Stub& stub,
                                                       const Options& options) {
  grpc::CompletionQueue queue;
  std::vector<std::string> ids(static_cast<size_t>(options.members_count));
  int64_t next = 0;
  int outstanding = 0;
  absl::Status failure = absl::OkStatus();
  auto start = [&](int64_t index, int attempt) {
    auto* call = new EnrollCall;
    call->index = index;
    call->attempt = attempt;
    call->context.set_deadline(DeadlineIn(kSetupDeadlineMs));
    call->request.set_program(options.program);
    call->request.set_request_id(absl::StrCat(options.member_prefix, "-enroll-", index));
    call->request.mutable_profile()->set_email(
        absl::StrCat(options.member_prefix, "-", index, "@load.example.com"));
    call->request.mutable_profile()->set_display_name(absl::StrCat("Load ", index));
    call->reader = stub.PrepareAsyncEnrollMember(&call->context, call->request, &queue);
    call->reader->StartCall();
    call->reader->Finish(&call->response, &call->status, call);
    ++outstanding;
  };
  while (next < options.members_count && outstanding < kEnrollConcurrency) start(next++, 1);
  void* tag = nullptr;
  bool ok = false;
  while (outstanding > 0 && queue.Next(&tag, &ok)) {
    std::unique_ptr<EnrollCall> call(static_cast<EnrollCall*>(tag));
    --outstanding;
    if (call->status.ok()) {
      ids[static_cast<size_t>(call->index)] = call->response.member().id();
    } else if (Retryable(call->status) && call->attempt < kEnrollAttemptsMax && failure.ok()) {
      std::this_thread::sleep_for(kEnrollRetryDelay * call->attempt);
      start(call->index, call->attempt + 1);
      continue;
    } else if (failure.ok()) {
      failure = FromGrpc(call->status, absl::StrCat("EnrollMember ", call->request.request_id()));
    }
    if (failure.ok() && next < options.members_count) start(next++, 1);
  }
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
  if (!failure.ok()) return failure;
  return ids;
}

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

constexpr std::array<const char*, 17> kCodeNames = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

// What the measurement window saw.
struct Tally {
  std::vector<int64_t> latencies_ns;  // successful calls only
  std::array<int64_t, kCodeNames.size()> by_code{};
  std::array<std::string, kCodeNames.size()> first_message;

  void Add(const grpc::Status& status, Clock::duration latency) {
    const size_t code = static_cast<size_t>(status.error_code());
    const size_t slot = code < by_code.size() ? code : static_cast<size_t>(grpc::UNKNOWN);
    ++by_code[slot];
    if (status.ok()) {
      latencies_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(latency).count());
    } else if (first_message[slot].empty()) {
      first_message[slot] = status.error_message().substr(0, 200);
    }
  }
  int64_t total() const {
    int64_t sum = 0;
    for (int64_t n : by_code) sum += n;
    return sum;
  }
};

// --floor: the refusal (INVALID_ARGUMENT) is the expected answer, counted as OK; anything else
// is a failure.
grpc::Status FloorOutcome(const grpc::Status& status) {
  if (status.error_code() == grpc::INVALID_ARGUMENT) return grpc::Status::OK;
  return grpc::Status(grpc::UNKNOWN,
                      absl::StrCat("expected INVALID_ARGUMENT, got ", status.error_code(), ": ",
                                   status.error_message()));
}

struct PurchaseCall {
  Clock::time_point due;  // when it was meant to go out; latency counts from here
  grpc::ClientContext context;
  points_v1::RecordPurchaseRequest request;
  points_v1::RecordPurchaseResponse response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<points_v1::RecordPurchaseResponse>> reader;
};

struct RunResult {
  Tally tally;
  double window_s = 0;
  double client_cpu_s = 0;
  int64_t warmup_calls = 0;
  // Calls that completed after the window: not counted in closed loop; counted in open loop when
  // they were due inside it.
  int64_t late_calls = 0;
  double max_send_lag_ms = 0;
  int64_t max_outstanding_seen = 0;
};

class LoadRunner {
 public:
  LoadRunner(const Options& options, std::vector<std::string> members, std::string currency,
             std::vector<std::unique_ptr<points_v1::PointsService::Stub>> stubs)
      : options_(options),
        members_(std::move(members)),
        currency_(std::move(currency)),
        stubs_(std::move(stubs)) {}

  RunResult Run() {
    const Clock::time_point start = Clock::now();
    warm_end_ = start + std::chrono::seconds(options_.warmup_s);
    end_ = warm_end_ + std::chrono::seconds(options_.duration_s);
    const Clock::time_point drain_until =
        end_ + std::chrono::milliseconds(options_.deadline_ms) + kDrainSlack;
    const bool open_loop = options_.rate > 0;
    const std::chrono::duration<double> interval(open_loop ? 1.0 / options_.rate : 0.0);
    auto due_at = [&](int64_t i) {
      return start + std::chrono::duration_cast<Clock::duration>(interval * static_cast<double>(i));
    };
    bool window_open = false;
    bool window_closed = false;
    double cpu_at_window = 0;
    if (!open_loop) {
      for (int64_t i = 0; i < options_.concurrency; ++i) Send(Clock::now());
    }
    while (true) {
      Clock::time_point now = Clock::now();
      if (!window_open && now >= warm_end_) {
        window_open = true;
        cpu_at_window = CpuSeconds();
      }
      if (window_open && !window_closed && now >= end_) {
        window_closed = true;
        result_.client_cpu_s = CpuSeconds() - cpu_at_window;
      }
      // Open loop: send everything that is due, as far as the bound on calls in flight allows.
      while (open_loop && due_at(sent_) < end_ && due_at(sent_) <= now &&
             outstanding_ < options_.max_outstanding) {
        Send(due_at(sent_));
        now = Clock::now();
      }
      const bool more_to_send = open_loop && due_at(sent_) < end_;
      if (!more_to_send && outstanding_ == 0) break;
      if (now >= drain_until) break;
      // Wake for the next due call, the window's edges, or a completion, whichever is first.
      Clock::time_point wake = drain_until;
      if (more_to_send && outstanding_ < options_.max_outstanding) {
        wake = std::min(wake, due_at(sent_));
      }
      if (!window_open) wake = std::min(wake, warm_end_);
      if (!window_closed) wake = std::min(wake, end_);
      void* tag = nullptr;
      bool ok = false;
      const auto deadline = std::chrono::system_clock::now() +
                            std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                std::max(wake - Clock::now(), Clock::duration::zero()));
      const grpc::CompletionQueue::NextStatus next = queue_.AsyncNext(&tag, &ok, deadline);
      if (next == grpc::CompletionQueue::SHUTDOWN) break;
      if (next == grpc::CompletionQueue::TIMEOUT) continue;
      Complete(std::unique_ptr<PurchaseCall>(static_cast<PurchaseCall*>(tag)), open_loop);
    }
    if (!window_closed) result_.client_cpu_s = CpuSeconds() - cpu_at_window;
    result_.window_s = std::chrono::duration<double>(end_ - warm_end_).count();
    Drain();
    return std::move(result_);
  }

 private:
  void Send(Clock::time_point due) {
    auto* call = new PurchaseCall;
    call->due = due;
    const int64_t i = sent_++;
    const std::string& member = members_[static_cast<size_t>(i) % members_.size()];
    call->context.set_deadline(DeadlineIn(options_.deadline_ms));
    points_v1::RecordPurchaseRequest& request = call->request;
    request.set_program(options_.program);
    request.set_member(member);
    request.set_request_id(absl::StrCat(options_.run_id, "-r", i));
    if (!options_.floor) request.set_order_id(absl::StrCat(options_.run_id, "-o", i));
    request.set_currency_code(currency_);
    request.set_total_minor(options_.total_minor);
    auto& stub = *stubs_[static_cast<size_t>(i) % stubs_.size()];
    call->reader = stub.PrepareAsyncRecordPurchase(&call->context, request, &queue_);
    call->reader->StartCall();
    call->reader->Finish(&call->response, &call->status, call);
    ++outstanding_;
    result_.max_outstanding_seen = std::max(result_.max_outstanding_seen, outstanding_);
    const double lag_ms = std::chrono::duration<double, std::milli>(Clock::now() - due).count();
    result_.max_send_lag_ms = std::max(result_.max_send_lag_ms, lag_ms);
  }

  void Complete(std::unique_ptr<PurchaseCall> call, bool open_loop) {
    --outstanding_;
    const Clock::time_point now = Clock::now();
    // Closed loop counts what completes in the window; open loop what was due in it.
    const Clock::time_point when = open_loop ? call->due : now;
    if (when < warm_end_) {
      ++result_.warmup_calls;
    } else if (when < end_) {
      result_.tally.Add(options_.floor ? FloorOutcome(call->status) : call->status,
                        now - call->due);
      if (now >= end_) ++result_.late_calls;
    } else {
      ++result_.late_calls;
    }
    if (!open_loop && now < end_) Send(now);
  }

  // By drain_until every call is past its deadline; this collects the last completions so that
  // nothing outlives the queue.
  void Drain() {
    queue_.Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (queue_.Next(&tag, &ok)) delete static_cast<PurchaseCall*>(tag);
  }

  const Options& options_;
  const std::vector<std::string> members_;
  const std::string currency_;
  std::vector<std::unique_ptr<points_v1::PointsService::Stub>> stubs_;
  grpc::CompletionQueue queue_;
  Clock::time_point warm_end_;
  Clock::time_point end_;
  int64_t sent_ = 0;
  int64_t outstanding_ = 0;
  RunResult result_;
};

// Nearest-rank percentile of sorted values; 0 when there are none.
int64_t Percentile(const std::vector<int64_t>& sorted, double fraction) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<size_t>(std::ceil(fraction * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size(), std::max<size_t>(rank, 1)) - 1];
}

double Ms(int64_t ns) { return static_cast<double>(ns) / 1e6; }

void Report(const Options& options, RunResult& result) {
  Tally& tally = result.tally;
  std::sort(tally.latencies_ns.begin(), tally.latencies_ns.end());
  const int64_t total = tally.total();
  const int64_t ok = tally.by_code[0];
  const double throughput = static_cast<double>(ok) / result.window_s;
  const double p50 = Ms(Percentile(tally.latencies_ns, 0.50));
  const double p90 = Ms(Percentile(tally.latencies_ns, 0.90));
  const double p99 = Ms(Percentile(tally.latencies_ns, 0.99));
  const double p999 = Ms(Percentile(tally.latencies_ns, 0.999));
  const double max = Ms(tally.latencies_ns.empty() ? 0 : tally.latencies_ns.back());
  const double cpu_cores = result.client_cpu_s / result.window_s;
  const bool open_loop = options.rate > 0;

  const std::string mode = open_loop
                               ? absl::StrCat("open loop at ", options.rate, " req/s")
                               : absl::StrCat("closed loop, ", options.concurrency, " outstanding");
  std::printf("points-load: RecordPurchase%s, %s, %" PRId64 " channel(s), %" PRId64 " members\n",
              options.floor ? " without an order id (--floor: refused calls count as ok)" : "",
              mode.c_str(), options.channels, options.members_count);
  std::printf("  window       %.1f s after %" PRId64 " s warm-up (%" PRId64 " warm-up calls)\n",
              result.window_s, options.warmup_s, result.warmup_calls);
  std::printf("  requests     %" PRId64 " (ok %" PRId64 ", failed %" PRId64 ")\n", total, ok,
              total - ok);
  for (size_t code = 1; code < tally.by_code.size(); ++code) {
    if (tally.by_code[code] == 0) continue;
    std::printf("  failed       %-20s %" PRId64 "  first: %s\n", kCodeNames[code],
                tally.by_code[code], tally.first_message[code].c_str());
  }
  std::printf("  throughput   %.1f req/s (successful calls)\n", throughput);
  std::printf("  latency ms   p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f%s\n", p50, p90,
              p99, p999, max, open_loop ? " (from when each call was due)" : "");
  std::printf("  client       %.2f CPU cores, max %" PRId64
              " calls in flight, max send lag %.2f ms, %" PRId64 " completions after the window\n",
              cpu_cores, result.max_outstanding_seen, result.max_send_lag_ms, result.late_calls);
  if (result.warmup_calls < options.members_count) {
    std::printf(
        "  note         fewer warm-up calls than members: some members are first seen (looked up "
        "in members-svc) inside the window\n");
  }
  if (options.concurrency > options.members_count) {
    std::printf(
        "  note         fewer members than outstanding calls: calls contend for one "
        "member's balance\n");
  }
  if (!options.json) return;
  std::string errors;
  for (size_t code = 1; code < tally.by_code.size(); ++code) {
    if (tally.by_code[code] == 0) continue;
    absl::StrAppend(&errors, errors.empty() ? "" : ",", "\"", kCodeNames[code],
                    "\":", tally.by_code[code]);
  }
  std::printf(
      "{\"tool\":\"points-load\",\"method\":\"RecordPurchase\",\"floor\":%s,\"mode\":\"%s\","
      "\"concurrency\":%" PRId64 ",\"rate\":%.1f,\"channels\":%" PRId64 ",\"members\":%" PRId64
      ",\"warmup_s\":%" PRId64 ",\"window_s\":%.3f,\"requests\":%" PRId64 ",\"ok\":%" PRId64
      ",\"errors\":{%s},\"throughput_rps\":%.1f,\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,"
      "\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f},\"client_cpu_cores\":%.3f,"
      "\"max_send_lag_ms\":%.3f}\n",
      options.floor ? "true" : "false", open_loop ? "rate" : "concurrency", options.concurrency,
      options.rate, options.channels, options.members_count, options.warmup_s, result.window_s,
      total, ok, errors.c_str(), throughput, p50, p90, p99, p999, max, cpu_cores,
      result.max_send_lag_ms);
}

}  // namespace

int main(int argc, char** argv) {
  // As in the services (common/service/service_main.cc): Debian's Abseil checks every mutex for
  // lock-order cycles, which showed in this tool's profile; the generator's CPU is taken from
  // the machine the service under test runs on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::StatusOr<Options> options = ParseOptions(argc, argv);
  if (!options.ok()) {
    std::fprintf(stderr, "points-load: %s\n%s", std::string(options.status().message()).c_str(),
                 kUsage);
    return 2;
  }
  auto fail = [](const absl::Status& status) {
    std::fprintf(stderr, "points-load: %s\n", status.ToString().c_str());
    return 1;
  };

  std::shared_ptr<grpc::Channel> members_channel = NewChannel(options->members_address);
  if (absl::Status connected = WaitConnected(*members_channel, options->members_address);
      !connected.ok()) {
    return fail(connected);
  }
  auto members_stub = members_v1::MembersService::NewStub(members_channel);
  absl::StatusOr<std::string> currency = ProgramCurrency(*members_stub, options->program);
  if (!currency.ok()) return fail(currency.status());

  const Clock::time_point enroll_start = Clock::now();
  absl::StatusOr<std::vector<std::string>> members = EnrollMembers(*members_stub, *options);
  if (!members.ok()) return fail(members.status());
  std::fprintf(stderr, "points-load: %" PRId64 " members enrolled or found in %.1f s; run id %s\n",
               options->members_count,
               std::chrono::duration<double>(Clock::now() - enroll_start).count(),
               options->run_id.c_str());

  std::vector<std::unique_ptr<points_v1::PointsService::Stub>> stubs;
  for (int64_t i = 0; i < options->channels; ++i) {
    std::shared_ptr<grpc::Channel> channel = NewChannel(options->points_address);
    if (absl::Status connected = WaitConnected(*channel, options->points_address);
        !connected.ok()) {
      return fail(connected);
    }
    stubs.push_back(points_v1::PointsService::NewStub(channel));
  }
  LoadRunner runner(*options, *std::move(members), *std::move(currency), std::move(stubs));
  RunResult result = runner.Run();
  Report(*options, result);
  return 0;
}
