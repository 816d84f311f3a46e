// exactly-once-load: the workload of the exactly-once test (tests/e2e/exactly_once_test.sh,
// issue 6 "Tests"). It plays a client that keeps calling while the services are killed under it:
// every mutating call is retried with the SAME request_id until it succeeds (or the overall
// deadline passes), so each effect the services show afterwards must have happened exactly once.
//
//   exactly-once-load --members=HOST:PORT --points=HOST:PORT --rewards=HOST:PORT
//                     [--program=ID] [--members-count=K] [--purchases=N] [--concurrency=C]
//                     [--rate=R] [--deadline-s=S] [--progress-file=PATH] [--seed=X]
//
// Setup (before anything is killed): a program with a referral cap of 3, a punch card (every 4th
// coffee order earns a free coffee), K members of which members 0-9 refer the even members from
// 10 on (about 4.5 referees each, so the cap refuses some). Then N purchases spread over the
// members except the last 8 (the "churners"), by C threads that own disjoint members, paced to R
// purchases per second in total (purchase k is due k/R s after the start; 0: as fast as they
// go). Purchases mix coffee, tea, bakery and apparel lines; about 1 in 40 is followed by a
// refund, half of them full (which revokes its stamp) and half partial; each buyer's 10th
// purchase brings a REVIEW, every 5th buyer's 20th a BIRTHDAY and each buyer's 30th a
// SOCIAL_FOLLOW. Meanwhile the churners are suspended and reactivated in turn, so members-svc's
// stream carries events all along (they buy nothing, so no purchase fails MEMBER_SUSPENDED); all
// of them end active. scripts/bench-events uses it as its load, one program per run.
//
// It writes the number of purchases done to --progress-file (the test kills services at
// milestones of it) and ends with one line "result purchases=... refunds_full=..." for the test.
// Exit codes: 0 done; 1 a call failed for good or the deadline passed; 2 usage error.

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "grpcpp/support/status.h"
#include "loyalty/members/v1/members_service.grpc.pb.h"
#include "loyalty/points/v1/points_service.grpc.pb.h"
#include "loyalty/rewards/v1/rewards_service.grpc.pb.h"

namespace {

namespace mv1 = loyalty::members::v1;
namespace pv1 = loyalty::points::v1;
namespace rv1 = loyalty::rewards::v1;
using Clock = std::chrono::steady_clock;

// Limits on what the flags may ask for (CONVENTIONS rule 6).
constexpr int64_t kMembersCountMin = 20;
constexpr int64_t kMembersCountMax = 10'000;
constexpr int64_t kPurchasesMax = 1'000'000;
constexpr int64_t kConcurrencyMax = 256;
constexpr int64_t kRateMax = 100'000;
constexpr int64_t kDeadlineSecondsMax = 3'600;
// The workload's shape (see the top of the file).
constexpr int64_t kReferrers = 10;
constexpr int64_t kChurners = 8;
constexpr int32_t kReferralCap = 3;
constexpr int32_t kStampsNeeded = 4;
constexpr int kRefundOneIn = 40;
constexpr int kChurnCyclesMax = 1'000;
constexpr std::chrono::milliseconds kChurnPause{200};
// Each attempt of a call; the retries back off from 20 ms to 500 ms.
constexpr int kCallDeadlineMs = 5'000;
constexpr std::chrono::milliseconds kBackoffInitial{20};
constexpr std::chrono::milliseconds kBackoffMax{500};
constexpr std::chrono::milliseconds kProgressInterval{100};

struct Options {
  std::string members_address;
  std::string points_address;
  std::string rewards_address;
  std::string program = "exactly-once";
  int64_t members_count = 100;
  int64_t purchases = 5'000;
  int64_t concurrency = 8;
  int64_t rate = 0;
  int64_t deadline_s = 150;
  std::string progress_file;
  int64_t seed = 1;
};

constexpr char kUsage[] =
    "usage: exactly-once-load --members=HOST:PORT --points=HOST:PORT --rewards=HOST:PORT\n"
    "                         [--program=ID (exactly-once)] [--members-count=K (100)]\n"
    "                         [--purchases=N (5000)] [--concurrency=C (8)] [--rate=R (0: max)]\n"
    "                         [--deadline-s=S (150)] [--progress-file=PATH] [--seed=X (1)]\n";

bool ParseInt(std::string_view value, int64_t min, int64_t max, int64_t& out) {
  return absl::SimpleAtoi(absl::string_view(value.data(), value.size()), &out) && out >= min &&
         out <= max;
}

// Returns false (after saying why) on a bad flag.
bool ParseOptions(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const std::string_view::size_type equals = arg.find('=');
    if (arg.substr(0, 2) != "--" || equals == std::string_view::npos) {
      std::fprintf(stderr, "unexpected argument %s\n", argv[i]);
      return false;
    }
    const std::string_view name = arg.substr(2, equals - 2);
    const std::string value(arg.substr(equals + 1));
    bool ok = true;
    if (name == "members") {
      options.members_address = value;
    } else if (name == "points") {
      options.points_address = value;
    } else if (name == "rewards") {
      options.rewards_address = value;
    } else if (name == "program") {
      options.program = value;
    } else if (name == "progress-file") {
      options.progress_file = value;
    } else if (name == "members-count") {
      ok = ParseInt(value, kMembersCountMin, kMembersCountMax, options.members_count);
    } else if (name == "purchases") {
      ok = ParseInt(value, 1, kPurchasesMax, options.purchases);
    } else if (name == "concurrency") {
      ok = ParseInt(value, 1, kConcurrencyMax, options.concurrency);
    } else if (name == "rate") {
      ok = ParseInt(value, 0, kRateMax, options.rate);
    } else if (name == "deadline-s") {
      ok = ParseInt(value, 1, kDeadlineSecondsMax, options.deadline_s);
    } else if (name == "seed") {
      ok = ParseInt(value, 0, int64_t{1} << 40, options.seed);
    } else {
      std::fprintf(stderr, "unknown flag %s\n", argv[i]);
      return false;
    }
    if (!ok) {
      std::fprintf(stderr, "bad value for --%s\n", std::string(name).c_str());
      return false;
    }
  }
  if (options.members_address.empty() || options.points_address.empty() ||
      options.rewards_address.empty()) {
    std::fprintf(stderr, "--members, --points and --rewards are required\n");
    return false;
  }
  return true;
}

// Reconnects soon after a killed service is back: gRPC's default backoff grows to two minutes.
std::shared_ptr<grpc::Channel> NewChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

constexpr std::array<const char*, 17> kCodeNames = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

// Codes a client retries with the same request_id: the service is down, restarting, overloaded
// or was cut off mid-call. Anything else is an answer, and fails the run.
bool Retryable(grpc::StatusCode code) {
  switch (code) {
    case grpc::UNAVAILABLE:
    case grpc::DEADLINE_EXCEEDED:
    case grpc::RESOURCE_EXHAUSTED:
    case grpc::ABORTED:
    case grpc::CANCELLED:
    case grpc::UNKNOWN:
      return true;
    default:
      return false;
  }
}

// The run's shared state: the deadline, the first failure, counters.
class Run {
 public:
  explicit Run(Clock::time_point deadline) : deadline_(deadline) {}

  // Calls `rpc` until it succeeds; false (the failure recorded) when it fails for good or the
  // deadline passes, or when another thread has failed already.
  template <typename Stub, typename Request, typename Response>
  bool Call(Stub& stub, grpc::Status (Stub::*rpc)(grpc::ClientContext*, const Request&, Response*),
            const Request& request, Response& response, const std::string& what) {
    std::chrono::milliseconds backoff = kBackoffInitial;
    while (!failed()) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::milliseconds(kCallDeadlineMs));
      const grpc::Status status = (stub.*rpc)(&context, request, &response);
      if (status.ok()) return true;
      const auto code = static_cast<size_t>(status.error_code());
      if (!Retryable(status.error_code()) || Clock::now() >= deadline_) {
        Fail(absl::StrCat(what, ": ", code < kCodeNames.size() ? kCodeNames[code] : "?", " ",
                          status.error_message(),
                          Clock::now() >= deadline_ ? " (deadline passed)" : ""));
        return false;
      }
      if (code < retries_.size()) retries_[code].fetch_add(1);
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, kBackoffMax);
    }
    return false;
  }

  void Fail(const std::string& why) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (failure_.empty()) failure_ = why;
    failed_.store(true);
  }
  bool failed() const { return failed_.load(); }
  std::string failure() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return failure_;
  }
  std::string RetrySummary() const {
    std::string out;
    for (size_t code = 0; code < retries_.size(); ++code) {
      if (retries_[code].load() > 0) {
        absl::StrAppend(&out, out.empty() ? "" : ", ", kCodeNames[code], " ",
                        retries_[code].load());
      }
    }
    return out.empty() ? "none" : out;
  }

  std::atomic<int64_t> purchases{0};
  std::atomic<int64_t> refunds_full{0};
  std::atomic<int64_t> refunds_partial{0};
  std::atomic<int64_t> activities{0};
  std::atomic<int64_t> status_changes{0};
  std::atomic<bool> buying_done{false};

 private:
  const Clock::time_point deadline_;
  std::atomic<bool> failed_{false};
  mutable std::mutex mutex_;
  std::string failure_;
  std::array<std::atomic<int64_t>, kCodeNames.size()> retries_{};
};

struct Stubs {
  std::unique_ptr<mv1::MembersService::Stub> members;
  std::unique_ptr<pv1::PointsService::Stub> points;
  std::unique_ptr<rv1::RewardsService::Stub> rewards;
};

// The program, its punch card and its members; returns the member ids by index, or none.
std::vector<std::string> SetUp(const Options& options, Stubs& stubs, Run& run) {
  mv1::CreateProgramRequest program;
  program.set_request_id(absl::StrCat(options.program, "-program"));
  program.mutable_program()->set_id(options.program);
  program.mutable_program()->set_display_name("Exactly once");
  program.mutable_program()->set_currency_code("EUR");
  program.mutable_program()->set_point_value_minor_per_thousand(1000);
  program.mutable_program()->set_referral_rewards_max(kReferralCap);
  mv1::CreateProgramResponse created;
  if (!run.Call(*stubs.members, &mv1::MembersService::Stub::CreateProgram, program, created,
                "CreateProgram")) {
    return {};
  }
  rv1::CreateRewardRequest reward;
  reward.set_program(options.program);
  reward.set_request_id(absl::StrCat(options.program, "-coffee"));
  reward.mutable_reward()->set_title("Free coffee");
  reward.mutable_reward()->set_points_cost(100);
  reward.mutable_reward()->mutable_free_product()->set_sku("coffee-1");
  rv1::CreateRewardResponse coffee;
  if (!run.Call(*stubs.rewards, &rv1::RewardsService::Stub::CreateReward, reward, coffee,
                "CreateReward")) {
    return {};
  }
  rv1::CreatePunchCardDefinitionRequest card;
  card.set_program(options.program);
  card.set_request_id(absl::StrCat(options.program, "-card"));
  card.mutable_definition()->set_title("Four coffees, one free");
  card.mutable_definition()->set_category("coffee");
  card.mutable_definition()->set_stamps_needed(kStampsNeeded);
  card.mutable_definition()->set_reward(coffee.reward().id());
  rv1::CreatePunchCardDefinitionResponse defined;
  if (!run.Call(*stubs.rewards, &rv1::RewardsService::Stub::CreatePunchCardDefinition, card,
                defined, "CreatePunchCardDefinition")) {
    return {};
  }

  std::vector<std::string> ids;
  std::vector<std::string> codes;
  for (int64_t i = 0; i < options.members_count; ++i) {
    mv1::EnrollMemberRequest enroll;
    enroll.set_program(options.program);
    enroll.set_request_id(absl::StrCat(options.program, "-enroll-", i));
    enroll.mutable_profile()->set_email(
        absl::StrCat("member-", i, "@", options.program, ".example.com"));
    if (i >= kReferrers && i % 2 == 0) {
      enroll.set_referral_code(codes[static_cast<size_t>((i / 2) % kReferrers)]);
    }
    mv1::EnrollMemberResponse enrolled;
    if (!run.Call(*stubs.members, &mv1::MembersService::Stub::EnrollMember, enroll, enrolled,
                  enroll.request_id())) {
      return {};
    }
    ids.push_back(enrolled.member().id());
    codes.push_back(enrolled.member().referral_code());
  }
  return ids;
}

struct Line {
  const char* sku;
  const char* category;
};
constexpr std::array<Line, 5> kLines = {Line{"coffee-1", "coffee"}, Line{"coffee-2", "coffee"},
                                        Line{"tea-1", "tea"}, Line{"croissant", "bakery"},
                                        Line{"scarf", "apparel"}};

// One buyer thread: the purchases of the members it owns (member % concurrency == thread), in
// the order the seeded generator deals them, each with its refund and activities.
void Buy(const Options& options, const std::vector<std::string>& members, int64_t thread,
         Clock::time_point start, Stubs& stubs, Run& run) {
  const int64_t buyers = options.members_count - kChurners;
  std::mt19937_64 random(static_cast<uint64_t>(options.seed));
  std::vector<int64_t> bought(static_cast<size_t>(buyers), 0);
  // With a rate, purchase k is due at start + k / rate, whichever thread makes it.
  const auto interval = options.rate > 0 ? std::chrono::nanoseconds(1'000'000'000LL / options.rate)
                                         : std::chrono::nanoseconds(0);
  for (int64_t k = 0; k < options.purchases && !run.failed(); ++k) {
    // Every thread draws the whole sequence and keeps its own share, so the deal does not
    // depend on the number of threads.
    const auto member_index = static_cast<int64_t>(random() % static_cast<uint64_t>(buyers));
    const uint64_t shape = random();
    if (member_index % options.concurrency != thread) continue;
    if (interval.count() > 0) std::this_thread::sleep_until(start + interval * k);
    const std::string& member = members[static_cast<size_t>(member_index)];
    const std::string order = absl::StrCat("order-", k);

    pv1::RecordPurchaseRequest purchase;
    purchase.set_program(options.program);
    purchase.set_member(member);
    purchase.set_request_id(absl::StrCat("purchase-", k));
    purchase.set_order_id(order);
    purchase.set_currency_code("EUR");
    int64_t total = 0;
    const int line_count = 1 + static_cast<int>(shape % 2);
    for (int l = 0; l < line_count; ++l) {
      const Line& kind = kLines[(shape >> (4 + 8 * l)) % kLines.size()];
      pv1::PurchaseLine* line = purchase.add_lines();
      line->set_sku(kind.sku);
      line->set_category(kind.category);
      line->set_quantity(1 + static_cast<int64_t>((shape >> (12 + 8 * l)) % 3));
      line->set_unit_price_minor(150 + static_cast<int64_t>((shape >> (16 + 8 * l)) % 40) * 100);
      total += line->quantity() * line->unit_price_minor();
    }
    purchase.set_total_minor(total);
    pv1::RecordPurchaseResponse purchased;
    if (!run.Call(*stubs.points, &pv1::PointsService::Stub::RecordPurchase, purchase, purchased,
                  purchase.request_id())) {
      return;
    }
    run.purchases.fetch_add(1);

    if ((shape >> 40) % kRefundOneIn == 0) {
      const bool full = (shape >> 48) % 2 == 0;
      pv1::RefundPurchaseRequest refund;
      refund.set_program(options.program);
      refund.set_member(member);
      refund.set_order_id(order);
      refund.set_request_id(absl::StrCat("refund-", k));
      refund.set_amount_minor(full ? total : total / 3);
      pv1::RefundPurchaseResponse refunded;
      if (!run.Call(*stubs.points, &pv1::PointsService::Stub::RefundPurchase, refund, refunded,
                    refund.request_id())) {
        return;
      }
      (full ? run.refunds_full : run.refunds_partial).fetch_add(1);
    }

    const int64_t nth = ++bought[static_cast<size_t>(member_index)];
    pv1::ActivityType activity = pv1::ACTIVITY_TYPE_UNSPECIFIED;
    std::string reference;
    if (nth == 10) {
      activity = pv1::ACTIVITY_TYPE_REVIEW;
      reference = absl::StrCat("review-", member_index);
    } else if (nth == 20 && member_index % 5 == 0) {
      activity = pv1::ACTIVITY_TYPE_BIRTHDAY;
      reference = "2026";
    } else if (nth == 30) {
      activity = pv1::ACTIVITY_TYPE_SOCIAL_FOLLOW;
      reference = absl::StrCat("follow-", member_index);
    }
    if (activity != pv1::ACTIVITY_TYPE_UNSPECIFIED) {
      pv1::RecordActivityRequest request;
      request.set_program(options.program);
      request.set_member(member);
      request.set_request_id(absl::StrCat("activity-", k));
      request.set_type(activity);
      request.set_reference(reference);
      pv1::RecordActivityResponse recorded;
      if (!run.Call(*stubs.points, &pv1::PointsService::Stub::RecordActivity, request, recorded,
                    request.request_id())) {
        return;
      }
      run.activities.fetch_add(1);
    }
  }
}

// The churners: suspended and reactivated in turn until the buyers are done; all end active.
void Churn(const Options& options, const std::vector<std::string>& members, Stubs& stubs,
           Run& run) {
  for (int cycle = 0; cycle < kChurnCyclesMax && !run.buying_done.load() && !run.failed();
       ++cycle) {
    for (int64_t i = options.members_count - kChurners; i < options.members_count; ++i) {
      const std::string& member = members[static_cast<size_t>(i)];
      mv1::SuspendMemberRequest suspend;
      suspend.set_program(options.program);
      suspend.set_member(member);
      suspend.set_request_id(absl::StrCat("suspend-", i, "-", cycle));
      mv1::SuspendMemberResponse suspended;
      if (!run.Call(*stubs.members, &mv1::MembersService::Stub::SuspendMember, suspend, suspended,
                    suspend.request_id())) {
        return;
      }
      mv1::ReactivateMemberRequest reactivate;
      reactivate.set_program(options.program);
      reactivate.set_member(member);
      reactivate.set_request_id(absl::StrCat("reactivate-", i, "-", cycle));
      mv1::ReactivateMemberResponse reactivated;
      if (!run.Call(*stubs.members, &mv1::MembersService::Stub::ReactivateMember, reactivate,
                    reactivated, reactivate.request_id())) {
        return;
      }
      run.status_changes.fetch_add(2);
    }
    std::this_thread::sleep_for(kChurnPause);
  }
}

// Replaces the progress file's content (write, then rename: a reader never sees half a number).
void WriteProgress(const std::string& path, int64_t purchases) {
  if (path.empty()) return;
  const std::string temporary = path + ".tmp";
  std::FILE* file = std::fopen(temporary.c_str(), "w");
  if (file == nullptr) return;
  std::fprintf(file, "%lld\n", static_cast<long long>(purchases));
  std::fclose(file);
  std::rename(temporary.c_str(), path.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!ParseOptions(argc, argv, options)) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const Clock::time_point start = Clock::now();
  Run run(start + std::chrono::seconds(options.deadline_s));
  Stubs stubs{mv1::MembersService::NewStub(NewChannel(options.members_address)),
              pv1::PointsService::NewStub(NewChannel(options.points_address)),
              rv1::RewardsService::NewStub(NewChannel(options.rewards_address))};

  const std::vector<std::string> members = SetUp(options, stubs, run);
  if (members.empty()) {
    std::fprintf(stderr, "exactly-once-load: setup failed: %s\n", run.failure().c_str());
    return 1;
  }
  std::fprintf(stderr, "exactly-once-load: program %s, %lld members enrolled\n",
               options.program.c_str(), static_cast<long long>(members.size()));
  WriteProgress(options.progress_file, 0);

  std::atomic<bool> reporting{true};
  std::thread progress([&] {
    while (reporting.load()) {
      WriteProgress(options.progress_file, run.purchases.load());
      std::this_thread::sleep_for(kProgressInterval);
    }
  });
  std::thread churner([&] { Churn(options, members, stubs, run); });
  std::vector<std::thread> buyers;
  const Clock::time_point buying = Clock::now();
  for (int64_t thread = 0; thread < options.concurrency; ++thread) {
    buyers.emplace_back([&, thread] { Buy(options, members, thread, buying, stubs, run); });
  }
  for (std::thread& buyer : buyers) buyer.join();
  run.buying_done.store(true);
  churner.join();
  reporting.store(false);
  progress.join();
  WriteProgress(options.progress_file, run.purchases.load());

  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::fprintf(stderr, "exactly-once-load: %.1f s; calls retried: %s\n", seconds,
               run.RetrySummary().c_str());
  std::printf(
      "result purchases=%lld refunds_full=%lld refunds_partial=%lld activities=%lld "
      "status_changes=%lld\n",
      static_cast<long long>(run.purchases.load()), static_cast<long long>(run.refunds_full.load()),
      static_cast<long long>(run.refunds_partial.load()),
      static_cast<long long>(run.activities.load()),
      static_cast<long long>(run.status_changes.load()));
  if (run.failed()) {
    std::fprintf(stderr, "exactly-once-load: FAIL: %s\n", run.failure().c_str());
    return 1;
  }
  return 0;
}
