#pragma once

// libpq access to the `points` schema's ledger: balances, transactions with their entries, lots
// and pending credits. Functions run on a connection the caller holds inside one transaction;
// the caller locks the member's balance row (LockBalance) before changing anything of the
// member, so one member's writes never interleave.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/pg/array.h"
#include "common/pg/connection.h"
#include "points-svc/domain/ledger.h"

namespace loyalty::points {

// Creates the member's balance row if needed and locks it for the transaction.
absl::StatusOr<Balance> LockBalance(pg::Connection& connection, const std::string& program_id,
                                    const std::string& member_id);
// The balance in row `row` of a result with the balance columns (available ... lifetime_earned).
Balance BalanceFromRow(const pg::Result& rows, int row);
// The balance in the rows of queries::kSelectBalance or kLockBalance (zero when none).
Balance BalanceFromRows(const pg::Result& rows);
// The stored balance without locking (zero when the member has none yet).
absl::StatusOr<Balance> ReadBalance(pg::Connection& connection, const std::string& program_id,
                                    const std::string& member_id);

struct TransactionHeader {
  int kind = 0;  // loyalty.points.v1.TransactionKind
  std::optional<std::string> reason;
  std::optional<std::string> order_id;
  std::optional<std::string> hold_id;
  std::optional<std::string> counterparty_member;
  // The member who started it, when another member is involved too (the giver of a transfer).
  std::optional<std::string> member_id;
  absl::Time time;
};

// Writes one ledger transaction: its header, its entries and the stored balances of every member
// it touches (each must be locked by the caller). `lifetime_earned` adds to members' lifetime
// totals. Returns the transaction id. The posting must balance (checked).
absl::StatusOr<int64_t> WritePosting(
    pg::Connection& connection, const std::string& program_id, const TransactionHeader& header,
    const Posting& posting,
    const std::vector<std::pair<std::string, int64_t>>& lifetime_earned = {});

// Opens a lot of `amount` points for the member; returns its id.
absl::StatusOr<int64_t> InsertLot(pg::Connection& connection, const std::string& program_id,
                                  const std::string& member_id, int64_t txn_id, int64_t amount,
                                  std::optional<absl::Time> expire_time,
                                  const std::optional<std::string>& order_id);

// Takes `amount` from the member's open lots: `preferred_lot` first when given, then oldest
// expiry, never-expiring last. INTERNAL when the lots hold less (the lots-equal-balance
// invariant would be broken, which the caller's balance check rules out).
absl::Status SpendLots(pg::Connection& connection, const std::string& program_id,
                       const std::string& member_id, int64_t amount,
                       std::optional<int64_t> preferred_lot = std::nullopt);

// Takes exactly the given amounts from the given lots.
absl::Status TakeFromLots(pg::Connection& connection, const std::string& program_id,
                          const std::string& member_id, const std::vector<LotTake>& takes);

// The member's open lots due at `as_of`, oldest first.
absl::StatusOr<std::vector<Lot>> MemberDueLots(pg::Connection& connection,
                                               const std::string& program_id,
                                               const std::string& member_id, absl::Time as_of);

using pg::Int64Array;
using pg::TextArray;

}  // namespace loyalty::points
