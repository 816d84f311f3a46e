#include "points-svc/storage/hold_batch_store.h"

#include <algorithm>
#include <utility>

#include "common/check.h"
#include "common/pg/array.h"
#include "points-svc/storage/ledger_batch.h"
#include "points-svc/storage/queries.h"

namespace loyalty::points {
namespace {

// Column arrays of (program, member) pairs.
std::pair<std::string, std::string> MemberColumns(std::span<const MemberRef> members) {
  pg::ArrayLiteral programs, ids;
  for (const MemberRef& member : members) {
    programs.Add(member.program_id);
    ids.Add(member.member_id);
  }
  return {programs.Build(), ids.Build()};
}

}  // namespace

pg::Statement SelectHolds(std::span<const HoldRef> holds, bool lock) {
  pg::ArrayLiteral programs, ids;
  for (const HoldRef& hold : holds) {
    programs.Add(hold.program_id);
    ids.Add(hold.hold_id);
  }
  return {lock ? &queries::kLockHoldsBatch : &queries::kSelectHoldsBatch,
          pg::Params().Add(programs.Build()).Add(ids.Build())};
}

std::vector<std::optional<StoredHold>> ParseHolds(const pg::Result& rows, size_t holds) {
  std::vector<std::optional<StoredHold>> found(holds);
  for (int row = 0; row < rows.rows(); ++row) {
    found[pg::InputIndex(rows, row, holds)] =
        StoredHold{.member_id = rows.String(row, "member_id"),
                   .points = rows.Int64(row, "points"),
                   .status = static_cast<int>(rows.Int64(row, "status")),
                   .expire_time = rows.Time(row, "expire_time")};
  }
  return found;
}

pg::Statement MembersDueMaintenance(std::span<const MemberRef> members, absl::Time now) {
  auto [programs, ids] = MemberColumns(members);
  return {&queries::kMembersDueMaintenance,
          pg::Params().Add(std::move(programs)).Add(std::move(ids)).Add(now)};
}

std::vector<bool> ParseMembersDue(const pg::Result& rows, size_t members) {
  std::vector<bool> due(members, false);
  for (int row = 0; row < rows.rows(); ++row) due[pg::InputIndex(rows, row, members)] = true;
  return due;
}

pg::Statement AllocateTxnIds(int count) {
  return {&queries::kAllocateTxnIds, pg::Params().Add(static_cast<int64_t>(count))};
}

std::vector<int64_t> ParseTxnIds(const pg::Result& rows) {
  std::vector<int64_t> ids;
  for (int row = 0; row < rows.rows(); ++row) ids.push_back(rows.Int64(row, "txn_id"));
  return ids;
}

pg::Statement LotsToSpend(std::span<const MemberRef> members, std::span<const int64_t> amounts) {
  LOYALTY_CHECK(members.size() == amounts.size());
  auto [programs, ids] = MemberColumns(members);
  return {&queries::kSelectLotsToSpendBatch,
          pg::Params()
              .Add(std::move(programs))
              .Add(std::move(ids))
              .Add(pg::Int64Array(std::vector<int64_t>(amounts.begin(), amounts.end())))};
}

std::vector<std::vector<Lot>> ParseLotsToSpend(const pg::Result& rows, size_t members) {
  std::vector<std::vector<Lot>> lots(members);
  for (int row = 0; row < rows.rows(); ++row) {
    lots[pg::InputIndex(rows, row, members)].push_back(
        Lot{.lot_id = rows.Int64(row, "lot_id"),
            .remaining = rows.Int64(row, "remaining"),
            .expire_time = rows.OptionalTime(row, "expire_time")});
  }
  return lots;
}

std::vector<pg::Statement> WritePostings(std::span<const PostingWrite> postings) {
  pg::ArrayLiteral programs, txn_ids, kinds, reasons, hold_ids, times;
  EntryColumns entries;
  BalanceDeltas deltas;  // Holds earn nothing.
  for (const PostingWrite& write : postings) {
    LOYALTY_CHECK(write.posting.balanced());
    programs.Add(write.program_id);
    txn_ids.Add(write.txn_id);
    kinds.Add(static_cast<int64_t>(write.header.kind));
    reasons.AddOptional(write.header.reason);
    hold_ids.AddOptional(write.header.hold_id);
    times.Add(write.header.time);
    entries.Add(write.program_id, write.txn_id, write.posting);
    std::vector<std::string> touched;
    for (const Entry& entry : write.posting.entries()) {
      if (!entry.owner.empty() &&
          std::find(touched.begin(), touched.end(), entry.owner) == touched.end()) {
        touched.push_back(entry.owner);
      }
    }
    for (const std::string& member : touched) deltas.Add(write.program_id, member, write.posting);
  }
  std::vector<pg::Statement> statements;
  statements.push_back({&queries::kInsertHoldTransactions, pg::Params()
                                                               .Add(programs.Build())
                                                               .Add(txn_ids.Build())
                                                               .Add(kinds.Build())
                                                               .Add(reasons.Build())
                                                               .Add(hold_ids.Build())
                                                               .Add(times.Build())});
  statements.push_back(entries.Insert());
  statements.push_back(deltas.Apply());
  return statements;
}

pg::Statement InsertHolds(std::span<const NewHold> holds) {
  pg::ArrayLiteral programs, ids, members, points, reasons, expire_times, create_times, statuses;
  for (const NewHold& hold : holds) {
    programs.Add(hold.ref.program_id);
    ids.Add(hold.ref.hold_id);
    members.Add(hold.member_id);
    points.Add(hold.points);
    reasons.Add(hold.reason);
    expire_times.Add(hold.expire_time);
    create_times.Add(hold.create_time);
    statuses.Add(static_cast<int64_t>(hold.status));
  }
  return {&queries::kInsertHolds, pg::Params()
                                      .Add(programs.Build())
                                      .Add(ids.Build())
                                      .Add(members.Build())
                                      .Add(points.Build())
                                      .Add(reasons.Build())
                                      .Add(expire_times.Build())
                                      .Add(create_times.Build())
                                      .Add(statuses.Build())};
}

pg::Statement ResolveHolds(std::span<const HoldRef> holds, std::span<const int> statuses,
                           absl::Time now) {
  LOYALTY_CHECK(holds.size() == statuses.size());
  pg::ArrayLiteral programs, ids, codes, times;
  for (size_t i = 0; i < holds.size(); ++i) {
    programs.Add(holds[i].program_id);
    ids.Add(holds[i].hold_id);
    codes.Add(static_cast<int64_t>(statuses[i]));
    times.Add(now);
  }
  return {
      &queries::kResolveHolds,
      pg::Params().Add(programs.Build()).Add(ids.Build()).Add(codes.Build()).Add(times.Build())};
}

pg::Statement TakeFromLotsBatch(std::span<const MemberRef> members,
                                std::span<const std::vector<LotTake>> takes) {
  LOYALTY_CHECK(members.size() == takes.size());
  pg::ArrayLiteral programs, ids, lot_ids, amounts;
  for (size_t i = 0; i < members.size(); ++i) {
    for (const LotTake& take : takes[i]) {
      programs.Add(members[i].program_id);
      ids.Add(members[i].member_id);
      lot_ids.Add(take.lot_id);
      amounts.Add(take.amount);
    }
  }
  return {&queries::kTakeFromLotsBatch, pg::Params()
                                            .Add(programs.Build())
                                            .Add(ids.Build())
                                            .Add(lot_ids.Build())
                                            .Add(amounts.Build())};
}

}  // namespace loyalty::points
