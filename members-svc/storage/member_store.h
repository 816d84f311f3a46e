#pragma once

// libpq access to the `members` schema. Every function runs on a connection the caller holds,
// usually inside pg::Pool::InTransaction, so several calls share one transaction. Errors are
// the mapped SQL errors (common/pg/sqlstate.h); "not found" is an empty optional, not an error.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/pg/connection.h"
#include "members-svc/domain/member.h"

namespace loyalty::members {

absl::Status InsertProgram(pg::Connection& connection, const Program& program);
absl::StatusOr<std::optional<Program>> LoadProgram(pg::Connection& connection,
                                                   const std::string& program_id);

absl::Status InsertMember(pg::Connection& connection, const Member& member);

enum class Lock { kNone, kForUpdate };
absl::StatusOr<std::optional<Member>> LoadMember(pg::Connection& connection,
                                                 const std::string& program_id,
                                                 const std::string& member_id, Lock lock);

// The member (other than `exclude_member_id`) holding this email or phone, if any.
absl::StatusOr<std::optional<std::string>> FindMemberByIdentifier(
    pg::Connection& connection, const std::string& program_id,
    const std::optional<std::string>& email, const std::optional<std::string>& phone,
    const std::string& exclude_member_id = "");

// The active or suspended member owning this referral code, if any.
absl::StatusOr<std::optional<std::string>> FindMemberByReferralCode(pg::Connection& connection,
                                                                    const std::string& program_id,
                                                                    const std::string& code);
// Whether a card number or referral code is already used in the program (erased members too).
absl::StatusOr<bool> CardNumberTaken(pg::Connection& connection, const std::string& program_id,
                                     const std::string& card_number);
absl::StatusOr<bool> ReferralCodeTaken(pg::Connection& connection, const std::string& program_id,
                                       const std::string& code);

struct MemberKey {
  std::string program_id;
  std::string member_id;
};
// Up to `limit` members whose tier review (renewal or downgrade) is due at `now`.
absl::StatusOr<std::vector<MemberKey>> MembersDueForTierReview(pg::Connection& connection,
                                                               absl::Time now, int limit);

// Locks and loads the members of `keys` (duplicates allowed) in one statement, in
// (program_id, member_id) order; unknown members are left out.
absl::StatusOr<std::vector<Member>> LockMembers(pg::Connection& connection,
                                                const std::vector<MemberKey>& keys);

// Writes every mutable field of `member` (status, profile, tier state, times).
absl::Status UpdateMember(pg::Connection& connection, const Member& member);

struct MemberFilter {
  std::optional<MemberStatus> status;
  std::optional<int> tier_position;
};
struct MemberPage {
  std::vector<Member> members;
  // Enrolment sequence of the last member returned (the keyset cursor).
  int64_t last_seq = 0;
  bool more = false;
};
// Up to `limit` members enrolled after `after_seq`, oldest first.
absl::StatusOr<MemberPage> ListMembers(pg::Connection& connection, const std::string& program_id,
                                       int64_t after_seq, const MemberFilter& filter, int limit);

// Records qualifying points; false when this event id was recorded before (nothing changed).
absl::StatusOr<bool> InsertQualifyingActivity(pg::Connection& connection,
                                              const std::string& program_id,
                                              const std::string& member_id,
                                              const std::string& event_id, int64_t points,
                                              absl::Time occur_time, absl::Time record_time);

struct QualifyingActivity {
  std::string program_id;
  std::string member_id;
  std::string event_id;
  int64_t points = 0;
  absl::Time occur_time;
};
// InsertQualifyingActivity for many in one statement; returns the event ids inserted (those
// recorded before are left out).
absl::StatusOr<std::vector<std::string>> InsertQualifyingActivities(
    pg::Connection& connection, const std::vector<QualifyingActivity>& activities,
    absl::Time record_time);

// SumQualifyingPoints for each of `keys` in one statement, with the window
// (window_starts[i], window_end]; the sums in the order of `keys`.
absl::StatusOr<std::vector<int64_t>> SumQualifyingPointsOfMembers(
    pg::Connection& connection, const std::vector<MemberKey>& keys,
    const std::vector<absl::Time>& window_starts, absl::Time window_end);

// Sum of qualifying points with occur_time in (window_start, window_end].
absl::StatusOr<int64_t> SumQualifyingPoints(pg::Connection& connection,
                                            const std::string& program_id,
                                            const std::string& member_id, absl::Time window_start,
                                            absl::Time window_end);

absl::Status InsertTierHistory(pg::Connection& connection, const std::string& program_id,
                               const std::string& member_id, const TierHistoryEntry& entry);
absl::StatusOr<std::vector<TierHistoryEntry>> ListTierHistory(pg::Connection& connection,
                                                              const std::string& program_id,
                                                              const std::string& member_id,
                                                              int limit);

}  // namespace loyalty::members
