#pragma once

// The records members-svc keeps, in domain terms (no proto, no libpq).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "members-svc/domain/tier.h"
#include "members-svc/domain/validation.h"

namespace loyalty::members {

// Values match loyalty.members.v1.MemberStatus and the `members.status` column.
enum class MemberStatus : int { kActive = 1, kSuspended = 2, kErased = 3 };

struct Program {
  std::string id;
  std::string display_name;
  std::string currency_code;
  int64_t point_value_minor_per_thousand = 0;
  TierPolicy policy;
  std::vector<TierDefinition> tiers;
  absl::Time create_time;
  // Referral bonuses one member can earn in all; 0: no limit.
  int32_t referral_rewards_max = 0;
};

struct Profile {
  std::optional<std::string> email;  // Normalised, lower case.
  std::optional<std::string> phone;  // E.164.
  std::optional<std::string> display_name;
  std::optional<Date> birthday;
  bool marketing_consent = false;
};

struct Member {
  std::string program_id;
  std::string member_id;
  MemberStatus status = MemberStatus::kActive;
  Profile profile;
  std::string card_number;
  std::string referral_code;
  std::optional<std::string> referred_by_code;
  std::optional<std::string> suspend_reason;
  TierState tier;
  absl::Time enroll_time;
  absl::Time update_time;
  std::optional<absl::Time> erase_time;
};

// One row of tier history.
struct TierHistoryEntry {
  std::optional<std::string> from_tier;
  std::string to_tier;
  std::string kind;  // ENROLLED, UPGRADE or DOWNGRADE.
  absl::Time change_time;
};

}  // namespace loyalty::members
