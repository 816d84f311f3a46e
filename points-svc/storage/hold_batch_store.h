#pragma once

// Set-based statements for many holds in one transaction (CreateHolds, CaptureHolds): as
// storage/purchase_batch_store.h does for purchases, each function builds one statement over
// whole columns, and each read has a parser that answers by input position.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/pg/connection.h"
#include "points-svc/domain/ledger.h"
#include "points-svc/storage/ledger_store.h"
#include "points-svc/storage/purchase_batch_store.h"

namespace loyalty::points {

struct HoldRef {
  std::string program_id;
  std::string hold_id;
};

// A hold as stored.
struct StoredHold {
  std::string member_id;
  int64_t points = 0;
  int status = 0;  // loyalty.points.v1.HoldStatus
  absl::Time expire_time;
};

// --- Reads ---------------------------------------------------------------------------------

// The holds, locked (in hold order; lock the members' balances first) when `lock`.
pg::Statement SelectHolds(std::span<const HoldRef> holds, bool lock);
// By input position; nullopt for a hold that does not exist.
std::vector<std::optional<StoredHold>> ParseHolds(const pg::Result& rows, size_t holds);

// Which members have pending points to release or expired holds to void at `now`.
pg::Statement MembersDueMaintenance(std::span<const MemberRef> members, absl::Time now);
std::vector<bool> ParseMembersDue(const pg::Result& rows, size_t members);

// `count` ledger transaction ids from the table's identity sequence (an unused one is a
// harmless gap), so every write of a batch can go in one pipeline.
pg::Statement AllocateTxnIds(int count);
std::vector<int64_t> ParseTxnIds(const pg::Result& rows);

// The open lots that cover amounts[i] of members[i], in spending order.
pg::Statement LotsToSpend(std::span<const MemberRef> members, std::span<const int64_t> amounts);
std::vector<std::vector<Lot>> ParseLotsToSpend(const pg::Result& rows, size_t members);

// --- Writes --------------------------------------------------------------------------------

// One ledger transaction with its entries; the balances of the members it touches change by
// its deltas (summed per member over the batch; each balance must be locked).
struct PostingWrite {
  std::string program_id;
  int64_t txn_id = 0;
  TransactionHeader header;
  Posting posting;
};
std::vector<pg::Statement> WritePostings(std::span<const PostingWrite> postings);

struct NewHold {
  HoldRef ref;
  std::string member_id;
  int64_t points = 0;
  std::string reason;
  absl::Time expire_time;
  absl::Time create_time;
  // loyalty.points.v1.HoldStatus: OPEN, or CAPTURED for a hold spent as it is made (resolved at
  // create_time).
  int status = 1;
};
pg::Statement InsertHolds(std::span<const NewHold> holds);

// Sets statuses[i] on holds[i] (resolved at `now`).
pg::Statement ResolveHolds(std::span<const HoldRef> holds, std::span<const int> statuses,
                           absl::Time now);

// Takes takes[i] from the lots of members[i].
pg::Statement TakeFromLotsBatch(std::span<const MemberRef> members,
                                std::span<const std::vector<LotTake>> takes);

}  // namespace loyalty::points
