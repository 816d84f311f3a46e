#pragma once

// GetBalance's read, for a batch of members in one statement (queries::kSelectBalanceViews): a
// read is the mobile app's most frequent call, and five statements per read, though pipelined,
// cost PostgreSQL five rounds of per-statement work on one of the pool's few connections.
// rpc/balance_reader.h batches concurrent reads into one such statement.

#include <cstdint>
#include <span>
#include <vector>

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
  // Pending credits came due or open holds ran out at the time of the read: the stored balance
  // is stale until they are applied (under the member's lock), and the read must then be
  // repeated.
  bool due = false;
};

// The statement reading `members[i]` as of `times[i]`, at most `dates` dates of each kind, and
// its answer in the order of the members. `members` and `times` have the same size.
pg::Statement BalanceViews(std::span<const MemberRef> members, std::span<const absl::Time> times,
                           int dates);
std::vector<BalanceRead> ParseBalanceViews(const pg::Result& rows, size_t members);

// One member's read at `now`; the status of the failed statement otherwise.
absl::StatusOr<BalanceRead> ReadBalanceForView(pg::Connection& connection, const MemberRef& member,
                                               absl::Time now, int dates);

}  // namespace loyalty::points
