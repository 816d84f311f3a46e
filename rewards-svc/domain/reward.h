#pragma once

// The reward catalog's rules, pure (std + absl): what a valid reward is, whether a member may
// redeem one now and why not, and what a voucher is worth for an order.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace loyalty::rewards {

// Values match loyalty.rewards.v1.RewardKind.
enum class RewardKind {
  kUnspecified = 0,
  kDiscountFixed = 1,
  kDiscountPercent = 2,
  kFreeShipping = 3,
  kFreeProduct = 4,
  kGiftCard = 5,
  kExperience = 6,
  kDonation = 7,
};

// Values match loyalty.rewards.v1.LimitPeriod.
enum class LimitPeriod { kNone = 0, kDay = 1, kMonth = 2, kYear = 3, kLifetime = 4 };

inline constexpr int64_t kPointsCostMax = 1'000'000'000;
inline constexpr int64_t kStockMax = 1'000'000'000;
inline constexpr int64_t kAmountMinorMax = 100'000'000'000;
inline constexpr int32_t kLimitPerMemberMax = 10'000;
inline constexpr int32_t kVoucherValidityDaysDefault = 30;
inline constexpr int32_t kVoucherValidityDaysMax = 3650;
inline constexpr size_t kTitleCharsMax = 200;
inline constexpr size_t kDescriptionCharsMax = 2000;
inline constexpr size_t kSkuLengthMax = 64;
inline constexpr size_t kTierCodeLengthMax = 32;

// What a voucher gives; the kind-specific part of a reward, copied onto each voucher so a later
// catalog edit does not change vouchers already issued.
struct VoucherTerms {
  RewardKind kind = RewardKind::kUnspecified;
  // DISCOUNT_FIXED amount, GIFT_CARD value, FREE_SHIPPING maximum (0: all).
  int64_t amount_minor = 0;
  // DISCOUNT_FIXED and GIFT_CARD.
  std::string currency_code;
  // DISCOUNT_PERCENT.
  int32_t percent = 0;
  int64_t cap_minor = 0;
  // FREE_PRODUCT.
  std::string sku;
};

struct Reward {
  std::string id;
  std::string title;
  std::string description;
  int64_t points_cost = 0;
  // nullopt: unlimited.
  std::optional<int64_t> stock;
  int32_t limit_per_member = 0;
  LimitPeriod limit_period = LimitPeriod::kNone;
  std::string min_tier;
  std::optional<absl::Time> start_time;
  std::optional<absl::Time> end_time;
  int32_t voucher_validity_days = 0;
  VoucherTerms terms;
  // EXPERIENCE: loyalty.rewards.v1.ExperienceType.
  int32_t experience_type = 0;
  // DONATION.
  std::string charity_name;
  int64_t version = 0;
  absl::Time create_time;
  absl::Time update_time;
};

// OK, or INVALID_ARGUMENT naming the first bad field under `prefix` (e.g. "reward.points_cost")
// with reasons INVALID_TITLE, INVALID_POINTS_COST, INVALID_STOCK, INVALID_LIMIT, INVALID_TIER,
// INVALID_ACTIVE_WINDOW, INVALID_VALIDITY, KIND_REQUIRED, INVALID_AMOUNT, INVALID_PERCENT,
// INVALID_CURRENCY, INVALID_SKU, INVALID_EXPERIENCE_TYPE, INVALID_CHARITY.
absl::Status ValidateReward(const Reward& reward, std::string_view prefix);

// Donations give nothing to present at a checkout.
bool IssuesVoucher(RewardKind kind);

// How long vouchers of the reward stay valid.
absl::Duration VoucherValidity(const Reward& reward);

// Why a member cannot redeem a reward now; values match loyalty.rewards.v1.IneligibleReason.
enum class Ineligible {
  kNone = 0,
  kInsufficientPoints = 1,
  kTierTooLow = 2,
  kOutOfStock = 3,
  kLimitReached = 4,
  kNotActive = 5,
};

// The stable reason word, e.g. "OUT_OF_STOCK" ("" for kNone).
std::string_view IneligibleReasonName(Ineligible reason);

// What rewards-svc learned about the member for one reward.
struct MemberFacts {
  int64_t available_points = 0;
  // Ranks in the program's tier ladder (0 lowest); min_tier_rank is -1 when the reward has none.
  int tier_rank = 0;
  int min_tier_rank = -1;
  // Redemptions of the reward by the member (PENDING or COMPLETED) in the current limit period.
  int64_t redemptions_in_period = 0;
};

struct Eligibility {
  Ineligible reason = Ineligible::kNone;
  int64_t points_missing = 0;
};

// The first obstacle in the order NOT_ACTIVE, OUT_OF_STOCK, TIER_TOO_LOW, LIMIT_REACHED,
// INSUFFICIENT_POINTS.
Eligibility CheckEligibility(const Reward& reward, const MemberFacts& member, absl::Time now);

// FAILED_PRECONDITION with the reason word (and "points_missing" metadata for points).
absl::Status IneligibleError(const Eligibility& eligibility, std::string_view reward_id);

// Start of the limit period holding `now` (UTC); InfinitePast for LIFETIME.
absl::Time LimitPeriodStart(LimitPeriod period, absl::Time now);

// What a voucher gives one order.
struct Valuation {
  int64_t discount_minor = 0;
  bool free_shipping = false;
  std::string sku;
};

// Fixed: min(amount, total). Percent: floor(total * percent / 100), capped. Gift card:
// min(balance, total). Free shipping: the maximum covered. Free product: the SKU.
Valuation ValueFor(const VoucherTerms& terms, int64_t balance_minor, int64_t order_total_minor);

}  // namespace loyalty::rewards
