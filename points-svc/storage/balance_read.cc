#include "points-svc/storage/balance_read.h"

#include "common/check.h"
#include "common/pg/array.h"
#include "common/status/macros.h"
#include "points-svc/storage/ledger_store.h"
#include "points-svc/storage/queries.h"

namespace loyalty::points {

pg::Statement BalanceViews(std::span<const MemberRef> members, std::span<const absl::Time> times,
                           int dates) {
  LOYALTY_CHECK(members.size() == times.size());
  pg::ArrayLiteral programs, member_ids, read_times;
  for (size_t i = 0; i < members.size(); ++i) {
    programs.Add(members[i].program_id);
    member_ids.Add(members[i].member_id);
    read_times.Add(times[i]);
  }
  return {&queries::kSelectBalanceViews, pg::Params()
                                             .Add(programs.Build())
                                             .Add(member_ids.Build())
                                             .Add(read_times.Build())
                                             .Add(static_cast<int64_t>(dates))};
}

std::vector<BalanceRead> ParseBalanceViews(const pg::Result& rows, size_t members) {
  std::vector<BalanceRead> reads(members);
  for (int row = 0; row < rows.rows(); ++row) {
    const int64_t position = rows.Int64(row, "n") - 1;
    // The statement answers every member of its input and no other.
    LOYALTY_CHECK(position >= 0 && static_cast<size_t>(position) < members);
    BalanceRead& read = reads[static_cast<size_t>(position)];
    switch (rows.Int64(row, "part")) {
      case 0:
        read.balance = BalanceFromRow(rows, row);
        read.due = rows.Bool(row, "due");
        break;
      case 1:
        read.dated.next_expiries.push_back(
            DatedPoints{.time = rows.Time(row, "time"), .points = rows.Int64(row, "points")});
        break;
      default:
        read.dated.upcoming_available.push_back(
            DatedPoints{.time = rows.Time(row, "time"), .points = rows.Int64(row, "points")});
        break;
    }
  }
  return reads;
}

absl::StatusOr<BalanceRead> ReadBalanceForView(pg::Connection& connection, const MemberRef& member,
                                               absl::Time now, int dates) {
  const MemberRef members[] = {member};
  const absl::Time times[] = {now};
  const pg::Statement statement = BalanceViews(members, times, dates);
  LOYALTY_ASSIGN_OR_RETURN(pg::Result rows, connection.Execute(*statement.query, statement.params));
  return ParseBalanceViews(rows, 1)[0];
}

}  // namespace loyalty::points
