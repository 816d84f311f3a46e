#pragma once

// Set-based statements for a batch of purchases written in one transaction (group commit,
// DESIGN.md section 8): a handful of statements per batch instead of a dozen per purchase.
// Every function takes whole columns and answers by input position. The caller runs them in
// one transaction, after LockBalances, with at most one purchase per member.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
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

// Creates missing balance rows and locks all of them, in (program, member) order. Returns the
// balances in the order of `members`.
absl::StatusOr<std::vector<Balance>> LockBalances(pg::Connection& connection,
                                                  std::span<const MemberRef> members);

struct OrderRef {
  std::string program_id;
  std::string order_id;
};

// For each order, whether a purchase with its id was already recorded.
absl::StatusOr<std::vector<bool>> RecordedOrders(pg::Connection& connection,
                                                 std::span<const OrderRef> orders);

// Purchase points each member earned on the UTC day of `times[i]` and in its month up to that
// day, for the per-member caps.
struct EarnedSoFar {
  int64_t today = 0;
  int64_t this_month = 0;
};
absl::StatusOr<std::vector<EarnedSoFar>> PurchasePointsInWindows(pg::Connection& connection,
                                                                 std::span<const MemberRef> members,
                                                                 std::span<const absl::Time> times);

// One purchase's rows: its ledger transaction (PURCHASE, with `posting`), its lot or pending
// credit, the purchase and its lines, and its earn_daily points.
struct PurchaseWrite {
  MemberRef member;
  std::string order_id;
  std::string currency_code;
  const Purchase* purchase = nullptr;
  int64_t points = 0;
  Posting posting;
  // Points for a new lot (available at once), or for a pending credit released at
  // `available_time`; at most one of the two is positive.
  int64_t lot_points = 0;
  int64_t pending_points = 0;
  absl::Time available_time;
  std::optional<absl::Time> expire_time;
  absl::Time create_time;
};

struct PurchaseIds {
  int64_t txn_id = 0;
  std::optional<int64_t> lot_id;
  std::optional<int64_t> pending_id;
};

// Writes all purchases (order ids distinct per program; members may repeat, their balance
// changes are summed). Returns the new ids in input order.
absl::StatusOr<std::vector<PurchaseIds>> WritePurchases(pg::Connection& connection,
                                                        std::span<const PurchaseWrite> purchases);

// Each member's next expiries and upcoming pending credits, at most `dates` each, given the
// member's current stored balance (pending credits are only looked up when it has some).
struct DatedPoints {
  absl::Time time;
  int64_t points = 0;
};
struct DatedBalance {
  std::vector<DatedPoints> next_expiries;
  std::vector<DatedPoints> upcoming_available;
};
absl::StatusOr<std::vector<DatedBalance>> ReadDatedBalances(pg::Connection& connection,
                                                            std::span<const MemberRef> members,
                                                            std::span<const Balance> balances,
                                                            int dates);

}  // namespace loyalty::points
