#include "members-svc/storage/member_store.h"

#include "common/check.h"
#include "common/pg/array.h"
#include "common/status/macros.h"
#include "members-svc/storage/queries.h"

namespace loyalty::members {
namespace {

Member MemberFromRow(const pg::Result& rows, int row) {
  Member member;
  member.program_id = rows.String(row, "program_id");
  member.member_id = rows.String(row, "member_id");
  const int64_t status = rows.Int64(row, "status");
  LOYALTY_CHECK(status >= 1 && status <= 3);
  member.status = static_cast<MemberStatus>(status);
  member.profile.email = rows.OptionalString(row, "email");
  member.profile.phone = rows.OptionalString(row, "phone");
  member.profile.display_name = rows.OptionalString(row, "display_name");
  if (std::optional<int64_t> month = rows.OptionalInt64(row, "birthday_month"); month) {
    member.profile.birthday = Date{.year = static_cast<int>(rows.Int64(row, "birthday_year")),
                                   .month = static_cast<int>(*month),
                                   .day = static_cast<int>(rows.Int64(row, "birthday_day"))};
  }
  member.profile.marketing_consent = rows.Bool(row, "marketing_consent");
  member.card_number = rows.String(row, "card_number");
  member.referral_code = rows.String(row, "referral_code");
  member.referred_by_code = rows.OptionalString(row, "referred_by_code");
  member.suspend_reason = rows.OptionalString(row, "suspend_reason");
  member.tier = TierState{.tier_index = static_cast<int>(rows.Int64(row, "tier_position")),
                          .period_start = rows.Time(row, "tier_period_start")};
  member.enroll_time = rows.Time(row, "enroll_time");
  member.update_time = rows.Time(row, "update_time");
  member.erase_time = rows.OptionalTime(row, "erase_time");
  return member;
}

// $1..$10 of both kInsertMember and kUpdateMember: the key, the status and the profile.
pg::Params KeyStatusAndProfile(const Member& member) {
  pg::Params params;
  const Profile& profile = member.profile;
  params.Add(member.program_id)
      .Add(member.member_id)
      .Add(static_cast<int64_t>(member.status))
      .AddOptional(profile.email)
      .AddOptional(profile.phone)
      .AddOptional(profile.display_name);
  if (profile.birthday.has_value()) {
    params.Add(static_cast<int64_t>(profile.birthday->year))
        .Add(static_cast<int64_t>(profile.birthday->month))
        .Add(static_cast<int64_t>(profile.birthday->day));
  } else {
    params.AddNull().AddNull().AddNull();
  }
  params.Add(profile.marketing_consent);
  return params;
}

}  // namespace

absl::Status InsertProgram(pg::Connection& connection, const Program& program) {
  LOYALTY_RETURN_IF_ERROR(
      connection
          .Execute(queries::kInsertProgram,
                   pg::Params()
                       .Add(program.id)
                       .Add(program.display_name)
                       .Add(program.currency_code)
                       .Add(program.point_value_minor_per_thousand)
                       .Add(static_cast<int64_t>(program.policy.window_months))
                       .Add(static_cast<int64_t>(program.policy.downgrade_grace_days))
                       .Add(program.create_time)
                       .Add(static_cast<int64_t>(program.referral_rewards_max)))
          .status());
  for (size_t position = 0; position < program.tiers.size(); ++position) {
    const TierDefinition& tier = program.tiers[position];
    LOYALTY_RETURN_IF_ERROR(
        connection
            .Execute(queries::kInsertTier,
                     pg::Params()
                         .Add(program.id)
                         .Add(static_cast<int64_t>(position))
                         .Add(tier.code)
                         .Add(tier.display_name)
                         .Add(tier.threshold_points)
                         .Add(static_cast<int64_t>(tier.earn_multiplier_percent)))
            .status());
    for (size_t benefit = 0; benefit < tier.benefits.size(); ++benefit) {
      LOYALTY_RETURN_IF_ERROR(
          connection
              .Execute(queries::kInsertTierBenefit, pg::Params()
                                                        .Add(program.id)
                                                        .Add(static_cast<int64_t>(position))
                                                        .Add(static_cast<int64_t>(benefit))
                                                        .Add(tier.benefits[benefit].code)
                                                        .Add(tier.benefits[benefit].description))
              .status());
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Program>> LoadProgram(pg::Connection& connection,
                                                   const std::string& program_id) {
  const pg::Params key = pg::Params().Add(program_id);
  LOYALTY_ASSIGN_OR_RETURN(pg::Result rows, connection.Execute(queries::kSelectProgram, key));
  if (rows.rows() == 0) return std::nullopt;
  Program program;
  program.id = rows.String(0, "program_id");
  program.display_name = rows.String(0, "display_name");
  program.currency_code = rows.String(0, "currency_code");
  program.point_value_minor_per_thousand = rows.Int64(0, "point_value_minor_per_thousand");
  program.policy = TierPolicy{
      .window_months = static_cast<int32_t>(rows.Int64(0, "tier_window_months")),
      .downgrade_grace_days = static_cast<int32_t>(rows.Int64(0, "downgrade_grace_days"))};
  program.create_time = rows.Time(0, "create_time");
  program.referral_rewards_max = static_cast<int32_t>(rows.Int64(0, "referral_rewards_max"));

  LOYALTY_ASSIGN_OR_RETURN(pg::Result tiers, connection.Execute(queries::kSelectTiers, key));
  for (int row = 0; row < tiers.rows(); ++row) {
    // Positions are 0..n-1 by construction (InsertProgram), so they index the vector.
    LOYALTY_CHECK(tiers.Int64(row, "position") == row);
    program.tiers.push_back(TierDefinition{.code = tiers.String(row, "code"),
                                           .display_name = tiers.String(row, "display_name"),
                                           .threshold_points = tiers.Int64(row, "threshold_points"),
                                           .earn_multiplier_percent = static_cast<int32_t>(
                                               tiers.Int64(row, "earn_multiplier_percent")),
                                           .benefits = {}});
  }
  LOYALTY_ASSIGN_OR_RETURN(pg::Result benefits,
                           connection.Execute(queries::kSelectTierBenefits, key));
  for (int row = 0; row < benefits.rows(); ++row) {
    const int64_t position = benefits.Int64(row, "tier_position");
    LOYALTY_CHECK(position >= 0 && position < static_cast<int64_t>(program.tiers.size()));
    program.tiers[position].benefits.push_back(TierBenefit{
        .code = benefits.String(row, "code"), .description = benefits.String(row, "description")});
  }
  return program;
}

absl::Status InsertMember(pg::Connection& connection, const Member& member) {
  pg::Params params = KeyStatusAndProfile(member);
  params.Add(member.card_number)
      .Add(member.referral_code)
      .AddOptional(member.referred_by_code)
      .Add(static_cast<int64_t>(member.tier.tier_index))
      .Add(member.tier.period_start)
      .Add(member.enroll_time)
      .Add(member.update_time);
  return connection.Execute(queries::kInsertMember, params).status();
}

absl::StatusOr<std::optional<Member>> LoadMember(pg::Connection& connection,
                                                 const std::string& program_id,
                                                 const std::string& member_id, Lock lock) {
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result rows, connection.Execute(lock == Lock::kForUpdate ? queries::kSelectMemberForUpdate
                                                                   : queries::kSelectMember,
                                          pg::Params().Add(program_id).Add(member_id)));
  if (rows.rows() == 0) return std::nullopt;
  return MemberFromRow(rows, 0);
}

absl::StatusOr<std::vector<Member>> LockMembers(pg::Connection& connection,
                                                const std::vector<MemberKey>& keys) {
  pg::ArrayLiteral programs, members;
  for (const MemberKey& key : keys) {
    programs.Add(key.program_id);
    members.Add(key.member_id);
  }
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result rows, connection.Execute(queries::kSelectMembersForUpdate,
                                          pg::Params().Add(programs.Build()).Add(members.Build())));
  std::vector<Member> locked;
  locked.reserve(rows.rows());
  for (int row = 0; row < rows.rows(); ++row) locked.push_back(MemberFromRow(rows, row));
  return locked;
}

absl::StatusOr<std::optional<std::string>> FindMemberByIdentifier(
    pg::Connection& connection, const std::string& program_id,
    const std::optional<std::string>& email, const std::optional<std::string>& phone,
    const std::string& exclude_member_id) {
  LOYALTY_ASSIGN_OR_RETURN(pg::Result rows, connection.Execute(queries::kSelectMemberByIdentifier,
                                                               pg::Params()
                                                                   .Add(program_id)
                                                                   .AddOptional(email)
                                                                   .AddOptional(phone)
                                                                   .Add(exclude_member_id)));
  if (rows.rows() == 0) return std::nullopt;
  return rows.String(0, "member_id");
}

absl::StatusOr<std::optional<std::string>> FindMemberByReferralCode(pg::Connection& connection,
                                                                    const std::string& program_id,
                                                                    const std::string& code) {
  LOYALTY_ASSIGN_OR_RETURN(pg::Result rows,
                           connection.Execute(queries::kSelectMemberByReferralCode,
                                              pg::Params().Add(program_id).Add(code)));
  if (rows.rows() == 0) return std::nullopt;
  return rows.String(0, "member_id");
}

absl::StatusOr<bool> CardNumberTaken(pg::Connection& connection, const std::string& program_id,
                                     const std::string& card_number) {
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result rows,
      connection.Execute(queries::kCardNumberTaken, pg::Params().Add(program_id).Add(card_number)));
  return rows.Bool(0, 0);
}

absl::StatusOr<bool> ReferralCodeTaken(pg::Connection& connection, const std::string& program_id,
                                       const std::string& code) {
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result rows,
      connection.Execute(queries::kReferralCodeTaken, pg::Params().Add(program_id).Add(code)));
  return rows.Bool(0, 0);
}

absl::StatusOr<std::vector<MemberKey>> MembersDueForTierReview(pg::Connection& connection,
                                                               absl::Time now, int limit) {
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result rows, connection.Execute(queries::kSelectMembersDueForTierReview,
                                          pg::Params().Add(now).Add(static_cast<int64_t>(limit))));
  std::vector<MemberKey> keys;
  for (int row = 0; row < rows.rows(); ++row) {
    keys.push_back({rows.String(row, "program_id"), rows.String(row, "member_id")});
  }
  return keys;
}

absl::Status UpdateMember(pg::Connection& connection, const Member& member) {
  pg::Params params = KeyStatusAndProfile(member);
  params.AddOptional(member.suspend_reason)
      .Add(static_cast<int64_t>(member.tier.tier_index))
      .Add(member.tier.period_start)
      .Add(member.update_time)
      .AddOptional(member.erase_time);
  LOYALTY_ASSIGN_OR_RETURN(pg::Result result, connection.Execute(queries::kUpdateMember, params));
  // The caller loaded and locked the row in this transaction, so it must still be there.
  LOYALTY_CHECK(result.affected_rows() == 1);
  return absl::OkStatus();
}

absl::StatusOr<MemberPage> ListMembers(pg::Connection& connection, const std::string& program_id,
                                       int64_t after_seq, const MemberFilter& filter, int limit) {
  LOYALTY_CHECK(limit > 0);
  pg::Params params;
  params.Add(program_id).Add(after_seq);
  if (filter.status.has_value()) {
    params.Add(static_cast<int64_t>(*filter.status));
  } else {
    params.AddNull();
  }
  if (filter.tier_position.has_value()) {
    params.Add(static_cast<int64_t>(*filter.tier_position));
  } else {
    params.AddNull();
  }
  // One extra row tells whether another page exists, so the last page has no next token.
  params.Add(static_cast<int64_t>(limit) + 1);
  LOYALTY_ASSIGN_OR_RETURN(pg::Result rows, connection.Execute(queries::kListMembers, params));
  MemberPage page;
  const int count = std::min(rows.rows(), limit);
  for (int row = 0; row < count; ++row) {
    page.members.push_back(MemberFromRow(rows, row));
    page.last_seq = rows.Int64(row, "seq");
  }
  page.more = rows.rows() > limit;
  return page;
}

absl::StatusOr<bool> InsertQualifyingActivity(pg::Connection& connection,
                                              const std::string& program_id,
                                              const std::string& member_id,
                                              const std::string& event_id, int64_t points,
                                              absl::Time occur_time, absl::Time record_time) {
  LOYALTY_ASSIGN_OR_RETURN(pg::Result result, connection.Execute(queries::kInsertQualifyingActivity,
                                                                 pg::Params()
                                                                     .Add(program_id)
                                                                     .Add(member_id)
                                                                     .Add(event_id)
                                                                     .Add(points)
                                                                     .Add(occur_time)
                                                                     .Add(record_time)));
  return result.affected_rows() == 1;
}

absl::StatusOr<std::vector<std::string>> InsertQualifyingActivities(
    pg::Connection& connection, const std::vector<QualifyingActivity>& activities,
    absl::Time record_time) {
  pg::ArrayLiteral programs, members, event_ids, points, occur_times;
  for (const QualifyingActivity& activity : activities) {
    programs.Add(activity.program_id);
    members.Add(activity.member_id);
    event_ids.Add(activity.event_id);
    points.Add(activity.points);
    occur_times.Add(activity.occur_time);
  }
  LOYALTY_ASSIGN_OR_RETURN(pg::Result rows, connection.Execute(queries::kInsertQualifyingActivities,
                                                               pg::Params()
                                                                   .Add(programs.Build())
                                                                   .Add(members.Build())
                                                                   .Add(event_ids.Build())
                                                                   .Add(points.Build())
                                                                   .Add(occur_times.Build())
                                                                   .Add(record_time)));
  std::vector<std::string> inserted;
  inserted.reserve(rows.rows());
  for (int row = 0; row < rows.rows(); ++row) inserted.push_back(rows.String(row, 0));
  return inserted;
}

absl::StatusOr<std::vector<int64_t>> SumQualifyingPointsOfMembers(
    pg::Connection& connection, const std::vector<MemberKey>& keys,
    const std::vector<absl::Time>& window_starts, absl::Time window_end) {
  LOYALTY_CHECK(keys.size() == window_starts.size());
  pg::ArrayLiteral programs, members, starts;
  for (size_t i = 0; i < keys.size(); ++i) {
    programs.Add(keys[i].program_id);
    members.Add(keys[i].member_id);
    starts.Add(window_starts[i]);
  }
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result rows,
      connection.Execute(queries::kSumQualifyingPointsOfMembers, pg::Params()
                                                                     .Add(programs.Build())
                                                                     .Add(members.Build())
                                                                     .Add(starts.Build())
                                                                     .Add(window_end)));
  std::vector<int64_t> sums;
  sums.reserve(rows.rows());
  for (int row = 0; row < rows.rows(); ++row) sums.push_back(rows.Int64(row, 0));
  return sums;
}

absl::StatusOr<int64_t> SumQualifyingPoints(pg::Connection& connection,
                                            const std::string& program_id,
                                            const std::string& member_id, absl::Time window_start,
                                            absl::Time window_end) {
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result rows,
      connection.Execute(
          queries::kSumQualifyingPoints,
          pg::Params().Add(program_id).Add(member_id).Add(window_start).Add(window_end)));
  return rows.Int64(0, 0);
}

absl::Status InsertTierHistory(pg::Connection& connection, const std::string& program_id,
                               const std::string& member_id, const TierHistoryEntry& entry) {
  return connection
      .Execute(queries::kInsertTierHistory, pg::Params()
                                                .Add(program_id)
                                                .Add(member_id)
                                                .AddOptional(entry.from_tier)
                                                .Add(entry.to_tier)
                                                .Add(entry.kind)
                                                .Add(entry.change_time))
      .status();
}

absl::StatusOr<std::vector<TierHistoryEntry>> ListTierHistory(pg::Connection& connection,
                                                              const std::string& program_id,
                                                              const std::string& member_id,
                                                              int limit) {
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result rows,
      connection.Execute(
          queries::kListTierHistory,
          pg::Params().Add(program_id).Add(member_id).Add(static_cast<int64_t>(limit))));
  std::vector<TierHistoryEntry> entries;
  for (int row = 0; row < rows.rows(); ++row) {
    entries.push_back(TierHistoryEntry{.from_tier = rows.OptionalString(row, "from_tier"),
                                       .to_tier = rows.String(row, "to_tier"),
                                       .kind = rows.String(row, "kind"),
                                       .change_time = rows.Time(row, "change_time")});
  }
  return entries;
}

}  // namespace loyalty::members
