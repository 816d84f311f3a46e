#pragma once

// The earning engine: a program's earning rules and what a purchase or a non-purchase activity
// earns under them. Pure and deterministic: the clock and the member's history come in as
// parameters. The structs mirror the messages of proto/loyalty/points/v1/points_service.proto
// field for field, so the rpc layer converts them 1:1.
//
// Purchase semantics (EvaluatePurchase)
// -------------------------------------
// All amounts are integers. Intermediate points are kept in millipoints (1/1000 point) in 128-bit
// arithmetic and floored to whole points only at the end.
//
//  1. Minimum order. total_minor < min_order_minor earns 0 points; the breakdown is the single
//     item "minimum_order" (0 points) and nothing else applies.
//  2. Lines. A purchase without lines is one implicit line {sku "", category ""} worth
//     total_minor. A line's amount is quantity * unit_price_minor.
//  3. Exclusions. A line whose category is in excluded_categories, or whose sku is in
//     excluded_skus, earns nothing and is not in any campaign's scope. Each distinct key gets one
//     item "excluded:<key>" with 0 points; the category is named when both match. Keys (skus,
//     categories, multiplier keys) match exactly, case-sensitively.
//  4. What was paid. When total_minor is below the sum of all line amounts (excluded lines
//     included), the order had a discount: every line's paid amount is its amount scaled by
//     total / sum, so discounts reduce points. When total_minor is above the sum (shipping, tax),
//     lines count at their amounts: the difference earns nothing. All lines free (sum 0): nothing
//     earns.
//  5. Base. base_i = paid_i * points_per_currency_unit / minor_units_per_unit (millipoints,
//     floored at the millipoint). Item "base".
//  6. Line multipliers. A line uses its sku's multiplier if the sku has one, else its category's,
//     else none. extra_i = base_i * (percent - 100) / 100, summed per key into "sku:<sku>" or
//     "category:<category>". Negative below 100 percent: 0 percent means the line earns nothing.
//  7. Tier. With apply_tier_multiplier and a member multiplier other than 100, each line adds
//     (base_i + extra_i) * (tier_percent - 100) / 100; summed into "tier".
//  8. Campaigns active at occur_time (start <= occur_time < end), in the order of the rules.
//     Each works on the same pre-campaign subtotal (base + line multipliers + tier) of the
//     eligible lines in its scope (lines whose category is listed; every eligible line when the
//     list is empty): "campaign:<id>" adds scoped * (multiplier - 100) / 100 (none when the
//     multiplier is 0 or 100), and "campaign_bonus:<id>" adds bonus_points when at least one
//     eligible line is in scope (a free line counts). Campaigns add up; they never compound.
//  9. Points. floor(sum of all millipoints / 1000), never negative (no rule can make the sum
//     negative). Should that exceed kPurchasePointsMax, which only absurd configurations reach,
//     the purchase earns kPurchasePointsMax, and the single item "cap:purchase" holding it
//     replaces the items of points 5-8 (so that every item fits in 64 bits).
// 10. Rounding of the breakdown. Every item except "base" shows its exact value rounded toward
//     zero; "base" gets the rest, so the items sum exactly to the points. "base" never goes
//     negative that way. Items that round to 0 points are left out, except "minimum_order" and
//     "excluded:*".
// 11. Caps (a member's purchase points per UTC day and calendar month, 0 meaning none). With
//     room = max(0, cap - max(0, earned so far)), points above the room are taken away by a
//     negative item "cap:day", then likewise "cap:month". A negative "earned so far" (refunds)
//     buys no room beyond the cap.
//
// Breakdown order: base (or cap:purchase), line multipliers (in order of the lines that first
// used them), tier, campaigns (campaign:<id> then campaign_bonus:<id>, in the order of the
// rules), exclusions (in line order), cap:day, cap:month.
//
// Activities (non-purchase actions) earn an ActivityRule's fixed points, at most limit_count
// times per member in each limit period (UTC day, calendar month, calendar year or lifetime).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace loyalty::points {

// Limits of earning rules (ValidateEarningRules).
inline constexpr int64_t kPointsPerCurrencyUnitMax = 1000;
inline constexpr int32_t kMinorUnitsPerUnitMin = 1;
inline constexpr int32_t kMinorUnitsPerUnitMax = 10000;
inline constexpr int32_t kMultiplierPercentMax = 10000;
inline constexpr size_t kMultipliersMax = 500;   // per list
inline constexpr size_t kRuleKeyLengthMax = 64;  // bytes: multiplier keys, exclusions, categories
inline constexpr size_t kCampaignsMax = 50;
inline constexpr size_t kCampaignIdLengthMax = 64;
inline constexpr size_t kCampaignNameCharsMax = 200;
inline constexpr int32_t kCampaignMultiplierPercentMin = 100;
inline constexpr int32_t kCampaignMultiplierPercentMax = 10000;
inline constexpr int64_t kCampaignBonusPointsMax = 1'000'000;
inline constexpr size_t kCampaignCategoriesMax = 100;
inline constexpr int64_t kMinOrderMinorMax = 1'000'000'000'000;
inline constexpr int64_t kCapPointsMax = 1'000'000'000;
inline constexpr size_t kActivityRulesMax = 50;
inline constexpr int64_t kActivityPointsMax = 1'000'000;
inline constexpr int32_t kActivityLimitCountMax = 1'000'000;
inline constexpr size_t kCustomActivityNameLengthMax = 64;
inline constexpr size_t kExclusionsMax = 500;  // per list
inline constexpr int32_t kPendingDaysMax = 365;
inline constexpr int32_t kExpiryMonthsMax = 120;

// Limits of a purchase (ValidatePurchase).
inline constexpr int64_t kPurchaseTotalMinorMax = 1'000'000'000'000;
inline constexpr size_t kPurchaseLinesMax = 500;
inline constexpr size_t kSkuLengthMax = 64;       // bytes
inline constexpr size_t kCategoryLengthMax = 64;  // bytes
inline constexpr int64_t kLineQuantityMax = 10'000;
inline constexpr int64_t kUnitPriceMinorMax = 10'000'000'000;

// The member's tier multiplier is clamped into this range (it comes from another service).
inline constexpr int32_t kTierMultiplierPercentMin = 100;
inline constexpr int32_t kTierMultiplierPercentMax = 1000;

// Most points one purchase earns (semantics, point 9). The limits above allow about 5 * 10^21.
inline constexpr int64_t kPurchasePointsMax = 1'000'000'000'000;

// A multiplier for a category or SKU, in percent (200 = double points, 0 = nothing).
struct RateMultiplier {
  std::string key;
  int32_t percent = 100;
};

// A time-boxed campaign, active in [start, end).
struct Campaign {
  std::string id;
  std::string name;
  absl::Time start;
  absl::Time end;
  int32_t multiplier_percent = 100;     // 0 or 100: no multiplier
  int64_t bonus_points = 0;             // per qualifying purchase
  std::vector<std::string> categories;  // empty: every eligible line
};

// Values match the proto enum loyalty.points.v1.ActivityType.
enum class ActivityType {
  kReview = 1,
  kSocialFollow = 2,
  kAppInstall = 3,
  kBirthday = 4,
  kNewsletterSignup = 5,
  kReferral = 6,
  kCustom = 7,
};

// Values match the proto enum loyalty.points.v1.LimitPeriod.
enum class LimitPeriod { kNone = 0, kDay = 1, kMonth = 2, kYear = 3, kLifetime = 4 };

// Fixed points for a non-purchase action, at most `limit_count` awards (0: unlimited) per
// member per `limit_period`.
struct ActivityRule {
  ActivityType type = ActivityType::kCustom;
  std::string custom_name;  // CUSTOM only
  int64_t points = 0;
  int32_t limit_count = 0;
  LimitPeriod limit_period = LimitPeriod::kNone;
};

struct EarningRules {
  int64_t points_per_currency_unit = 1;
  int32_t minor_units_per_unit = 100;
  std::vector<RateMultiplier> category_multipliers;
  std::vector<RateMultiplier> sku_multipliers;  // applied instead of the category's
  std::vector<Campaign> campaigns;
  int64_t min_order_minor = 0;
  int64_t cap_points_per_day = 0;  // 0: none
  int64_t cap_points_per_month = 0;
  std::vector<ActivityRule> activity_rules;
  std::vector<std::string> excluded_categories{"gift_card"};
  std::vector<std::string> excluded_skus;
  int32_t pending_days = 0;
  int32_t expiry_months = 12;  // 0: never
  bool apply_tier_multiplier = true;
};

// The rules of a program that has not set its own: 1 point per currency unit (100 minor units),
// gift cards excluded, no pending period, points expire after 12 months, tier multipliers apply,
// no caps, no campaigns. Activities: REVIEW 50 points, at most 5 per month; SOCIAL_FOLLOW 25, at
// most 3 ever (one per network); APP_INSTALL 100 once ever; BIRTHDAY 200 once per year;
// NEWSLETTER_SIGNUP 50 once ever; REFERRAL 500, at most 20 per year (generous for real advocates,
// a bound on referral farming). No CUSTOM activity. Valid.
EarningRules DefaultEarningRules();

// Validates rules against the limits above: points_per_currency_unit 0..1000;
// minor_units_per_unit 1..10000 (the rpc layer maps the proto's 0 to 100); each multiplier list
// holds at most 500 entries with unique keys of 1..64 bytes and percents 0..10000; at most 50
// campaigns with unique ids matching ^[a-z0-9][a-z0-9_-]{0,63}$, names of 1..200 characters of
// UTF-8 text without control characters and not only spaces, finite times with end after start,
// multipliers 0 or 100..10000, bonus 0..1000000 and at most 100 categories of 1..64 bytes;
// min_order_minor 0..10^12; caps 0..10^9; at most 50 activity rules with a known type, points
// 1..1000000, limit_count 0..1000000, a known limit_period that is not NONE when limit_count > 0
// (a period with limit_count 0 is allowed and means unlimited), custom_name matching
// ^[a-z0-9][a-z0-9_-]{0,63}$ for CUSTOM and empty otherwise, no two rules for the same (type,
// custom_name); at most 500 excluded categories and 500 excluded skus of 1..64 bytes each;
// pending_days 0..365; expiry_months 0..120. Returns INVALID_ARGUMENT with reason
// INVALID_EARNING_RULES naming the first offending field below `field_prefix` with the proto
// field names, e.g. "rules.campaigns[1].end_time" or "rules.category_multipliers[0].percent"
// ("rules.campaigns" itself for too many campaigns). An empty prefix gives "campaigns[1]...".
absl::Status ValidateEarningRules(const EarningRules& rules, std::string_view field_prefix);

struct PurchaseLine {
  std::string sku;
  std::string category;
  int64_t quantity = 0;
  int64_t unit_price_minor = 0;
};

struct Purchase {
  int64_t total_minor = 0;  // as paid, after discounts
  std::vector<PurchaseLine> lines;
  absl::Time occur_time;
};

// Validates a purchase: total_minor 0..10^12; at most 500 lines, each with a sku of 1..64 bytes,
// a category of 0..64 bytes, quantity 1..10000 and unit_price_minor 0..10^10. Returns
// INVALID_ARGUMENT with reason INVALID_PURCHASE naming the first offending field, e.g.
// "total_minor", "lines" (too many) or "lines[3].quantity".
absl::Status ValidatePurchase(const Purchase& purchase);

// What the evaluation needs to know about the member.
struct MemberEarnContext {
  int32_t tier_multiplier_percent = 100;  // clamped into [100, 1000]
  // Purchase points the member already earned in the UTC day and the UTC calendar month of the
  // purchase (for the caps).
  int64_t earned_today = 0;
  int64_t earned_this_month = 0;
};

// One line of the explanation: which rule gave how many points.
struct BreakdownItem {
  std::string rule;         // stable id, e.g. "base", "campaign:summer", "cap:day"
  std::string description;  // for the member
  int64_t points = 0;

  friend bool operator==(const BreakdownItem&, const BreakdownItem&) = default;
};

struct Evaluation {
  int64_t points = 0;  // >= 0; the breakdown's points sum to it exactly
  std::vector<BreakdownItem> breakdown;
};

// The points `purchase` earns under `rules` for `member`, with their breakdown, per the
// semantics above. `rules` and `purchase` are valid (ValidateEarningRules, ValidatePurchase):
// the bounds the arithmetic relies on are checked, so only a programmer error can break them.
Evaluation EvaluatePurchase(const EarningRules& rules, const Purchase& purchase,
                            const MemberEarnContext& member);

// The rule for (type, custom_name); custom_name is compared for every type, so it must be empty
// unless `type` is CUSTOM. Returns FAILED_PRECONDITION with reason ACTIVITY_NOT_CONFIGURED (and
// metadata type, custom_name) when the program has none.
absl::StatusOr<ActivityRule> FindActivityRule(const EarningRules& rules, ActivityType type,
                                              std::string_view custom_name);

// Start of the limit period containing `t`: 00:00 UTC of its day, the first of its month or of
// its year; InfinitePast for kLifetime and kNone. An infinite `t` is returned as is.
absl::Time LimitPeriodStart(LimitPeriod period, absl::Time t);

// Awards the rule's points unless the member's limit is used up: `awards_in_period` is how many
// times the member earned this rule since LimitPeriodStart(rule.limit_period, occur_time).
// The breakdown is the single item "activity:<type>" (e.g. "activity:social_follow") or
// "activity:custom:<name>". Returns FAILED_PRECONDITION with reason ACTIVITY_LIMIT_REACHED and
// metadata limit (e.g. "5") and period (e.g. "LIMIT_PERIOD_MONTH") when awards_in_period >=
// limit_count > 0. `rule` is valid (checked: points >= 0).
absl::StatusOr<Evaluation> EvaluateActivity(const ActivityRule& rule, int64_t awards_in_period);

// Points to take back now when `refund_minor` more of an order is refunded. The order earned
// `earned_points` on `order_total_minor`; before this refund `refunded_minor_before` was refunded
// and `reversed_points_before` taken back. Returns
//   floor(earned * (refunded_before + refund) / total) - reversed_before   (at least 0),
// and exactly earned - reversed_before once the order is fully refunded (an order total of 0 is
// fully refunded by any refund), so partial refunds add up to the full refund and never exceed
// it. Preconditions (checked; the caller validated the refund against the order): every
// argument >= 0, refunded_before + refund <= total, reversed_before <= earned.
int64_t RefundPoints(int64_t earned_points, int64_t order_total_minor,
                     int64_t refunded_minor_before, int64_t reversed_points_before,
                     int64_t refund_minor);

}  // namespace loyalty::points
