#pragma once

// Set-based statements for a batch of purchases written in one transaction (group commit,
// DESIGN.md section 8). Each function builds one statement over whole columns (rows travel as
// arrays and come back through unnest) and, for reads, a parser that answers by input position.
// The writer sends all reads in one pipeline and all writes in another
// (pg::Connection::ExecutePipeline), so a batch costs a few round trips, not a few per purchase.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/pg/connection.h"
#include "points-svc/domain/earning.h"
#include "points-svc/domain/ledger.h"

namespace loyalty::points {

struct MemberRef {
  std::string program_id;
  std::string member_id;
};

struct OrderRef {
  std::string program_id;
  std::string order_id;
};

// --- Reads ---------------------------------------------------------------------------------

// Locks the members' balance rows in (program, member) order, so batches never deadlock on
// each other. EnsureBalances creates missing rows (also in that order).
pg::Statement LockBalances(std::span<const MemberRef> members);
pg::Statement EnsureBalances(std::span<const MemberRef> members);
// The locked balances in the order of `members`; nullopt for a member without a balance row.
std::vector<std::optional<Balance>> ParseBalances(const pg::Result& rows,
                                                  std::span<const MemberRef> members);

// For each order: was a purchase with its id recorded already?
pg::Statement RecordedOrders(std::span<const OrderRef> orders);
std::vector<bool> ParseRecordedOrders(const pg::Result& rows, size_t orders);

// Purchase points each member earned on the UTC day of `times[i]` and in its month up to that
// day, for the per-member caps.
struct EarnedSoFar {
  int64_t today = 0;
  int64_t this_month = 0;
};
pg::Statement PurchasePointsInWindows(std::span<const MemberRef> members,
                                      std::span<const absl::Time> times);
std::vector<EarnedSoFar> ParseEarned(const pg::Result& rows, size_t members);

// Each member's next expiries and upcoming pending credits, at most `dates` each (`upcoming`
// may be null: none asked for).
struct DatedPoints {
  absl::Time time;
  int64_t points = 0;
};
struct DatedBalance {
  std::vector<DatedPoints> next_expiries;
  std::vector<DatedPoints> upcoming_available;
};
pg::Statement NextExpiries(std::span<const MemberRef> members, int dates);
pg::Statement UpcomingPending(std::span<const MemberRef> members, int dates);
std::vector<DatedBalance> ParseDatedBalances(const pg::Result& expiries, const pg::Result* upcoming,
                                             size_t members);
// UpcomingPending's rows for `members` members: each member's dates, soonest first.
std::vector<std::vector<DatedPoints>> ParseUpcomingPending(const pg::Result& rows, size_t members);

// Ids for `count` purchases, taken from the tables' own identity sequences: one ledger
// transaction, one lot and one pending credit each (whichever the purchase needs; an unused id
// is a harmless gap). Knowing them before writing lets every write go in one pipeline.
struct PurchaseIds {
  int64_t txn_id = 0;
  int64_t lot_id = 0;
  int64_t pending_id = 0;
};
pg::Statement AllocatePurchaseIds(int count);
std::vector<PurchaseIds> ParsePurchaseIds(const pg::Result& rows);

// One member's stored balance with its dates, read alone (GetBalance and friends).
absl::StatusOr<DatedBalance> ReadDatedBalance(pg::Connection& connection, const MemberRef& member,
                                              const Balance& balance, int dates);

// --- Writes --------------------------------------------------------------------------------

// One purchase's rows: its ledger transaction (PURCHASE, with `posting`), its lot or pending
// credit, the purchase and its lines, and its earn_daily points.
struct PurchaseWrite {
  MemberRef member;
  std::string order_id;
  std::string currency_code;
  const Purchase* purchase = nullptr;
  int64_t points = 0;
  Posting posting;
  PurchaseIds ids;
  // Points for a new lot (available at once), or for a pending credit released at
  // `available_time`; at most one of the two is positive.
  int64_t lot_points = 0;
  int64_t pending_points = 0;
  absl::Time available_time;
  std::optional<absl::Time> expire_time;
  absl::Time create_time;
};

// The statements writing all purchases (order ids distinct per program; a member's balance
// changes are summed), in dependency order.
std::vector<pg::Statement> WritePurchases(std::span<const PurchaseWrite> purchases);

}  // namespace loyalty::points
