#pragma once

// GetBalance's read, in one statement (queries::kSelectBalanceView): a read is the most frequent
// call of the mobile app, and five statements per read, though pipelined, cost PostgreSQL five
// times the per-statement work on one of the pool's few connections.

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/pg/connection.h"
#include "points-svc/domain/ledger.h"
#include "points-svc/storage/purchase_batch_store.h"

namespace loyalty::points {

struct BalanceRead {
  // As stored; zeros for a member without a balance row.
  Balance balance;
  // At most `dates` of each, soonest first.
  DatedBalance dated;
  // Pending credits came due or open holds ran out at `now`: the stored balance is stale until
  // they are applied (under the member's lock), and the read must then be repeated.
  bool due = false;
};

// Reads `member`'s balance with its dates at `now`; the status of the failed statement otherwise.
absl::StatusOr<BalanceRead> ReadBalanceForView(pg::Connection& connection, const MemberRef& member,
                                               absl::Time now, int dates);

}  // namespace loyalty::points
