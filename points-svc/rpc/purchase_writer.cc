#include "points-svc/rpc/purchase_writer.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/rpc/proto_time.h"
#include "common/status/error.h"
#include "common/status/macros.h"
#include "points-svc/rpc/convert.h"
#include "points-svc/rpc/handler_support.h"
#include "points-svc/storage/purchase_batch_store.h"

namespace loyalty::points {
namespace {

absl::Status OrderAlreadyRecorded(const std::string& order_id) {
  return ErrorWithReason(absl::StatusCode::kAlreadyExists, "ORDER_ALREADY_RECORDED",
                         absl::StrCat("order ", order_id, " was already recorded"),
                         {{"order_id", order_id}});
}

using Answers = std::vector<absl::StatusOr<v1::RecordPurchaseResponse>>;

// Every statement of a batch looks up a few dozen keys. Joined to unnest() of a parameter, the
// planner guesses the input size and may hash-join whole tables (balances, earn_daily,
// purchases) instead of walking their primary keys; on a busy ledger that is a full scan per
// batch. Nested loops over the indexes are what these statements need.
constexpr pg::TransactionOptions kBatchTransaction{
    .local_settings = "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off"};

// A purchase of the batch that is to be written: its job and what the writer works out for it.
struct Written {
  size_t index = 0;  // Into the batch.
  Evaluation evaluation;
  bool pending = false;
  Balance balance;  // The member's balance after this purchase.
};

// Writes the batch in the caller's transaction and leaves each purchase's answer in `answers`.
absl::Status WriteTogether(pg::Connection& connection,
                           std::span<const std::shared_ptr<PurchaseJob>> jobs, Answers& answers) {
  // 1. Idempotency keys: a replay answers from its stored answer and writes nothing.
  std::vector<const idempotency::Call*> calls;
  for (const auto& job : jobs) calls.push_back(&job->call);
  LOYALTY_ASSIGN_OR_RETURN(auto stored, idempotency::LockAndFind(connection, calls));
  std::vector<size_t> fresh;
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (!stored[i].has_value()) {
      fresh.push_back(i);
      continue;
    }
    v1::RecordPurchaseResponse replay;
    absl::Status replayed = idempotency::Replay(jobs[i]->call, *stored[i], replay);
    answers[i] = replayed.ok() ? absl::StatusOr<v1::RecordPurchaseResponse>(std::move(replay))
                               : absl::StatusOr<v1::RecordPurchaseResponse>(replayed);
  }
  if (fresh.empty()) return absl::OkStatus();

  // 2. An order id is recorded once per program.
  std::vector<OrderRef> orders;
  for (size_t i : fresh)
    orders.push_back({jobs[i]->request.program(), jobs[i]->request.order_id()});
  LOYALTY_ASSIGN_OR_RETURN(std::vector<bool> recorded, RecordedOrders(connection, orders));
  std::vector<Written> writes;
  std::vector<MemberRef> members;
  std::vector<absl::Time> occur_times;
  absl::flat_hash_set<std::pair<std::string, std::string>> batch_orders;
  for (size_t k = 0; k < fresh.size(); ++k) {
    const PurchaseJob& job = *jobs[fresh[k]];
    if (recorded[k] ||
        !batch_orders.insert({job.request.program(), job.request.order_id()}).second) {
      answers[fresh[k]] = OrderAlreadyRecorded(job.request.order_id());
      continue;
    }
    writes.push_back(Written{.index = fresh[k]});
    members.push_back({job.request.program(), job.request.member()});
    occur_times.push_back(job.purchase.occur_time);
  }
  if (writes.empty()) return absl::OkStatus();

  // 3. Lock the members' balances, read their caps so far and the programs' rules.
  LOYALTY_ASSIGN_OR_RETURN(std::vector<Balance> balances, LockBalances(connection, members));
  LOYALTY_ASSIGN_OR_RETURN(std::vector<EarnedSoFar> earned,
                           PurchasePointsInWindows(connection, members, occur_times));
  absl::flat_hash_map<std::string, EarningRules> rules;
  for (const MemberRef& member : members) {
    if (rules.contains(member.program_id)) continue;
    LOYALTY_ASSIGN_OR_RETURN(auto loaded, LoadRules(connection, member.program_id));
    rules.emplace(member.program_id, std::move(loaded.first));
  }

  // 4. Evaluate each purchase against its member's balance and compose its rows.
  std::vector<PurchaseWrite> rows;
  rows.reserve(writes.size());
  for (size_t k = 0; k < writes.size(); ++k) {
    Written& write = writes[k];
    const PurchaseJob& job = *jobs[write.index];
    const EarningRules& program_rules = rules.at(members[k].program_id);
    const absl::Time now = job.call.now;
    write.evaluation =
        EvaluatePurchase(program_rules, job.purchase,
                         MemberEarnContext{.tier_multiplier_percent = job.tier_multiplier_percent,
                                           .earned_today = earned[k].today,
                                           .earned_this_month = earned[k].this_month});
    const int64_t points = write.evaluation.points;
    write.pending = program_rules.pending_days > 0 && points > 0;
    PurchaseWrite row{.member = members[k],
                      .order_id = job.request.order_id(),
                      .currency_code = job.request.currency_code(),
                      .purchase = &job.purchase,
                      .points = points,
                      .create_time = now};
    const std::string& member_id = members[k].member_id;
    if (write.pending) {
      row.posting.Move("", Account::kIssued, member_id, Account::kPending, points);
      row.pending_points = points;
      row.available_time = now + absl::Hours(24) * program_rules.pending_days;
    } else {
      row.lot_points =
          Credit(row.posting, member_id, balances[k], points, Account::kIssued).to_available;
      row.available_time = now;
    }
    row.expire_time = ExpireTime(program_rules, row.available_time);
    write.balance = balances[k];
    ApplyToBalance(write.balance, row.posting, member_id);
    write.balance.lifetime_earned += points;
    rows.push_back(std::move(row));
  }

  // 5. Write them all, then answer each with its member's balance.
  LOYALTY_ASSIGN_OR_RETURN(std::vector<PurchaseIds> ids, WritePurchases(connection, rows));
  std::vector<Balance> after;
  for (const Written& write : writes) after.push_back(write.balance);
  LOYALTY_ASSIGN_OR_RETURN(std::vector<DatedBalance> dated,
                           ReadDatedBalances(connection, members, after, kBalanceDatedRowsMax));
  std::vector<std::pair<const idempotency::Call*, std::string>> to_store;
  to_store.reserve(writes.size());
  for (size_t k = 0; k < writes.size(); ++k) {
    const Written& write = writes[k];
    const PurchaseJob& job = *jobs[write.index];
    const TransactionHeader header{.kind = v1::TRANSACTION_KIND_PURCHASE,
                                   .order_id = job.request.order_id(),
                                   .time = job.call.now};
    v1::RecordPurchaseResponse response;
    *response.mutable_transaction() =
        TransactionView(ids[k].txn_id, header, MemberPoints(rows[k].posting, members[k].member_id));
    response.set_points(write.evaluation.points);
    AppendBreakdown(write.evaluation.breakdown, response.mutable_breakdown());
    response.set_pending(write.pending);
    if (write.pending) *response.mutable_available_time() = ToTimestamp(rows[k].available_time);
    *response.mutable_balance() = BalanceProto(write.balance, dated[k]);
    to_store.emplace_back(&job.call, response.SerializeAsString());
    answers[write.index] = std::move(response);
  }
  return idempotency::StoreAnswers(connection, to_store);
}

}  // namespace

PurchaseWriter::PurchaseWriter(pg::Pool& pool, PurchaseWriterOptions options)
    : pool_(pool),
      wait_max_(options.wait_max),
      queue_(options.queue,
             [this](std::span<const std::shared_ptr<PurchaseJob>> jobs) { WriteBatch(jobs); }) {}

absl::StatusOr<v1::RecordPurchaseResponse> PurchaseWriter::Record(PurchaseJob job) {
  auto shared = std::make_shared<PurchaseJob>(std::move(job));
  // One purchase per member and batch: the key is the member.
  std::string key = absl::StrCat(shared->request.program(), "/", shared->request.member());
  LOYALTY_RETURN_IF_ERROR(queue_.Run(shared, std::move(key), absl::Now() + wait_max_));
  return std::move(shared->result);
}

void PurchaseWriter::WriteBatch(std::span<const std::shared_ptr<PurchaseJob>> jobs) {
  Answers answers;
  absl::Status status =
      pool_.InTransaction(kBatchTransaction, [&](pg::Connection& connection) -> absl::Status {
        answers.assign(jobs.size(), absl::InternalError("not written"));
        return WriteTogether(connection, jobs, answers);
      });
  if (status.ok()) {
    for (size_t i = 0; i < jobs.size(); ++i) jobs[i]->result = std::move(answers[i]);
    return;
  }
  if (jobs.size() > 1) {
    // Something only the database saw (an order id raced in from another batch, say) failed
    // the shared transaction: write each purchase alone, so only the culprit fails.
    for (const std::shared_ptr<PurchaseJob>& job : jobs) WriteBatch({&job, 1});
    return;
  }
  if (status.code() == absl::StatusCode::kAlreadyExists) {
    // The order id was recorded by a batch that committed after we looked: look again, and the
    // purchase gets ORDER_ALREADY_RECORDED (or its replay) like any other.
    status =
        pool_.InTransaction(kBatchTransaction, [&](pg::Connection& connection) -> absl::Status {
          answers.assign(1, absl::InternalError("not written"));
          return WriteTogether(connection, jobs, answers);
        });
    if (status.ok()) {
      jobs[0]->result = std::move(answers[0]);
      return;
    }
  }
  jobs[0]->result = status;
}

}  // namespace loyalty::points
