#include "members-svc/domain/tier.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "common/check.h"
#include "common/status/error.h"
#include "members-svc/domain/validation.h"

namespace loyalty::members {
namespace {

constexpr std::string_view kLadderReason = "INVALID_TIER_LADDER";
constexpr std::string_view kPolicyReason = "INVALID_TIER_POLICY";

absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsUpperAlnum(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// ^[a-z0-9][a-z0-9_-]{0,31}$
bool IsValidTierCode(std::string_view code) {
  if (code.empty() || code.size() > kTierCodeLengthMax || !IsLowerAlnum(code.front())) {
    return false;
  }
  return std::all_of(code.begin(), code.end(),
                     [](char c) { return IsLowerAlnum(c) || c == '_' || c == '-'; });
}

// ^[A-Z][A-Z0-9_]{0,63}$
bool IsValidBenefitCode(std::string_view code) {
  if (code.empty() || code.size() > kTierBenefitCodeLengthMax || code.front() < 'A' ||
      code.front() > 'Z') {
    return false;
  }
  return std::all_of(code.begin(), code.end(), [](char c) { return IsUpperAlnum(c) || c == '_'; });
}

bool IsTextOfChars(std::string_view text, size_t max_chars) {
  const std::optional<size_t> chars = DisplayTextChars(text);
  return chars.has_value() && *chars >= 1 && *chars <= max_chars;
}

absl::Status ValidateBenefit(const TierBenefit& benefit, const std::string& path) {
  if (!IsValidBenefitCode(benefit.code)) {
    return InvalidField(absl::StrCat(path, ".code"), kLadderReason,
                        "must match ^[A-Z][A-Z0-9_]{0,63}$");
  }
  if (!IsTextOfChars(benefit.description, kTierBenefitDescriptionCharsMax)) {
    return InvalidField(absl::StrCat(path, ".description"), kLadderReason,
                        absl::StrCat("must be 1-", kTierBenefitDescriptionCharsMax,
                                     " characters of UTF-8 text without control characters"));
  }
  return absl::OkStatus();
}

absl::Status ValidateTier(const TierDefinition& tier, const std::string& path) {
  if (!IsValidTierCode(tier.code)) {
    return InvalidField(absl::StrCat(path, ".code"), kLadderReason,
                        "must match ^[a-z0-9][a-z0-9_-]{0,31}$");
  }
  if (!IsTextOfChars(tier.display_name, kTierDisplayNameCharsMax)) {
    return InvalidField(absl::StrCat(path, ".display_name"), kLadderReason,
                        absl::StrCat("must be 1-", kTierDisplayNameCharsMax,
                                     " characters of UTF-8 text without control characters"));
  }
  if (tier.earn_multiplier_percent < kEarnMultiplierPercentMin ||
      tier.earn_multiplier_percent > kEarnMultiplierPercentMax) {
    return InvalidField(absl::StrCat(path, ".earn_multiplier_percent"), kLadderReason,
                        absl::StrCat("must be in [", kEarnMultiplierPercentMin, ", ",
                                     kEarnMultiplierPercentMax, "]"));
  }
  if (tier.benefits.size() > static_cast<size_t>(kTierBenefitsMax)) {
    return InvalidField(absl::StrCat(path, ".benefits"), kLadderReason,
                        absl::StrCat("at most ", kTierBenefitsMax, " benefits per tier"));
  }
  std::set<std::string_view> benefit_codes;
  for (size_t i = 0; i < tier.benefits.size(); ++i) {
    const std::string benefit_path = absl::StrCat(path, ".benefits[", i, "]");
    if (absl::Status status = ValidateBenefit(tier.benefits[i], benefit_path); !status.ok()) {
      return status;
    }
    if (!benefit_codes.insert(tier.benefits[i].code).second) {
      return InvalidField(absl::StrCat(benefit_path, ".code"), kLadderReason,
                          "benefit codes must be unique within a tier");
    }
  }
  return absl::OkStatus();
}

int DaysInMonth(absl::CivilMonth month) { return (absl::CivilDay(month + 1) - 1).day(); }

bool IsFinite(absl::Time t) { return t != absl::InfiniteFuture() && t != absl::InfinitePast(); }

// Only what the arithmetic needs: a program stored under older, wider limits keeps working.
void CheckLadderAndState(const std::vector<TierDefinition>& ladder, const TierPolicy& policy,
                         const TierState& state) {
  LOYALTY_CHECK(!ladder.empty());
  LOYALTY_CHECK(state.tier_index >= 0 && state.tier_index < static_cast<int>(ladder.size()));
  LOYALTY_CHECK(policy.window_months >= 1);
  LOYALTY_CHECK(policy.downgrade_grace_days >= 0);
}

// The start of the period that contains `now`, reached from `period_start` by renewing period
// after period, computed without walking every period: only the day-of-month clamping depends on
// the months passed through, and it is settled by integer arithmetic over at most one 400-year
// Gregorian cycle. Requires AddMonths(period_start, window_months) <= now.
absl::Time SkipElapsedPeriods(absl::Time period_start, int window_months, absl::Time now) {
  const absl::TimeZone utc = absl::UTCTimeZone();
  const absl::CivilSecond start = absl::ToCivilSecond(period_start, utc);
  const absl::Duration subsecond = period_start - absl::FromCivil(start, utc);
  const absl::CivilMonth start_month(start);
  const int64_t months_elapsed = absl::CivilMonth(absl::ToCivilSecond(now, utc)) - start_month;
  // Renewals that certainly end before `now`: their starts lie at least one window before now's
  // month. The loop below adds the remaining one or two.
  const int64_t renewals = std::max<int64_t>(0, months_elapsed / window_months - 1);
  // Day of month after `renewals` steps: the original day, clamped by the shortest month passed
  // through. Month lengths repeat every 4800 months (400 years), so that many steps suffice.
  constexpr int64_t kGregorianCycleMonths = 4800;
  int day = start.day();
  for (int64_t i = 1; i <= std::min(renewals, kGregorianCycleMonths) && day > 28; ++i) {
    day = std::min(day, DaysInMonth(start_month + i * window_months));
  }
  const absl::CivilMonth month = start_month + renewals * window_months;
  absl::Time result =
      absl::FromCivil(absl::CivilSecond(month.year(), month.month(), day, start.hour(),
                                        start.minute(), start.second()),
                      utc) +
      subsecond;
  for (absl::Time next = AddMonths(result, window_months); next <= now;
       next = AddMonths(result, window_months)) {
    result = next;
  }
  return result;
}

}  // namespace

absl::Status ValidateTierLadder(const std::vector<TierDefinition>& tiers,
                                std::string_view field_prefix) {
  if (tiers.empty() || tiers.size() > static_cast<size_t>(kTiersMax)) {
    return InvalidField(field_prefix, kLadderReason,
                        absl::StrCat("a ladder has 1-", kTiersMax, " tiers"));
  }
  std::set<std::string_view> codes;
  for (size_t i = 0; i < tiers.size(); ++i) {
    const std::string path = absl::StrCat(Absl(field_prefix), "[", i, "]");
    const TierDefinition& tier = tiers[i];
    if (absl::Status status = ValidateTier(tier, path); !status.ok()) return status;
    if (!codes.insert(tier.code).second) {
      return InvalidField(absl::StrCat(path, ".code"), kLadderReason, "tier codes must be unique");
    }
    const std::string threshold_field = absl::StrCat(path, ".threshold_points");
    if (i == 0 && tier.threshold_points != 0) {
      return InvalidField(threshold_field, kLadderReason, "the first tier's threshold must be 0");
    }
    if (i > 0 && tier.threshold_points <= tiers[i - 1].threshold_points) {
      return InvalidField(threshold_field, kLadderReason,
                          "thresholds must increase strictly from tier to tier");
    }
    if (tier.threshold_points > kTierThresholdPointsMax) {
      return InvalidField(threshold_field, kLadderReason,
                          absl::StrCat("must be at most ", kTierThresholdPointsMax));
    }
  }
  return absl::OkStatus();
}

std::vector<TierDefinition> DefaultTierLadder() {
  return {
      {.code = "bronze",
       .display_name = "Bronze",
       .threshold_points = 0,
       .earn_multiplier_percent = 100,
       .benefits = {{.code = "MEMBER_OFFERS", .description = "Members-only offers and events"},
                    {.code = "BIRTHDAY_BONUS", .description = "Bonus points on your birthday"}}},
      {.code = "silver",
       .display_name = "Silver",
       .threshold_points = 1000,
       .earn_multiplier_percent = 125,
       .benefits = {{.code = "FREE_SHIPPING", .description = "Free standard shipping"},
                    {.code = "EARLY_ACCESS", .description = "Early access to sales"}}},
      {.code = "gold",
       .display_name = "Gold",
       .threshold_points = 5000,
       .earn_multiplier_percent = 150,
       .benefits = {{.code = "FREE_EXPRESS_SHIPPING", .description = "Free express shipping"},
                    {.code = "EXTENDED_RETURNS", .description = "60-day returns"},
                    {.code = "PRIORITY_SUPPORT", .description = "Priority customer support"}}},
      {.code = "platinum",
       .display_name = "Platinum",
       .threshold_points = 20000,
       .earn_multiplier_percent = 200,
       .benefits = {{.code = "FREE_EXPRESS_SHIPPING", .description = "Free express shipping"},
                    {.code = "PERSONAL_SHOPPER", .description = "A personal shopping assistant"},
                    {.code = "EXCLUSIVE_EVENTS",
                     .description = "Invitations to exclusive events"}}},
  };
}

absl::Status ValidateTierPolicy(const TierPolicy& policy, std::string_view field_prefix) {
  if (policy.window_months < kTierWindowMonthsMin || policy.window_months > kTierWindowMonthsMax) {
    return InvalidField(
        absl::StrCat(Absl(field_prefix), ".tier_window_months"), kPolicyReason,
        absl::StrCat("must be in [", kTierWindowMonthsMin, ", ", kTierWindowMonthsMax, "]"));
  }
  if (policy.downgrade_grace_days < 0 || policy.downgrade_grace_days > kDowngradeGraceDaysMax) {
    return InvalidField(absl::StrCat(Absl(field_prefix), ".downgrade_grace_days"), kPolicyReason,
                        absl::StrCat("must be in [0, ", kDowngradeGraceDaysMax, "]"));
  }
  return absl::OkStatus();
}

absl::Time AddMonths(absl::Time t, int months) {
  if (!IsFinite(t)) return t;
  const absl::TimeZone utc = absl::UTCTimeZone();
  const absl::CivilSecond civil = absl::ToCivilSecond(t, utc);
  const absl::Duration subsecond = t - absl::FromCivil(civil, utc);
  const absl::CivilMonth month = absl::CivilMonth(civil) + months;
  const int day = std::min(civil.day(), DaysInMonth(month));
  return absl::FromCivil(absl::CivilSecond(month.year(), month.month(), day, civil.hour(),
                                           civil.minute(), civil.second()),
                         utc) +
         subsecond;
}

absl::Time WindowStart(absl::Time window_end, const TierPolicy& policy) {
  return AddMonths(window_end, -policy.window_months);
}

int TierForPoints(const std::vector<TierDefinition>& ladder, int64_t points) {
  LOYALTY_CHECK(!ladder.empty());
  for (int i = static_cast<int>(ladder.size()) - 1; i > 0; --i) {
    if (points >= ladder[i].threshold_points) return i;
  }
  return 0;
}

TierEvaluation EvaluateTier(const std::vector<TierDefinition>& ladder, const TierPolicy& policy,
                            TierState state, absl::Time now, PointsInWindowFn points_in_window) {
  CheckLadderAndState(ladder, policy, state);
  TierEvaluation evaluation{.state = state, .changes = {}};
  if (now < state.period_start || !IsFinite(now) || !IsFinite(state.period_start)) {
    return evaluation;
  }
  TierState& current = evaluation.state;
  auto change_to = [&](int to_index, TierChangeKind kind, absl::Time at) {
    evaluation.changes.push_back(
        TierChange{.from_index = current.tier_index, .to_index = to_index, .kind = kind, .at = at});
    current = TierState{.tier_index = to_index, .period_start = at};
  };
  const absl::Duration grace = absl::Hours(24) * policy.downgrade_grace_days;

  for (int step = 0; step < kTierEvaluationStepsMax; ++step) {
    const absl::Time period_end = AddMonths(current.period_start, policy.window_months);
    if (period_end > now) break;
    if (current.tier_index == 0) {
      // Nothing to lose at the bottom (its threshold is 0): renew straight to the period that
      // contains `now`.
      change_to(0, TierChangeKind::kRenewal,
                SkipElapsedPeriods(current.period_start, policy.window_months, now));
      break;
    }
    const int at_period_end = TierForPoints(ladder, points_in_window(period_end));
    if (at_period_end > current.tier_index) {
      change_to(at_period_end, TierChangeKind::kUpgrade, period_end);
      continue;
    }
    if (at_period_end == current.tier_index) {
      change_to(current.tier_index, TierChangeKind::kRenewal, period_end);
      continue;
    }
    // Short of the current tier: the grace decides.
    const absl::Time grace_end = period_end + grace;
    if (grace_end > now) break;
    const int at_grace_end = grace == absl::ZeroDuration()
                                 ? at_period_end
                                 : TierForPoints(ladder, points_in_window(grace_end));
    if (at_grace_end < current.tier_index) {
      change_to(at_grace_end, TierChangeKind::kDowngrade, grace_end);
      continue;
    }
    // Re-qualified during the grace: the period renews as if it never lapsed.
    change_to(current.tier_index, TierChangeKind::kRenewal, period_end);
    if (at_grace_end > current.tier_index) {
      change_to(at_grace_end, TierChangeKind::kUpgrade, grace_end);
    }
  }

  // Upgrades are immediate; whether the catch-up finished or not, `now` is always looked at.
  const int at_now = TierForPoints(ladder, points_in_window(now));
  if (at_now > current.tier_index) change_to(at_now, TierChangeKind::kUpgrade, now);
  return evaluation;
}

TierProgress ComputeTierProgress(const std::vector<TierDefinition>& ladder,
                                 const TierPolicy& policy, const TierState& state,
                                 absl::Time /*now*/, int64_t qualifying_points_now) {
  CheckLadderAndState(ladder, policy, state);
  TierProgress progress;
  progress.current_index = state.tier_index;
  progress.qualifying_points = qualifying_points_now;
  progress.period_start = state.period_start;
  progress.window_reset = AddMonths(state.period_start, policy.window_months);
  const int last = static_cast<int>(ladder.size()) - 1;
  if (state.tier_index < last) {
    const int next = state.tier_index + 1;
    const int64_t from = ladder[state.tier_index].threshold_points;
    const int64_t to = ladder[next].threshold_points;
    progress.next_index = next;
    // Saturating: points may be far below zero after refunds.
    progress.points_to_next = qualifying_points_now >= to ? 0
                              : qualifying_points_now < to - std::numeric_limits<int64_t>::max()
                                  ? std::numeric_limits<int64_t>::max()
                                  : to - qualifying_points_now;
    const double fraction =
        (static_cast<double>(qualifying_points_now) - static_cast<double>(from)) /
        static_cast<double>(to - from);
    progress.progress_percent = std::clamp(fraction * 100.0, 0.0, 100.0);
  } else {
    progress.progress_percent = 100.0;
  }
  const int supported = TierForPoints(ladder, qualifying_points_now);
  if (supported < state.tier_index) {
    progress.downgrade_at = progress.window_reset + absl::Hours(24) * policy.downgrade_grace_days;
    progress.downgrade_index = supported;
  }
  return progress;
}

}  // namespace loyalty::members
