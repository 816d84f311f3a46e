// CreateHolds and CaptureHolds: the hold RPCs for many holds per call, for rewards-svc's batched
// redemption saga (which makes its holds with `capture`: spent as they are made). A call is one
// transaction of a few pipelines (set-based statements, see storage/hold_batch_store.h) instead
// of a transaction and a dozen round trips per hold. Each hold is answered exactly as its
// single-hold RPC (points_handler.cc) would answer it alone:
//   - holds are planned in request order against their member's locked balance, so several
//     holds of one member see each other as consecutive calls would;
//   - a hold id already stored (or met earlier in the batch) answers as a retry of that hold;
//   - a refusal (INSUFFICIENT_POINTS, HOLD_NOT_OPEN, ...) is that hold's outcome only;
//   - when the database rejects the shared transaction anyway (say, the same hold id raced in
//     from another call), each hold is done again alone through the single-hold RPC, so one bad
//     hold cannot fail the others.

#include <algorithm>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status/error.h"
#include "common/status/grpc_status.h"
#include "common/status/macros.h"
#include "loyalty/points/v1/points_events.pb.h"
#include "points-svc/rpc/grpc_service.h"
#include "points-svc/rpc/handler_support.h"
#include "points-svc/rpc/holds.h"
#include "points-svc/rpc/points_handler.h"
#include "points-svc/storage/hold_batch_store.h"
#include "points-svc/storage/ledger_store.h"

namespace loyalty::points {
namespace {

constexpr int kHoldsPerCallMax = 1000;

using HoldResult = absl::StatusOr<v1::Hold>;

void SetOutcome(const HoldResult& result, v1::HoldOutcome& outcome) {
  if (result.ok()) {
    *outcome.mutable_hold() = *result;
  } else {
    *outcome.mutable_error() = ToRpcStatus(result.status(), kErrorDomain);
  }
}

absl::Status BatchSizeError(int size) {
  return InvalidField("holds", "INVALID_BATCH_SIZE",
                      absl::StrCat(size, " holds; a call takes 1 to ", kHoldsPerCallMax));
}

// Index of each distinct (program, member) in `members`, which it fills.
class MemberIndex {
 public:
  size_t Of(const std::string& program_id, const std::string& member_id) {
    auto [it, fresh] = index_.try_emplace({program_id, member_id}, members_.size());
    if (fresh) members_.push_back({program_id, member_id});
    return it->second;
  }
  const std::vector<MemberRef>& members() const { return members_; }

 private:
  std::map<std::pair<std::string, std::string>, size_t> index_;
  std::vector<MemberRef> members_;
};

// The UPDATE that takes each member's `amounts[m]` from its `lots[m]` (read by LotsToSpend for at
// least that much: spending oldest expiry first, the sum of a member's spends takes what
// consecutive spends would). INTERNAL when a member's lots hold less than its balance promised.
absl::StatusOr<pg::Statement> TakeSpends(std::span<const MemberRef> members,
                                         std::span<const int64_t> amounts,
                                         std::span<const std::vector<Lot>> lots) {
  std::vector<MemberRef> spenders;
  std::vector<std::vector<LotTake>> takes;
  for (size_t m = 0; m < members.size(); ++m) {
    if (amounts[m] == 0) continue;
    std::optional<std::vector<LotTake>> take = AllocateFromLots(lots[m], amounts[m]);
    if (!take.has_value()) {
      return absl::InternalError(absl::StrCat("lots of member ", members[m].member_id,
                                              " in program ", members[m].program_id,
                                              " hold less than ", amounts[m], " points"));
    }
    spenders.push_back(members[m]);
    takes.push_back(*std::move(take));
  }
  return TakeFromLotsBatch(spenders, takes);
}

}  // namespace

absl::StatusOr<v1::CreateHoldsResponse> PointsHandler::CreateHolds(
    const v1::CreateHoldsRequest& request) {
  const int n = request.holds_size();
  if (n < 1 || n > kHoldsPerCallMax) return BatchSizeError(n);
  const absl::Time now = clock_.Now();
  // Checks that need no transaction first: a hold refused here takes no part in it.
  std::vector<std::optional<HoldResult>> early(n);
  std::vector<absl::Duration> ttls(n);
  std::vector<int> live;  // Positions of the holds the transaction decides.
  for (int i = 0; i < n; ++i) {
    const v1::CreateHoldRequest& hold = request.holds(i);
    absl::StatusOr<absl::Duration> ttl = ValidateCreateHold(hold);
    absl::Status member =
        ttl.ok() ? RequireActiveMember(hold.program(), hold.member()).status() : ttl.status();
    if (!member.ok()) {
      early[i] = member;
      continue;
    }
    ttls[i] = *ttl;
    live.push_back(i);
  }
  std::vector<HoldResult> results(n, absl::InternalError("not decided"));
  for (int i = 0; i < n; ++i) {
    if (early[i].has_value()) results[i] = *early[i];
  }

  if (!live.empty()) {
    MemberIndex index;
    std::vector<size_t> member_of;  // By position in `live`.
    std::vector<HoldRef> refs;
    for (int i : live) {
      const v1::CreateHoldRequest& hold = request.holds(i);
      member_of.push_back(index.Of(hold.program(), hold.member()));
      refs.push_back({hold.program(), hold.hold_id()});
    }
    const std::vector<MemberRef>& members = index.members();
    // What each member's holds to capture at once would spend if all were granted: their lots
    // are read with the balances, for at least that much.
    std::vector<int64_t> asked(members.size(), 0);
    for (size_t j = 0; j < live.size(); ++j) {
      const v1::CreateHoldRequest& hold = request.holds(live[j]);
      if (hold.capture()) asked[member_of[j]] += hold.points();
    }
    const bool captures = std::any_of(asked.begin(), asked.end(), [](int64_t a) { return a > 0; });
    std::vector<HoldResult> decided;
    absl::Status written = pool_.InPipelinedTransaction(
        pg::kBatchTransaction, [&](pg::PipelinedTransaction& transaction) -> absl::Status {
          decided.assign(live.size(), absl::InternalError("not decided"));
          // 1. Every read in one round trip, with BEGIN: balances locked, the holds already stored
          // (read after the locks, as CreateHold reads them), which members have time-driven work
          // due, ids for the ledger transactions, and the lots of the captures. A member without a
          // balance row has nothing to hold (each of its holds is refused below, nothing is
          // written for it), so no row is created for it.
          std::vector<pg::Statement> reads = {
              LockBalances(members), SelectHolds(refs, /*lock=*/false),
              MembersDueMaintenance(members, now), AllocateTxnIds(static_cast<int>(live.size()))};
          if (captures) reads.push_back(LotsToSpend(members, asked));
          LOYALTY_ASSIGN_OR_RETURN(std::vector<pg::Result> read, transaction.Execute(reads));
          std::vector<Balance> balances;
          for (const std::optional<Balance>& balance : ParseBalances(read[0], members)) {
            balances.push_back(balance.value_or(Balance{}));
          }
          const std::vector<std::optional<StoredHold>> stored = ParseHolds(read[1], refs.size());
          const std::vector<bool> due = ParseMembersDue(read[2], members.size());
          const std::vector<int64_t> txn_ids = ParseTxnIds(read[3]);
          if (txn_ids.size() != live.size()) return absl::InternalError("txn ids short");
          std::vector<std::vector<Lot>> lots = captures ? ParseLotsToSpend(read[4], members.size())
                                                        : std::vector<std::vector<Lot>>();
          // 2. The rare members with pending points due or expired holds, one by one, as
          // CreateHold maintains its member; their lots may have changed, so they are read again.
          bool maintained = false;
          for (size_t m = 0; m < members.size(); ++m) {
            if (!due[m]) continue;
            LOYALTY_RETURN_IF_ERROR(MaintainMember(transaction.begun_connection(),
                                                   members[m].program_id, members[m].member_id,
                                                   balances[m], now));
            maintained = true;
          }
          if (captures && maintained) {
            const pg::Statement lots_read[] = {LotsToSpend(members, asked)};
            LOYALTY_ASSIGN_OR_RETURN(std::vector<pg::Result> reread,
                                     transaction.Execute(lots_read));
            lots = ParseLotsToSpend(reread[0], members.size());
          }
          // 3. Each hold in request order; nothing here writes. A hold to capture at once spends
          // its points as CreateHold does (what CaptureHold would do a moment later).
          std::map<std::pair<std::string, std::string>, StoredHold> made;
          std::vector<PostingWrite> postings;
          std::vector<NewHold> new_holds;
          std::vector<int64_t> spend(members.size(), 0);
          std::vector<events::OutboxEvent> spent_events;
          for (size_t j = 0; j < live.size(); ++j) {
            const v1::CreateHoldRequest& hold = request.holds(live[j]);
            const std::pair<std::string, std::string> key{hold.program(), hold.hold_id()};
            std::optional<StoredHold> existing = stored[j];
            if (auto it = made.find(key); it != made.end()) existing = it->second;
            if (existing.has_value()) {
              // A retry (after a crash, or twice in one batch): same hold, same answer.
              if (existing->member_id != hold.member() || existing->points != hold.points()) {
                decided[j] = InvalidField("hold_id", "IDEMPOTENCY_KEY_REUSED",
                                          "this hold id was used for another hold");
              } else {
                decided[j] = HoldView(hold.hold_id(), hold.member(), hold.points(),
                                      existing->status, existing->expire_time);
              }
              continue;
            }
            const size_t m = member_of[j];
            Balance& balance = balances[m];
            if (balance.available < hold.points()) {
              decided[j] = InsufficientPoints(balance.available, hold.points());
              continue;
            }
            HoldEntries entries = NewHoldEntries(hold.member(), hold.points(), hold.capture());
            const int status = entries.status;
            PostingWrite write{
                .program_id = hold.program(),
                .txn_id = txn_ids[j],
                .header = {.kind = entries.kind,
                           .reason =
                               hold.reason().empty() ? std::nullopt : std::optional(hold.reason()),
                           .hold_id = hold.hold_id(),
                           .time = now},
                .posting = std::move(entries.posting)};
            if (hold.capture()) {
              spend[m] += hold.points();
              spent_events.push_back(
                  MemberEvent(hold.program(), hold.member(),
                              SpentEvent(hold.program(), hold.member(), txn_ids[j], hold.hold_id(),
                                         hold.points()),
                              now));
            }
            ApplyToBalance(balance, write.posting, hold.member());
            const absl::Time expire_time = now + ttls[live[j]];
            new_holds.push_back({.ref = refs[j],
                                 .member_id = hold.member(),
                                 .points = hold.points(),
                                 .reason = hold.reason(),
                                 .expire_time = expire_time,
                                 .create_time = now,
                                 .status = status});
            made[key] = {.member_id = hold.member(),
                         .points = hold.points(),
                         .status = status,
                         .expire_time = expire_time};
            decided[j] =
                HoldView(hold.hold_id(), hold.member(), hold.points(), status, expire_time);
            postings.push_back(std::move(write));
          }
          // 4. Every write in one round trip, with COMMIT.
          if (postings.empty()) return absl::OkStatus();
          std::vector<pg::Statement> writes = WritePostings(postings);
          writes.push_back(InsertHolds(new_holds));
          if (!spent_events.empty()) {
            LOYALTY_ASSIGN_OR_RETURN(pg::Statement take, TakeSpends(members, spend, lots));
            writes.push_back(std::move(take));
            for (pg::Statement& append : events::AppendStatements(transaction, spent_events)) {
              writes.push_back(std::move(append));
            }
          }
          return transaction.ExecuteAndCommit(writes).status();
        });
    if (written.ok()) {
      for (size_t j = 0; j < live.size(); ++j) results[live[j]] = std::move(decided[j]);
    } else {
      // Something only the database saw failed the shared transaction: each hold alone, so
      // only the culprit fails.
      for (int i : live) {
        absl::StatusOr<v1::CreateHoldResponse> alone = CreateHold(request.holds(i));
        results[i] = alone.ok() ? HoldResult(alone->hold()) : HoldResult(alone.status());
      }
    }
  }
  v1::CreateHoldsResponse response;
  for (const HoldResult& result : results) SetOutcome(result, *response.add_outcomes());
  return response;
}

absl::StatusOr<v1::CaptureHoldsResponse> PointsHandler::CaptureHolds(
    const v1::CaptureHoldsRequest& request) {
  const int n = request.hold_ids_size();
  if (n < 1 || n > kHoldsPerCallMax) return BatchSizeError(n);
  const absl::Time now = clock_.Now();
  const std::string& program_id = request.program();
  std::vector<HoldResult> results(n, absl::InternalError("not decided"));
  std::vector<int> live;
  for (int i = 0; i < n; ++i) {
    if (absl::Status valid = ValidateHoldRef(program_id, request.hold_ids(i)); !valid.ok()) {
      results[i] = valid;
    } else {
      live.push_back(i);
    }
  }
  if (live.empty()) {
    v1::CaptureHoldsResponse response;
    for (const HoldResult& result : results) SetOutcome(result, *response.add_outcomes());
    return response;
  }
  std::vector<HoldRef> refs;
  for (int i : live) refs.push_back({program_id, request.hold_ids(i)});

  std::vector<HoldResult> decided;
  absl::Status written =
      pool_.InTransaction(pg::kBatchTransaction, [&](pg::Connection& connection) -> absl::Status {
        decided.assign(live.size(), absl::InternalError("not decided"));
        // 1. The holds' members (a hold's member never changes), then, in the lock order of every
        // path, their balances, the hold rows, and ids for the ledger transactions.
        const pg::Statement find[] = {SelectHolds(refs, /*lock=*/false)};
        LOYALTY_ASSIGN_OR_RETURN(std::vector<pg::Result> found, connection.ExecutePipeline(find));
        const std::vector<std::optional<StoredHold>> unlocked = ParseHolds(found[0], refs.size());
        MemberIndex index;
        for (const std::optional<StoredHold>& hold : unlocked) {
          if (hold.has_value()) index.Of(program_id, hold->member_id);
        }
        const std::vector<MemberRef>& members = index.members();
        std::vector<Balance> balances;
        std::vector<std::optional<StoredHold>> holds(refs.size());
        std::vector<int64_t> txn_ids;
        if (!members.empty()) {
          const pg::Statement lock[] = {LockBalances(members), SelectHolds(refs, /*lock=*/true),
                                        AllocateTxnIds(static_cast<int>(refs.size()))};
          LOYALTY_ASSIGN_OR_RETURN(std::vector<pg::Result> locked,
                                   connection.ExecutePipeline(lock));
          for (const std::optional<Balance>& balance : ParseBalances(locked[0], members)) {
            if (!balance.has_value()) return absl::InternalError("a hold's member has no balance");
            balances.push_back(*balance);
          }
          holds = ParseHolds(locked[1], refs.size());
          txn_ids = ParseTxnIds(locked[2]);
          if (txn_ids.size() != refs.size()) return absl::InternalError("txn ids short");
        }

        // 2. Each hold in request order, as ResolveHold decides a capture.
        std::vector<PostingWrite> postings;
        std::vector<HoldRef> captured;
        std::vector<int64_t> spend(members.size(), 0);
        std::vector<events::OutboxEvent> spent_events;
        std::map<std::string, int> status_now;  // Holds captured or expired earlier in this batch.
        for (size_t j = 0; j < refs.size(); ++j) {
          const std::string& hold_id = refs[j].hold_id;
          if (!holds[j].has_value()) {
            decided[j] = ErrorWithReason(absl::StatusCode::kNotFound, "HOLD_NOT_FOUND",
                                         absl::StrCat("no hold ", hold_id), {{"hold_id", hold_id}});
            continue;
          }
          const StoredHold& hold = *holds[j];
          const size_t m = index.Of(program_id, hold.member_id);
          int status = hold.status;
          if (auto it = status_now.find(hold_id); it != status_now.end()) status = it->second;
          if (status == v1::HOLD_STATUS_OPEN && hold.expire_time <= now) {
            // Rare: the hold outlived its TTL before its capture; it voids itself as it would
            // alone.
            LOYALTY_RETURN_IF_ERROR(ReturnHeldPoints(connection, program_id, hold.member_id,
                                                     hold_id, hold.points, v1::HOLD_STATUS_EXPIRED,
                                                     balances[m], now));
            status = v1::HOLD_STATUS_EXPIRED;
          } else if (status == v1::HOLD_STATUS_OPEN) {
            PostingWrite write{
                .program_id = program_id,
                .txn_id = txn_ids[j],
                .header = {
                    .kind = v1::TRANSACTION_KIND_HOLD_CAPTURE, .hold_id = hold_id, .time = now}};
            write.posting.Move(hold.member_id, Account::kHeld, "", Account::kRedeemed, hold.points);
            ApplyToBalance(balances[m], write.posting, hold.member_id);
            spend[m] += hold.points;
            spent_events.push_back(MemberEvent(
                program_id, hold.member_id,
                SpentEvent(program_id, hold.member_id, txn_ids[j], hold_id, hold.points), now));
            postings.push_back(std::move(write));
            captured.push_back(refs[j]);
            status = v1::HOLD_STATUS_CAPTURED;
          }
          status_now[hold_id] = status;
          if (status == v1::HOLD_STATUS_CAPTURED) {
            decided[j] = HoldView(hold_id, hold.member_id, hold.points, status, hold.expire_time);
          } else {
            decided[j] = ErrorWithReason(
                absl::StatusCode::kFailedPrecondition,
                status == v1::HOLD_STATUS_EXPIRED ? "HOLD_EXPIRED" : "HOLD_NOT_OPEN",
                absl::StrCat("hold ", hold_id, " can no longer be captured"),
                {{"hold_id", hold_id}});
          }
        }
        if (postings.empty()) return absl::OkStatus();

        // 3. The lots the captured points come from (each member's in one go: spending oldest
        // first, the sum of its captures takes what consecutive captures would), then every write.
        const pg::Statement lots_read[] = {LotsToSpend(members, spend)};
        LOYALTY_ASSIGN_OR_RETURN(std::vector<pg::Result> lots_rows,
                                 connection.ExecutePipeline(lots_read));
        const std::vector<std::vector<Lot>> lots = ParseLotsToSpend(lots_rows[0], members.size());
        LOYALTY_ASSIGN_OR_RETURN(pg::Statement take, TakeSpends(members, spend, lots));
        std::vector<pg::Statement> writes = WritePostings(postings);
        writes.push_back(std::move(take));
        const std::vector<int> statuses(captured.size(), v1::HOLD_STATUS_CAPTURED);
        writes.push_back(ResolveHolds(captured, statuses, now));
        LOYALTY_RETURN_IF_ERROR(connection.ExecutePipeline(writes).status());
        return events::AppendEvents(connection, spent_events);
      });
  if (written.ok()) {
    for (size_t j = 0; j < live.size(); ++j) results[live[j]] = std::move(decided[j]);
  } else {
    for (int i : live) {
      v1::CaptureHoldRequest alone;
      alone.set_program(program_id);
      alone.set_hold_id(request.hold_ids(i));
      absl::StatusOr<v1::CaptureHoldResponse> answer = CaptureHold(alone);
      results[i] = answer.ok() ? HoldResult(answer->hold()) : HoldResult(answer.status());
    }
  }
  v1::CaptureHoldsResponse response;
  for (const HoldResult& result : results) SetOutcome(result, *response.add_outcomes());
  return response;
}

}  // namespace loyalty::points
