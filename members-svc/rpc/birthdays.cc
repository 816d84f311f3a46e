#include "members-svc/rpc/birthdays.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/pg/array.h"
#include "common/status/macros.h"
#include "members-svc/rpc/points_bonus.h"
#include "members-svc/storage/queries.h"

namespace loyalty::members {
namespace {

bool IsLeapYear(int64_t year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

struct Due {
  std::string program_id;
  std::string member_id;
};

// How points-svc's answer settles the member's year (birthday_awards.outcome).
const char* Outcome(BonusAnswer answer) {
  switch (answer) {
    case BonusAnswer::kPaid:
      return "AWARDED";
    case BonusAnswer::kAlreadyPaid:
    case BonusAnswer::kLimitReached:
      return "ALREADY_AWARDED";
    case BonusAnswer::kNotConfigured:
      return "NOT_CONFIGURED";
    case BonusAnswer::kNotEligible:
      return "NOT_ELIGIBLE";
  }
  return "NOT_ELIGIBLE";  // Unreachable: every answer is listed above.
}

}  // namespace

BirthdayAwarder::BirthdayAwarder(pg::Pool& pool, const Clock& clock,
                                 std::shared_ptr<grpc::Channel> points, absl::Duration deadline)
    : pool_(pool),
      clock_(clock),
      points_(points::v1::PointsService::NewStub(std::move(points))),
      deadline_(deadline) {}

absl::StatusOr<int> BirthdayAwarder::RunOnce(int limit) {
  LOYALTY_CHECK(limit >= 1 && limit <= kBirthdayRoundMax);
  const absl::Time now = clock_.Now();
  const absl::CivilDay today = absl::ToCivilDay(now, absl::UTCTimeZone());
  std::vector<int64_t> days = {today.day()};
  if (today.month() == 2 && today.day() == 28 && !IsLeapYear(today.year())) days.push_back(29);
  const std::string year = absl::StrCat(today.year());

  int settled = 0;
  Due after;
  while (settled < limit) {
    std::vector<Due> due;
    {
      LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
      LOYALTY_ASSIGN_OR_RETURN(
          pg::Result rows,
          connection->Execute(
              queries::kSelectBirthdaysDue,
              pg::Params()
                  .Add(static_cast<int64_t>(today.month()))
                  .Add(pg::Int64Array(days))
                  .Add(after.program_id)
                  .Add(after.member_id)
                  .Add(static_cast<int64_t>(today.year()))
                  .Add(static_cast<int64_t>(std::min(kBirthdayPageSize, limit - settled)))));
      for (int row = 0; row < rows.rows(); ++row) {
        due.push_back({rows.String(row, "program_id"), rows.String(row, "member_id")});
      }
    }
    if (due.empty()) break;
    for (const Due& member : due) {
      // An answer that may change leaves the year open for the next round.
      LOYALTY_ASSIGN_OR_RETURN(
          const BonusAnswer answer,
          RequestBonus(*points_, deadline_,
                       {.program_id = member.program_id,
                        .member_id = member.member_id,
                        .request_id = absl::StrCat("birthday-", member.member_id, "-", year),
                        .type = points::v1::ACTIVITY_TYPE_BIRTHDAY,
                        .reference = year,
                        .occur_time = now}));
      LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
      LOYALTY_RETURN_IF_ERROR(
          connection
              ->Execute(queries::kSettleBirthday, pg::Params()
                                                      .Add(member.program_id)
                                                      .Add(member.member_id)
                                                      .Add(static_cast<int64_t>(today.year()))
                                                      .Add(std::string(Outcome(answer)))
                                                      .Add(now))
              .status());
      ++settled;
    }
    after = due.back();
  }
  return settled;
}

}  // namespace loyalty::members
