#include "points-svc/rpc/purchase_writer.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/rpc/proto_time.h"
#include "common/status/error.h"
#include "common/status/macros.h"
#include "loyalty/points/v1/points_events.pb.h"
#include "points-svc/rpc/convert.h"
#include "points-svc/rpc/handler_support.h"
#include "points-svc/storage/purchase_batch_store.h"
#include "points-svc/storage/queries.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"

namespace loyalty::points {
namespace {

absl::Status OrderAlreadyRecorded(const std::string& order_id) {
  return ErrorWithReason(absl::StatusCode::kAlreadyExists, "ORDER_ALREADY_RECORDED",
                         absl::StrCat("order ", order_id, " was already recorded"),
                         {{"order_id", order_id}});
}

using Answers = std::vector<absl::StatusOr<v1::RecordPurchaseResponse>>;

// The members' balances, locked: those read with the batch, and the rows of first-time members
// created and locked now (an extra round trip only when a batch has newcomers; they are locked
// after the others, and the rare deadlock this allows with another replica's batch is retried
// by the pool).
absl::StatusOr<std::vector<Balance>> LockedBalances(pg::PipelinedTransaction& transaction,
                                                    std::span<const MemberRef> members,
                                                    const pg::Result& locked_rows) {
  std::vector<std::optional<Balance>> locked = ParseBalances(locked_rows, members);
  std::vector<MemberRef> newcomers;
  for (size_t i = 0; i < members.size(); ++i) {
    if (!locked[i].has_value()) newcomers.push_back(members[i]);
  }
  if (!newcomers.empty()) {
    const pg::Statement create[] = {EnsureBalances(newcomers), LockBalances(newcomers)};
    LOYALTY_ASSIGN_OR_RETURN(std::vector<pg::Result> created, transaction.Execute(create));
    const std::vector<std::optional<Balance>> fresh = ParseBalances(created[1], newcomers);
    for (size_t i = 0, k = 0; i < members.size(); ++i) {
      if (!locked[i].has_value()) locked[i] = fresh[k++];
    }
  }
  std::vector<Balance> balances;
  for (const std::optional<Balance>& balance : locked) {
    LOYALTY_CHECK(balance.has_value());  // Created just above, in this transaction.
    balances.push_back(*balance);
  }
  return balances;
}

// Adds `points` at `time` to dates kept earliest first and at most `limit` long. The list
// holds the earliest dates the database had; so the result is exact.
void AddDated(std::vector<DatedPoints>& dates, absl::Time time, int64_t points, size_t limit) {
  auto it = std::lower_bound(dates.begin(), dates.end(), time,
                             [](const DatedPoints& dated, absl::Time t) { return dated.time < t; });
  if (it != dates.end() && it->time == time) {
    it->points += points;
    return;
  }
  dates.insert(it, DatedPoints{.time = time, .points = points});
  if (dates.size() > limit) dates.pop_back();
}

// The PointsEarned event of a purchase written as `row`.
v1::PointsEarned EarnedEvent(const PurchaseJob& job, int64_t txn_id, const PurchaseWrite& row) {
  v1::PointsEarned event;
  event.set_program(job.request.program());
  event.set_member(job.request.member());
  event.set_transaction_id(txn_id);
  event.set_source(v1::EARN_SOURCE_PURCHASE);
  event.set_points(row.points);
  event.set_pending(row.pending_points > 0);
  *event.mutable_available_time() = ToTimestamp(row.available_time);
  event.set_order_id(job.request.order_id());
  event.set_currency_code(row.currency_code);
  event.set_total_minor(job.purchase.total_minor);
  *event.mutable_lines() = job.request.lines();
  *event.mutable_occur_time() = ToTimestamp(job.purchase.occur_time);
  return event;
}

// The upcoming pending credits of the members whose locked balance has pending points, into
// `dated`: one more round trip, only for batches that have such members (none in a program
// without pending days). The read is planned for its batch: pending_credits has a program-wide
// (program, available time) index with the same predicate as the member's, and a generic plan
// made while the table was small (a new program, a fresh replica) can walk the whole program's
// credits for every member and stay cached as the table grows. (The lots read has the same
// shape of index and keeps its generic plan: queries.h, kNextExpiriesBatch, says why.)
absl::Status ReadUpcomingPending(pg::PipelinedTransaction& transaction,
                                 std::span<const MemberRef> members,
                                 std::span<const Balance> balances,
                                 std::vector<DatedBalance>& dated) {
  std::vector<MemberRef> pending;
  std::vector<size_t> position;
  for (size_t i = 0; i < members.size(); ++i) {
    if (balances[i].pending <= 0) continue;
    pending.push_back(members[i]);
    position.push_back(i);
  }
  if (pending.empty()) return absl::OkStatus();
  const pg::Statement reads[] = {
      {&queries::kSetPlanCacheMode, pg::Params().Add("force_custom_plan")},
      UpcomingPending(pending, kBalanceDatedRowsMax),
      {&queries::kSetPlanCacheMode, pg::Params().Add("force_generic_plan")}};
  LOYALTY_ASSIGN_OR_RETURN(std::vector<pg::Result> read, transaction.Execute(reads));
  std::vector<std::vector<DatedPoints>> dates = ParseUpcomingPending(read[1], pending.size());
  for (size_t k = 0; k < pending.size(); ++k) {
    dated[position[k]].upcoming_available = std::move(dates[k]);
  }
  return absl::OkStatus();
}

// Writes the batch in the caller's transaction and leaves each purchase's answer in `answers`,
// in two round trips: BEGIN with every read (one pipeline), every write with COMMIT (another).
absl::Status WriteTogether(pg::PipelinedTransaction& transaction,
                           std::span<const std::shared_ptr<PurchaseJob>> jobs, Answers& answers) {
  const size_t n = jobs.size();
  std::vector<const idempotency::Call*> calls;
  std::vector<OrderRef> orders;
  std::vector<MemberRef> members;
  std::vector<absl::Time> occur_times;
  std::vector<std::string> programs;
  for (const auto& job : jobs) {
    calls.push_back(&job->call);
    orders.push_back({job->request.program(), job->request.order_id()});
    members.push_back({job->request.program(), job->request.member()});
    occur_times.push_back(job->purchase.occur_time);
    if (std::find(programs.begin(), programs.end(), job->request.program()) == programs.end()) {
      programs.push_back(job->request.program());
    }
  }

  // 1. Everything the batch reads, in one round trip: idempotency keys locked and looked up,
  // recorded orders, balances locked, caps so far, next expiries, new ids, rules. The reads of
  // purchases that turn out to be replays are wasted, which is cheaper than another trip.
  // Positions of the results (LockAndFindStatements gives two: the locks, then the answers):
  enum : size_t { kFound = 1, kRecorded, kBalances, kEarned, kIds, kExpiries, kRules };
  std::vector<pg::Statement> reads = idempotency::LockAndFindStatements(calls);
  reads.push_back(RecordedOrders(orders));
  reads.push_back(LockBalances(members));
  reads.push_back(PurchasePointsInWindows(members, occur_times));
  reads.push_back(AllocatePurchaseIds(static_cast<int>(n)));
  reads.push_back(NextExpiries(members, kBalanceDatedRowsMax));
  LOYALTY_CHECK(reads.size() == kRules);
  for (const std::string& program : programs) {
    reads.push_back({&queries::kSelectRules, pg::Params().Add(program)});
  }
  LOYALTY_ASSIGN_OR_RETURN(std::vector<pg::Result> read, transaction.Execute(reads));
  const std::vector<std::optional<idempotency::StoredAnswer>> stored =
      idempotency::ParseFound(read[kFound], n);
  const std::vector<bool> recorded = ParseRecordedOrders(read[kRecorded], n);
  const std::vector<EarnedSoFar> earned = ParseEarned(read[kEarned], n);
  std::vector<DatedBalance> dated = ParseDatedBalances(read[kExpiries], nullptr, n);
  const std::vector<PurchaseIds> ids = ParsePurchaseIds(read[kIds]);
  LOYALTY_ASSIGN_OR_RETURN(const std::vector<Balance> balances,
                           LockedBalances(transaction, members, read[kBalances]));
  LOYALTY_RETURN_IF_ERROR(ReadUpcomingPending(transaction, members, balances, dated));
  absl::flat_hash_map<std::string, EarningRules> rules;
  for (size_t i = 0; i < programs.size(); ++i) {
    LOYALTY_ASSIGN_OR_RETURN(auto loaded, RulesFromRows(read[kRules + i], programs[i]));
    rules.emplace(programs[i], std::move(loaded.first));
  }

  // 2. Each purchase: a replay answers from its stored answer, a recorded order id is refused,
  // the rest are evaluated against their member's locked balance. Nothing here writes.
  std::vector<PurchaseWrite> rows;
  std::vector<std::pair<const idempotency::Call*, std::string>> to_store;
  std::vector<events::OutboxEvent> earned_events;
  Answers fresh_answers(n, absl::InternalError("not written"));
  absl::flat_hash_set<std::pair<std::string, std::string>> batch_orders;
  for (size_t i = 0; i < n; ++i) {
    const PurchaseJob& job = *jobs[i];
    if (stored[i].has_value()) {
      v1::RecordPurchaseResponse replay;
      absl::Status replayed = idempotency::Replay(job.call, *stored[i], replay);
      if (replayed.ok()) {
        fresh_answers[i] = std::move(replay);
      } else {
        fresh_answers[i] = replayed;
      }
      continue;
    }
    if (recorded[i] || !batch_orders.insert({orders[i].program_id, orders[i].order_id}).second) {
      fresh_answers[i] = OrderAlreadyRecorded(job.request.order_id());
      continue;
    }
    const EarningRules& program_rules = rules.at(members[i].program_id);
    const std::string& member_id = members[i].member_id;
    const absl::Time now = job.call.now;
    const Evaluation evaluation =
        EvaluatePurchase(program_rules, job.purchase,
                         MemberEarnContext{.tier_multiplier_percent = job.tier_multiplier_percent,
                                           .earned_today = earned[i].today,
                                           .earned_this_month = earned[i].this_month});
    const int64_t points = evaluation.points;
    const bool pending = program_rules.pending_days > 0 && points > 0;
    PurchaseWrite row{.member = members[i],
                      .order_id = job.request.order_id(),
                      .currency_code = job.request.currency_code(),
                      .purchase = &job.purchase,
                      .points = points,
                      .ids = ids[i],
                      .create_time = now};
    if (pending) {
      row.posting.Move("", Account::kIssued, member_id, Account::kPending, points);
      row.pending_points = points;
      row.available_time = now + absl::Hours(24) * program_rules.pending_days;
    } else {
      row.lot_points =
          Credit(row.posting, member_id, balances[i], points, Account::kIssued).to_available;
      row.available_time = now;
    }
    row.expire_time = ExpireTime(program_rules, row.available_time);

    // The answer: the member's balance right after this purchase, its dates with the new lot
    // or pending credit added (one purchase per member and batch, so nothing else changes them).
    Balance after = balances[i];
    ApplyToBalance(after, row.posting, member_id);
    after.lifetime_earned += points;
    if (row.lot_points > 0 && row.expire_time.has_value()) {
      AddDated(dated[i].next_expiries, *row.expire_time, row.lot_points, kBalanceDatedRowsMax);
    }
    if (row.pending_points > 0) {
      AddDated(dated[i].upcoming_available, row.available_time, row.pending_points,
               kBalanceDatedRowsMax);
    }
    const TransactionHeader header{
        .kind = v1::TRANSACTION_KIND_PURCHASE, .order_id = job.request.order_id(), .time = now};
    v1::RecordPurchaseResponse response;
    *response.mutable_transaction() =
        TransactionView(ids[i].txn_id, header, MemberPoints(row.posting, member_id));
    response.set_points(points);
    AppendBreakdown(evaluation.breakdown, response.mutable_breakdown());
    response.set_pending(pending);
    if (pending) *response.mutable_available_time() = ToTimestamp(row.available_time);
    *response.mutable_balance() = BalanceProto(after, dated[i]);
    to_store.emplace_back(&job.call, response.SerializeAsString());
    earned_events.push_back(
        MemberEvent(members[i].program_id, member_id, EarnedEvent(job, ids[i].txn_id, row), now));
    fresh_answers[i] = std::move(response);
    rows.push_back(std::move(row));
  }

  // 3. Every write in one round trip, the answers stored under their keys with them.
  if (!rows.empty()) {
    std::vector<pg::Statement> writes = WritePurchases(rows);
    writes.push_back(idempotency::StoreAnswersStatement(to_store));
    // The events, numbered in the stream at the COMMIT that travels with these statements.
    for (pg::Statement& append : events::AppendStatements(transaction, earned_events)) {
      writes.push_back(std::move(append));
    }
    LOYALTY_RETURN_IF_ERROR(transaction.ExecuteAndCommit(writes).status());
  }
  answers = std::move(fresh_answers);
  return absl::OkStatus();
}

}  // namespace

struct PurchaseWriter::Metrics {
  prometheus::Histogram& batch_size;
  prometheus::Histogram& batch_seconds;
  prometheus::Gauge& queued;
  prometheus::Counter& solo_retries;
};

PurchaseWriter::PurchaseWriter(pg::Pool& pool, PurchaseWriterOptions options)
    : pool_(pool),
      wait_max_(options.wait_max),
      queue_(options.queue,
             [this](std::span<const std::shared_ptr<PurchaseJob>> jobs) { WriteObserved(jobs); }) {}

PurchaseWriter::~PurchaseWriter() = default;

void PurchaseWriter::ExportMetrics(prometheus::Registry& registry) {
  auto metrics = std::make_unique<Metrics>(Metrics{
      .batch_size = prometheus::BuildHistogram()
                        .Name("loyalty_points_purchase_batch_size")
                        .Help("Purchases written per group-commit transaction.")
                        .Register(registry)
                        .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64,
                                                                         128, 256, 512}),
      .batch_seconds =
          prometheus::BuildHistogram()
              .Name("loyalty_points_purchase_batch_seconds")
              .Help("Time to write one group-commit batch, commit included.")
              .Register(registry)
              .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.002, 0.005, 0.01, 0.02,
                                                               0.05, 0.1, 0.2, 0.5, 1, 2, 5}),
      .queued = prometheus::BuildGauge()
                    .Name("loyalty_points_purchase_queue")
                    .Help("Purchases waiting for a group-commit writer.")
                    .Register(registry)
                    .Add({}),
      .solo_retries = prometheus::BuildCounter()
                          .Name("loyalty_points_purchase_solo_retries_total")
                          .Help("Purchases written again alone after their batch failed.")
                          .Register(registry)
                          .Add({})});
  LOYALTY_CHECK(metrics_.load() == nullptr);  // Once.
  metrics_ = metrics.get();
  metrics_owner_ = std::move(metrics);
}

void PurchaseWriter::WriteObserved(std::span<const std::shared_ptr<PurchaseJob>> jobs) {
  const absl::Time start = absl::Now();
  WriteBatch(jobs);
  if (Metrics* metrics = metrics_.load(); metrics != nullptr) {
    metrics->batch_size.Observe(static_cast<double>(jobs.size()));
    metrics->batch_seconds.Observe(absl::ToDoubleSeconds(absl::Now() - start));
    metrics->queued.Set(queue_.queued());
  }
}

namespace {

// One purchase per member and batch: the queue key is the member.
std::string MemberKey(const PurchaseJob& job) {
  return absl::StrCat(job.request.program(), "/", job.request.member());
}

}  // namespace

absl::StatusOr<v1::RecordPurchaseResponse> PurchaseWriter::Record(PurchaseJob job) {
  auto shared = std::make_shared<PurchaseJob>(std::move(job));
  LOYALTY_RETURN_IF_ERROR(queue_.Run(shared, MemberKey(*shared), absl::Now() + wait_max_));
  return std::move(shared->result);
}

void PurchaseWriter::RecordAsync(PurchaseJob job, Done done) {
  auto shared = std::make_shared<PurchaseJob>(std::move(job));
  std::string key = MemberKey(*shared);
  // `done` is shared by the callback and this frame: whichever runs answers.
  auto answer = std::make_shared<Done>(std::move(done));
  absl::Status queued = queue_.Submit(shared, std::move(key),
                                      [shared, answer] { (*answer)(std::move(shared->result)); });
  if (!queued.ok()) (*answer)(queued);
}

void PurchaseWriter::WriteBatch(std::span<const std::shared_ptr<PurchaseJob>> jobs) {
  Answers answers;
  absl::Status status = pool_.InPipelinedTransaction(
      pg::kBatchTransaction, [&](pg::PipelinedTransaction& transaction) -> absl::Status {
        answers.assign(jobs.size(), absl::InternalError("not written"));
        return WriteTogether(transaction, jobs, answers);
      });
  if (status.ok()) {
    for (size_t i = 0; i < jobs.size(); ++i) jobs[i]->result = std::move(answers[i]);
    return;
  }
  if (jobs.size() > 1) {
    // Something only the database saw (an order id raced in from another batch, say) failed
    // the shared transaction: write each purchase alone, so only the culprit fails.
    if (Metrics* metrics = metrics_.load(); metrics != nullptr) {
      metrics->solo_retries.Increment(static_cast<double>(jobs.size()));
    }
    for (const std::shared_ptr<PurchaseJob>& job : jobs) WriteBatch({&job, 1});
    return;
  }
  if (status.code() == absl::StatusCode::kAlreadyExists) {
    // The order id was recorded by a batch that committed after we looked: look again, and the
    // purchase gets ORDER_ALREADY_RECORDED (or its replay) like any other.
    status = pool_.InPipelinedTransaction(
        pg::kBatchTransaction, [&](pg::PipelinedTransaction& transaction) -> absl::Status {
          answers.assign(1, absl::InternalError("not written"));
          return WriteTogether(transaction, jobs, answers);
        });
    if (status.ok()) {
      jobs[0]->result = std::move(answers[0]);
      return;
    }
  }
  jobs[0]->result = status;
}

}  // namespace loyalty::points
