#pragma once

// Tier ladders and tier evaluation. Pure: the clock and the qualifying-points store come in as
// parameters.
//
// Semantics
// ---------
// Qualifying points. A program counts qualifying points in a rolling window of `window_months`
// calendar months. The window ending at time E is the half-open interval (WindowStart(E), E]:
// an activity whose occur_time is exactly E counts, one exactly at WindowStart(E) does not.
// So points earned at time T stop counting exactly `window_months` months after T.
//
// Calendar arithmetic. Months are calendar months in UTC, the day of month clamped to the
// length of the target month: Jan 31 + 1 month = Feb 28 (Feb 29 in a leap year). The time of day
// is kept.
//
// Tier state. A member holds {tier_index, period_start}. A qualification period runs
// [period_start, period_end) with period_end = AddMonths(period_start, window_months).
//
// Upgrade (immediate). Whenever the points in the window ending at an instant the evaluation
// looks at (`now`, and each period end and grace end it passes while catching up) reach a
// higher tier's threshold, the member moves straight to the highest tier those points support,
// and a new period starts at that instant.
//
// Renewal. At period_end, if the points in the window ending at period_end still meet the
// current tier's threshold, the tier is renewed: a new period starts at period_end.
//
// Grace and downgrade. Otherwise the member keeps the tier for `downgrade_grace_days` days.
// At grace_end = period_end + grace, the points in the window ending at grace_end decide:
//   - they support the current tier or higher (the member re-qualified during grace): the tier
//     is renewed with a new period starting at period_end (then, if they support a higher
//     tier, an upgrade follows at grace_end);
//   - they support a lower tier: the member is downgraded to the highest tier they support,
//     and a new period starts at grace_end. A downgrade may skip several rungs at once.
// With a grace of 0 days the downgrade happens at period_end itself.
// During grace nothing changes except an upgrade to a strictly higher tier.
//
// Lazy evaluation. Nothing runs on a timer inside the domain: EvaluateTier is called with `now`
// (on each qualifying activity, on reads after a period ended, and by a periodic sweep) and
// catches up over every period end and grace end that has passed, in order. It takes at most
// kTierEvaluationStepsMax steps; if that is not enough, the returned state is consistent but
// not yet current, and the next call continues from it. At the lowest tier (threshold 0) a
// member cannot fall further, so the periods that passed are skipped arithmetically without
// asking for points (past period ends are then not sampled for upgrades; `now` still is).
// A `now` before state.period_start changes nothing.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/time/time.h"

namespace loyalty::members {

// Limits of a tier ladder (ValidateTierLadder).
inline constexpr int kTiersMax = 20;
inline constexpr size_t kTierCodeLengthMax = 32;
inline constexpr size_t kTierDisplayNameCharsMax = 64;
inline constexpr int64_t kTierThresholdPointsMax = 1'000'000'000'000;
inline constexpr int32_t kEarnMultiplierPercentMin = 100;
inline constexpr int32_t kEarnMultiplierPercentMax = 1000;
inline constexpr int kTierBenefitsMax = 20;
inline constexpr size_t kTierBenefitCodeLengthMax = 64;
inline constexpr size_t kTierBenefitDescriptionCharsMax = 500;

// Limits of a tier policy (ValidateTierPolicy).
inline constexpr int32_t kTierWindowMonthsMin = 1;
inline constexpr int32_t kTierWindowMonthsMax = 60;
inline constexpr int32_t kDowngradeGraceDaysMax = 365;

// Upper bound on the period steps one EvaluateTier call takes.
inline constexpr int kTierEvaluationStepsMax = 1200;

struct TierBenefit {
  std::string code;         // e.g. "FREE_SHIPPING"
  std::string description;  // text for members
};

struct TierDefinition {
  std::string code;  // e.g. "gold"
  std::string display_name;
  int64_t threshold_points = 0;
  int32_t earn_multiplier_percent = 100;  // 150 means 1.5x
  std::vector<TierBenefit> benefits;
};

struct TierPolicy {
  int32_t window_months = 12;
  int32_t downgrade_grace_days = 0;
};

// Validates a ladder, lowest tier first: 1..kTiersMax tiers; the first threshold is 0 and
// thresholds strictly increase (up to kTierThresholdPointsMax); codes are unique and match
// ^[a-z0-9][a-z0-9_-]{0,31}$; display names are 1..64 characters of valid UTF-8 without control
// characters; multipliers are 100..1000; each tier has at most kTierBenefitsMax benefits with
// codes unique in the tier matching ^[A-Z][A-Z0-9_]{0,63}$ and descriptions of 1..500
// characters. Returns INVALID_ARGUMENT with reason INVALID_TIER_LADDER naming the first
// offending field below `field_prefix`, e.g. "program.tiers[2].threshold_points" or
// "program.tiers[0].benefits[1].code" ("program.tiers" itself for the tier count).
absl::Status ValidateTierLadder(const std::vector<TierDefinition>& tiers,
                                std::string_view field_prefix);

// bronze 0 (1x), silver 1000 (1.25x), gold 5000 (1.5x), platinum 20000 (2x). Valid.
std::vector<TierDefinition> DefaultTierLadder();

// Validates window_months in [1, 60] and downgrade_grace_days in [0, 365]. Returns
// INVALID_ARGUMENT with reason INVALID_TIER_POLICY for the field
// "<field_prefix>.tier_window_months" or "<field_prefix>.downgrade_grace_days".
absl::Status ValidateTierPolicy(const TierPolicy& policy,
                                std::string_view field_prefix = "program");

// `t` plus `months` calendar months in UTC (negative goes back), the day of month clamped to the
// target month's length; time of day and sub-second part kept. Infinite times are returned as is.
absl::Time AddMonths(absl::Time t, int months);

// Start (exclusive) of the window of policy.window_months ending at `window_end`.
absl::Time WindowStart(absl::Time window_end, const TierPolicy& policy);

// The highest tier index whose threshold is <= `points`; 0 when `points` is below every
// threshold (e.g. negative after refunds). `ladder` is valid (ValidateTierLadder).
int TierForPoints(const std::vector<TierDefinition>& ladder, int64_t points);

struct TierState {
  int tier_index = 0;       // into the ladder
  absl::Time period_start;  // start of the current qualification period
};

enum class TierChangeKind {
  kUpgrade,
  kDowngrade,
  // A new period at the same tier: callers may leave it out of the member's history but must
  // persist the new period_start.
  kRenewal,
};

struct TierChange {
  int from_index = 0;
  int to_index = 0;
  TierChangeKind kind = TierChangeKind::kRenewal;
  // When the change takes effect, which is also the start of the new period it opens. For a
  // renewal decided at the end of a grace, this is the earlier period end.
  absl::Time at;
};

struct TierEvaluation {
  TierState state;                  // the state at `now`
  std::vector<TierChange> changes;  // in order of evaluation, `at` non-decreasing
};

// Returns the qualifying points in the window (WindowStart(window_end), window_end]. Called
// only with times <= `now`; EvaluateTier calls it at most 2 * kTierEvaluationStepsMax + 1
// times (and about twice per elapsed period above the lowest tier). A caller whose lookup can
// fail records the failure and discards the evaluation.
using PointsInWindowFn = absl::FunctionRef<int64_t(absl::Time window_end)>;

// Brings `state` up to date at `now` under the semantics above. `ladder` is valid
// (ValidateTierLadder); the policy has window_months >= 1 and downgrade_grace_days >= 0 and
// state.tier_index is within the ladder (checked: the storage layer validates what it loads, so
// only a programmer error can break these).
TierEvaluation EvaluateTier(const std::vector<TierDefinition>& ladder, const TierPolicy& policy,
                            TierState state, absl::Time now, PointsInWindowFn points_in_window);

// What a member sees about their tier.
struct TierProgress {
  int current_index = 0;
  std::optional<int> next_index;  // unset at the top of the ladder
  int64_t qualifying_points = 0;  // in the window ending now
  int64_t points_to_next = 0;     // 0 at the top, or when already enough
  // From the current tier's threshold (0%) to the next one's (100%), clamped to [0, 100];
  // 100 at the top of the ladder.
  double progress_percent = 0;
  absl::Time period_start;
  // End of the current qualification period: when the window is next checked.
  absl::Time window_reset;
  // Set when the points in the window ending now do not support the current tier: if nothing
  // changes, the member is downgraded at window_reset + grace to downgrade_index
  // (= TierForPoints(qualifying points now)).
  std::optional<absl::Time> downgrade_at;
  std::optional<int> downgrade_index;
};

// Progress at `now` for a state already brought up to date with EvaluateTier, given the points in
// the window ending at `now`. Same preconditions as EvaluateTier.
TierProgress ComputeTierProgress(const std::vector<TierDefinition>& ladder,
                                 const TierPolicy& policy, const TierState& state, absl::Time now,
                                 int64_t qualifying_points_now);

}  // namespace loyalty::members
