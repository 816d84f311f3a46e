#include "points-svc/storage/balance_read.h"

#include "common/check.h"
#include "common/status/macros.h"
#include "points-svc/storage/ledger_store.h"
#include "points-svc/storage/queries.h"

namespace loyalty::points {

absl::StatusOr<BalanceRead> ReadBalanceForView(pg::Connection& connection, const MemberRef& member,
                                               absl::Time now, int dates) {
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result rows,
      connection.Execute(queries::kSelectBalanceView, pg::Params()
                                                          .Add(member.program_id)
                                                          .Add(member.member_id)
                                                          .Add(now)
                                                          .Add(static_cast<int64_t>(dates))));
  // The statement always has its part-0 row, first.
  LOYALTY_CHECK(rows.rows() >= 1 && rows.Int64(0, "part") == 0);
  BalanceRead view;
  view.balance = BalanceFromRow(rows, 0);
  view.due = rows.Bool(0, "due");
  for (int row = 1; row < rows.rows(); ++row) {
    const DatedPoints dated{.time = rows.Time(row, "time"), .points = rows.Int64(row, "points")};
    (rows.Int64(row, "part") == 1 ? view.dated.next_expiries : view.dated.upcoming_available)
        .push_back(dated);
  }
  return view;
}

}  // namespace loyalty::points
