#pragma once

// Referrals in the `members` schema (migrations/0008_referrals.sql): one per referee, linked at
// enrolment, settled once when the referee's first qualifying purchase is earned.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/pg/connection.h"

namespace loyalty::members {

// Matches loyalty.members.v1.ReferralStatus.
enum class ReferralStatus : int { kPending = 1, kRewarded = 2, kRefused = 3 };

struct Referral {
  std::string program_id;
  std::string referral_id;
  std::string referrer_id;
  std::string referee_id;
  ReferralStatus status = ReferralStatus::kPending;
  std::optional<std::string> refusal_reason;
  absl::Time create_time;
  std::optional<absl::Time> resolve_time;
};

absl::Status InsertReferral(pg::Connection& connection, const Referral& referral);

struct ReferralPage {
  std::vector<Referral> referrals;
  bool more = false;
};

// The referrer's referrals, newest first, after the keyset position (create_time, referral_id)
// when given; at most `limit`.
absl::StatusOr<ReferralPage> ListReferrals(
    pg::Connection& connection, const std::string& program_id, const std::string& referrer_id,
    const std::optional<std::pair<absl::Time, std::string>>& before, int limit);

}  // namespace loyalty::members
