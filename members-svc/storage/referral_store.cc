#include "members-svc/storage/referral_store.h"

#include <utility>

#include "common/status/macros.h"
#include "members-svc/storage/queries.h"

namespace loyalty::members {
namespace {

Referral ReferralFromRow(const pg::Result& rows, int row) {
  return Referral{.program_id = rows.String(row, "program_id"),
                  .referral_id = rows.String(row, "referral_id"),
                  .referrer_id = rows.String(row, "referrer_id"),
                  .referee_id = rows.String(row, "referee_id"),
                  .status = static_cast<ReferralStatus>(rows.Int64(row, "status")),
                  .refusal_reason = rows.OptionalString(row, "refusal_reason"),
                  .create_time = rows.Time(row, "create_time"),
                  .resolve_time = rows.OptionalTime(row, "resolve_time")};
}

}  // namespace

absl::Status InsertReferral(pg::Connection& connection, const Referral& referral) {
  return connection
      .Execute(queries::kInsertReferral, pg::Params()
                                             .Add(referral.program_id)
                                             .Add(referral.referral_id)
                                             .Add(referral.referrer_id)
                                             .Add(referral.referee_id)
                                             .Add(static_cast<int64_t>(referral.status))
                                             .Add(referral.create_time))
      .status();
}

absl::StatusOr<ReferralPage> ListReferrals(
    pg::Connection& connection, const std::string& program_id, const std::string& referrer_id,
    const std::optional<std::pair<absl::Time, std::string>>& before, int limit) {
  pg::Params params = pg::Params().Add(program_id).Add(referrer_id);
  if (before.has_value()) {
    params.Add(before->first).Add(before->second);
  } else {
    params.AddNull().AddNull();
  }
  params.Add(static_cast<int64_t>(limit) + 1);
  LOYALTY_ASSIGN_OR_RETURN(pg::Result rows, connection.Execute(queries::kListReferrals, params));
  ReferralPage page;
  for (int row = 0; row < rows.rows() && row < limit; ++row) {
    page.referrals.push_back(ReferralFromRow(rows, row));
  }
  page.more = rows.rows() > limit;
  return page;
}

}  // namespace loyalty::members
