// The redemption saga for a batch of RedeemReward calls (group commit, DESIGN.md section 8).
// RedeemReward checks a call and queues it; a writer thread takes what is queued and runs each
// step of the saga (rewards_handler.h) once for the whole batch:
//   1. one transaction: idempotency keys locked and looked up, rewards read, limited stock locked,
//      limits counted, the PENDING redemptions inserted, stock taken, the answers stored;
//   2. one CreateHolds call to points-svc that spends the points (holds captured as made);
//   3. one transaction: PENDING -> COMPLETED with each points state, vouchers, RewardRedeemed
//      events.
// Every caller gets exactly the answer (and the stored idempotent answer) a saga of its own
// would have given, and the crash story is unchanged: each step is the single saga's step with
// more rows, committed (or called) before the next begins, keyed by the same redemption ids, so
// a crash between steps leaves each redemption where the single saga would have left it, for
// the recovery loop to finish or compensate:
//   - the queue never puts two calls of one member in one batch, so a member's limit is counted
//     once per batch and a retry with the same request_id finds the first call's answer;
//   - a call refused in step 1 (reward not found, limit, out of stock) writes nothing and does
//     not fail the others; a replay is driven alone from its stored redemption, as before;
//   - a refused spend compensates that redemption alone (HoldRefused), as the single saga does;
//   - when the database rejects a step's shared transaction anyway, each call of the batch
//     does that step and the rest alone (a batch of one for step 1, the single saga's Drive for
//     step 3), so one bad call cannot fail its batch.

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/events/outbox.h"
#include "common/log/log.h"
#include "common/status/error.h"
#include "common/status/macros.h"
#include "loyalty/rewards/v1/reward_events.pb.h"
#include "rewards-svc/domain/voucher_code.h"
#include "rewards-svc/rpc/convert.h"
#include "rewards-svc/rpc/handler_util.h"
#include "rewards-svc/rpc/rewards_handler.h"
#include "rewards-svc/storage/queries.h"
#include "rewards-svc/storage/redemption_batch_store.h"

namespace loyalty::rewards {
namespace {

using Jobs = std::span<const std::shared_ptr<RedeemJob>>;

// What step 1 made of a call: exactly one of an error answer, a replay (the redemption its
// stored answer names) or a fresh PENDING redemption with the reward it was read with.
struct Reservation {
  absl::Status refused;
  std::optional<std::string> replayed;
  std::optional<RedemptionRow> row;
  std::optional<Reward> reward;
};

// Step 1 for the batch in `transaction`, in two round trips (three when a limited reward is in
// it): every read, then every write with COMMIT.
absl::Status ReserveTogether(pg::PipelinedTransaction& transaction, Jobs jobs, absl::Time now,
                             std::vector<Reservation>& out) {
  const size_t n = jobs.size();
  std::vector<const idempotency::Call*> calls;
  std::vector<RewardRef> rewards;
  std::vector<size_t> reward_of;
  std::map<std::pair<std::string, std::string>, size_t> reward_index;
  for (const auto& job : jobs) {
    calls.push_back(&job->call);
    auto [it, fresh] =
        reward_index.try_emplace({job->request.program(), job->request.reward()}, rewards.size());
    if (fresh) rewards.push_back({job->request.program(), job->request.reward()});
    reward_of.push_back(it->second);
  }
  // Positions of the results (LockAndFindStatements gives two: the locks, then the answers).
  enum : size_t { kFound = 1, kRewards, kStock };
  std::vector<pg::Statement> reads = idempotency::LockAndFindStatements(calls);
  reads.push_back(SelectRewards(rewards));
  reads.push_back(LockStock(rewards));
  LOYALTY_ASSIGN_OR_RETURN(std::vector<pg::Result> read, transaction.Execute(reads));
  const std::vector<std::optional<idempotency::StoredAnswer>> stored =
      idempotency::ParseFound(read[kFound], n);
  const std::vector<std::optional<Reward>> found = ParseRewards(read[kRewards], rewards.size());
  const std::vector<std::optional<int64_t>> stock = ParseStock(read[kStock], rewards.size());

  // A limited reward's count, under the lock that serializes the member's redemptions of it.
  std::vector<std::optional<int64_t>> used(n);
  std::vector<pg::Statement> counts;
  std::vector<size_t> counted;
  for (size_t i = 0; i < n; ++i) {
    const std::optional<Reward>& reward = found[reward_of[i]];
    if (stored[i].has_value() || !reward.has_value() || reward->limit_per_member <= 0) continue;
    const RedeemJob& job = *jobs[i];
    const absl::Time start = LimitPeriodStart(reward->limit_period, now);
    counts.push_back(
        {&queries::kLockMemberReward,
         pg::Params().Add(job.request.program()).Add(job.request.member()).Add(reward->id)});
    counts.push_back({&queries::kCountRedemptionsSince,
                      pg::Params()
                          .Add(job.request.program())
                          .Add(job.request.member())
                          .Add(reward->id)
                          .Add(start == absl::InfinitePast() ? absl::UnixEpoch() : start)});
    counted.push_back(i);
  }
  if (!counts.empty()) {
    LOYALTY_ASSIGN_OR_RETURN(std::vector<pg::Result> count, transaction.Execute(counts));
    for (size_t k = 0; k < counted.size(); ++k) used[counted[k]] = count[2 * k + 1].Int64(0, 0);
  }

  // Each call in queue order, as the single saga's step 1 decides it; nothing here writes.
  out.assign(n, Reservation{});
  std::vector<int64_t> taken(rewards.size(), 0);
  std::vector<RedemptionRow> rows;
  std::vector<std::pair<const idempotency::Call*, std::string>> to_store;
  for (size_t i = 0; i < n; ++i) {
    const RedeemJob& job = *jobs[i];
    Reservation& reservation = out[i];
    if (stored[i].has_value()) {
      v1::RedeemRewardResponse replay;
      reservation.refused = idempotency::Replay(job.call, *stored[i], replay);
      if (reservation.refused.ok()) reservation.replayed = replay.redemption().id();
      continue;
    }
    const size_t r = reward_of[i];
    if (!found[r].has_value()) {
      reservation.refused = RewardNotFound(job.request.program(), job.request.reward());
      continue;
    }
    const Reward& reward = *found[r];
    if (used[i].has_value() && *used[i] >= reward.limit_per_member) {
      reservation.refused = IneligibleError({.reason = Ineligible::kLimitReached}, reward.id);
      continue;
    }
    if (stock[r].has_value()) {
      if (*stock[r] - taken[r] <= 0) {
        reservation.refused = IneligibleError({.reason = Ineligible::kOutOfStock}, reward.id);
        continue;
      }
      ++taken[r];
    }
    RedemptionRow row{.program_id = job.request.program(),
                      .redemption_id = NewId('d'),
                      .member_id = job.request.member(),
                      .reward_id = reward.id,
                      .kind = reward.terms.kind,
                      .points = reward.points_cost,
                      .status = RedemptionStatus::kPending,
                      .stock_reserved = stock[r].has_value(),
                      .create_time = now,
                      .update_time = now};
    v1::RedeemRewardResponse response;
    *response.mutable_redemption() = RedemptionView(row);
    to_store.emplace_back(&job.call, response.SerializeAsString());
    rows.push_back(row);
    reservation.row = std::move(row);
    reservation.reward = reward;
  }
  std::vector<pg::Statement> writes;
  if (rows.empty()) return transaction.ExecuteAndCommit(writes).status();
  writes.push_back(InsertRedemptions(rows));
  std::vector<RewardRef> stocked;
  std::vector<int64_t> takes;
  for (size_t r = 0; r < rewards.size(); ++r) {
    if (taken[r] == 0) continue;
    stocked.push_back(rewards[r]);
    takes.push_back(taken[r]);
  }
  if (!stocked.empty()) writes.push_back(TakeStock(stocked, takes));
  writes.push_back(idempotency::StoreAnswersStatement(to_store));
  return transaction.ExecuteAndCommit(writes).status();
}

// A redemption on its way through steps 2-3.
struct InFlight {
  size_t job = 0;
  const RedemptionRow* row = nullptr;
  const Reward* reward = nullptr;
  // Set in steps 2 and 3.
  RedemptionRow completed;
  bool decided_here = false;
  std::optional<std::string> code;  // The voucher's canonical code.
  std::optional<VoucherRow> voucher;
};

}  // namespace

void RewardsHandler::RedeemTogether(Jobs jobs) {
  const size_t n = jobs.size();
  std::vector<std::optional<absl::StatusOr<v1::Redemption>>> answers(n);

  // Step 1.
  std::vector<Reservation> reserved;
  const absl::Time reserve_time = clock_.Now();
  absl::Status status = pool_.InPipelinedTransaction(
      pg::kBatchTransaction, [&](pg::PipelinedTransaction& transaction) -> absl::Status {
        return ReserveTogether(transaction, jobs, reserve_time, reserved);
      });
  if (!status.ok()) {
    if (n > 1) {
      // Something only the database saw (a request_id two members sent at once, say) failed
      // the shared transaction: each call alone, so only the culprit fails.
      for (const std::shared_ptr<RedeemJob>& job : jobs) RedeemTogether({&job, 1});
      return;
    }
    jobs[0]->result = status;
    return;
  }
  bool reserved_any = false;
  for (size_t i = 0; i < n; ++i) {
    if (!reserved[i].refused.ok()) answers[i] = reserved[i].refused;
    reserved_any = reserved_any || reserved[i].refused.ok();
  }
  if (reserved_any) AfterStep(SagaStep::kReserved);

  // Step 2, the pivot: every fresh redemption's points spent in one call.
  std::vector<InFlight> fresh;
  std::vector<Upstream::HoldRequest> holds;
  for (size_t i = 0; i < n; ++i) {
    if (!reserved[i].row.has_value()) continue;
    const RedemptionRow& row = *reserved[i].row;
    fresh.push_back({.job = i, .row = &row, .reward = &*reserved[i].reward});
    holds.push_back({.program_id = row.program_id,
                     .member_id = row.member_id,
                     .hold_id = row.redemption_id,
                     .points = row.points,
                     .reason = absl::StrCat("reward:", row.reward_id)});
  }
  const absl::Time now = clock_.Now();
  std::vector<InFlight> completing;
  if (!fresh.empty()) {
    absl::StatusOr<std::vector<absl::StatusOr<HoldInfo>>> outcomes =
        upstream_.SpendHolds(holds, options_.hold_ttl);
    for (size_t k = 0; k < fresh.size(); ++k) {
      InFlight& redemption = fresh[k];
      // The whole call failed (points-svc down, deadline): each stays PENDING, as alone.
      absl::StatusOr<HoldInfo> hold = outcomes.ok() ? (*outcomes)[k] : outcomes.status();
      if (!hold.ok()) {
        answers[redemption.job] = IsHoldRefusal(hold.status())
                                      ? HoldRefused(*redemption.row, hold.status())
                                      : absl::StatusOr<v1::Redemption>(hold.status());
        continue;
      }
      if (hold->status != HoldStatus::kCaptured) {
        // An open hold (from a points-svc older than capture on CreateHold, mid-upgrade): the
        // single saga's way, which finds the same hold, captures it and completes.
        answers[redemption.job] = Drive(*redemption.row, redemption.reward);
        continue;
      }
      redemption.completed = CompletedRow(*redemption.row, PointsState::kCaptured, now);
      completing.push_back(redemption);
    }
  }
  if (!completing.empty()) AfterStep(SagaStep::kSpent);

  // Step 3: the decisions and the vouchers of the batch in one transaction.
  if (!completing.empty()) {
    status = pool_.InPipelinedTransaction(
        pg::kBatchTransaction, [&](pg::PipelinedTransaction& transaction) -> absl::Status {
          std::vector<RedemptionRow> rows;
          for (InFlight& redemption : completing) {
            redemption.decided_here = false;
            redemption.code.reset();
            redemption.voucher.reset();
            rows.push_back(redemption.completed);
          }
          const pg::Statement complete[] = {CompleteRedemptions(rows, now)};
          LOYALTY_ASSIGN_OR_RETURN(std::vector<pg::Result> result, transaction.Execute(complete));
          const std::vector<bool> decided = ParseDecided(result[0], completing.size());
          std::vector<NewVoucher> vouchers;
          std::vector<events::OutboxEvent> redeemed;
          for (size_t k = 0; k < completing.size(); ++k) {
            InFlight& redemption = completing[k];
            if (!decided[k]) continue;  // Decided elsewhere (the recovery loop): read later.
            redemption.decided_here = true;
            const RedemptionRow& row = *redemption.row;
            v1::RewardRedeemed event = RedeemedEvent(row);
            if (IssuesVoucher(row.kind)) {
              // As IssueVoucher, without its retry on a code collision (60 random bits: the
              // batch then fails and each call issues alone, drawing again).
              IssuedVoucher voucher =
                  DrawVoucher(row.redemption_id, row.member_id, *redemption.reward, now);
              vouchers.push_back({.program_id = row.program_id,
                                  .row = voucher.row,
                                  .code_hash = keys_.LookupHash(row.program_id, voucher.code)});
              event.set_voucher(voucher.row.voucher_id);
              redemption.code = std::move(voucher.code);
              redemption.voucher = std::move(voucher.row);
            }
            redeemed.push_back(
                events::MakeEvent(row.program_id, "redemption", row.redemption_id, event, now));
          }
          std::vector<pg::Statement> writes;
          if (!vouchers.empty()) writes.push_back(InsertVouchers(vouchers, now));
          if (!redeemed.empty()) {
            for (pg::Statement& append : events::AppendStatements(transaction, redeemed)) {
              writes.push_back(std::move(append));
            }
          }
          return transaction.ExecuteAndCommit(writes).status();
        });
    if (!status.ok()) {
      // Each alone through the single saga: its CreateHold finds the same hold again.
      for (const InFlight& redemption : completing) {
        answers[redemption.job] = Drive(*redemption.row, redemption.reward);
      }
      completing.clear();
    } else {
      AfterStep(SagaStep::kCompleted);
    }
  }

  for (const InFlight& redemption : completing) {
    if (!redemption.decided_here) {
      answers[redemption.job] = FinalView(*redemption.row);
      continue;
    }
    // The answer is what this batch wrote; no need to read it back.
    v1::Redemption view = RedemptionView(redemption.completed);
    if (redemption.voucher.has_value()) {
      *view.mutable_voucher() =
          VoucherView(*redemption.voucher, FormatVoucherCode(*redemption.code));
    }
    answers[redemption.job] = std::move(view);
  }

  // Replays, each as the single saga drives a stored redemption.
  for (size_t i = 0; i < n; ++i) {
    if (!reserved[i].replayed.has_value()) continue;
    answers[i] = [&]() -> absl::StatusOr<v1::Redemption> {
      RedemptionRow row;
      {
        LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
        LOYALTY_ASSIGN_OR_RETURN(
            row, SelectRedemption(*connection, jobs[i]->request.program(), *reserved[i].replayed));
      }
      return Drive(row);
    }();
  }

  for (size_t i = 0; i < n; ++i) {
    LOYALTY_CHECK(answers[i].has_value());
    if (!answers[i]->ok()) {
      jobs[i]->result = answers[i]->status();
      continue;
    }
    v1::RedeemRewardResponse response;
    *response.mutable_redemption() = **std::move(answers[i]);
    jobs[i]->result = std::move(response);
  }
}

}  // namespace loyalty::rewards
