#include "rewards-svc/domain/reward.h"

#include <algorithm>

#include "absl/numeric/int128.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "common/status/error.h"
#include "common/validation/ids.h"
#include "common/validation/text.h"

namespace loyalty::rewards {
namespace {

std::string Field(std::string_view prefix, std::string_view name) {
  if (prefix.empty()) return std::string(name);
  return absl::StrCat(absl::string_view(prefix.data(), prefix.size()), ".",
                      absl::string_view(name.data(), name.size()));
}

absl::Status ValidateDisplayText(std::string_view text, std::string field, size_t max_chars,
                                 bool required, std::string_view reason) {
  const std::optional<size_t> chars = DisplayTextChars(text);
  if (!chars.has_value() || *chars > max_chars || (required && *chars == 0)) {
    return InvalidField(field, reason,
                        absl::StrCat(required ? "1" : "0", "-", max_chars,
                                     " characters of UTF-8 text without control characters"));
  }
  return absl::OkStatus();
}

bool ValidSku(std::string_view sku) {
  return !sku.empty() && sku.size() <= kSkuLengthMax &&
         std::all_of(sku.begin(), sku.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

absl::Status ValidateTerms(const Reward& reward, std::string_view prefix) {
  const VoucherTerms& terms = reward.terms;
  switch (terms.kind) {
    case RewardKind::kUnspecified:
      return InvalidField(Field(prefix, "details"), "KIND_REQUIRED",
                          "set exactly one of the kind details (discount_fixed, ...)");
    case RewardKind::kDiscountFixed:
    case RewardKind::kGiftCard: {
      const std::string block =
          Field(prefix, terms.kind == RewardKind::kGiftCard ? "gift_card" : "discount_fixed");
      if (terms.amount_minor <= 0 || terms.amount_minor > kAmountMinorMax) {
        return InvalidField(
            Field(block, terms.kind == RewardKind::kGiftCard ? "value_minor" : "amount_minor"),
            "INVALID_AMOUNT", absl::StrCat("must be in [1, ", kAmountMinorMax, "]"));
      }
      return ValidateCurrencyCode(terms.currency_code, Field(block, "currency_code"));
    }
    case RewardKind::kDiscountPercent:
      if (terms.percent < 1 || terms.percent > 100) {
        return InvalidField(Field(prefix, "discount_percent.percent"), "INVALID_PERCENT",
                            "must be in [1, 100]");
      }
      if (terms.cap_minor < 0 || terms.cap_minor > kAmountMinorMax) {
        return InvalidField(Field(prefix, "discount_percent.cap_minor"), "INVALID_AMOUNT",
                            absl::StrCat("must be in [0, ", kAmountMinorMax, "]"));
      }
      return absl::OkStatus();
    case RewardKind::kFreeShipping:
      if (terms.amount_minor < 0 || terms.amount_minor > kAmountMinorMax) {
        return InvalidField(Field(prefix, "free_shipping.max_minor"), "INVALID_AMOUNT",
                            absl::StrCat("must be in [0, ", kAmountMinorMax, "]"));
      }
      return absl::OkStatus();
    case RewardKind::kFreeProduct:
      if (!ValidSku(terms.sku)) {
        return InvalidField(Field(prefix, "free_product.sku"), "INVALID_SKU",
                            "1-64 printable ASCII characters without spaces");
      }
      return absl::OkStatus();
    case RewardKind::kExperience:
      if (reward.experience_type != 1 && reward.experience_type != 2) {
        return InvalidField(Field(prefix, "experience.type"), "INVALID_EXPERIENCE_TYPE",
                            "must be PHYSICAL or EVENT");
      }
      return absl::OkStatus();
    case RewardKind::kDonation:
      return ValidateDisplayText(reward.charity_name, Field(prefix, "donation.charity_name"), 200,
                                 true, "INVALID_CHARITY");
  }
  return InvalidField(Field(prefix, "details"), "KIND_REQUIRED", "unknown kind");
}

}  // namespace

absl::Status ValidateReward(const Reward& reward, std::string_view prefix) {
  if (absl::Status s = ValidateDisplayText(reward.title, Field(prefix, "title"), kTitleCharsMax,
                                           true, "INVALID_TITLE");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateDisplayText(reward.description, Field(prefix, "description"),
                                           kDescriptionCharsMax, false, "INVALID_DESCRIPTION");
      !s.ok()) {
    return s;
  }
  if (reward.points_cost < 1 || reward.points_cost > kPointsCostMax) {
    return InvalidField(Field(prefix, "points_cost"), "INVALID_POINTS_COST",
                        absl::StrCat("must be in [1, ", kPointsCostMax, "]"));
  }
  if (reward.stock.has_value() && (*reward.stock < 0 || *reward.stock > kStockMax)) {
    return InvalidField(Field(prefix, "stock"), "INVALID_STOCK",
                        absl::StrCat("must be in [0, ", kStockMax, "] or unset (unlimited)"));
  }
  if (reward.limit_per_member < 0 || reward.limit_per_member > kLimitPerMemberMax ||
      static_cast<int>(reward.limit_period) < 0 || static_cast<int>(reward.limit_period) > 4 ||
      ((reward.limit_per_member > 0) != (reward.limit_period != LimitPeriod::kNone))) {
    return InvalidField(
        Field(prefix, "limit_per_member"), "INVALID_LIMIT",
        absl::StrCat("0-", kLimitPerMemberMax, ", and a limit_period exactly when it is not 0"));
  }
  if (!reward.min_tier.empty() &&
      (reward.min_tier.size() > kTierCodeLengthMax ||
       !std::all_of(reward.min_tier.begin(), reward.min_tier.end(), [](char c) {
         return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
       }))) {
    return InvalidField(Field(prefix, "min_tier"), "INVALID_TIER",
                        "a tier code: 1-32 characters of a-z, 0-9, '_' and '-'");
  }
  if (reward.start_time && reward.end_time && *reward.end_time <= *reward.start_time) {
    return InvalidField(Field(prefix, "end_time"), "INVALID_ACTIVE_WINDOW",
                        "must be after start_time");
  }
  if (reward.voucher_validity_days < 0 || reward.voucher_validity_days > kVoucherValidityDaysMax) {
    return InvalidField(Field(prefix, "voucher_validity_days"), "INVALID_VALIDITY",
                        absl::StrCat("must be in [0, ", kVoucherValidityDaysMax, "]"));
  }
  return ValidateTerms(reward, prefix);
}

bool IssuesVoucher(RewardKind kind) { return kind != RewardKind::kDonation; }

absl::Duration VoucherValidity(const Reward& reward) {
  const int32_t days = reward.voucher_validity_days == 0 ? kVoucherValidityDaysDefault
                                                         : reward.voucher_validity_days;
  return absl::Hours(24) * days;
}

std::string_view IneligibleReasonName(Ineligible reason) {
  switch (reason) {
    case Ineligible::kNone:
      return "";
    case Ineligible::kInsufficientPoints:
      return "INSUFFICIENT_POINTS";
    case Ineligible::kTierTooLow:
      return "TIER_TOO_LOW";
    case Ineligible::kOutOfStock:
      return "OUT_OF_STOCK";
    case Ineligible::kLimitReached:
      return "LIMIT_REACHED";
    case Ineligible::kNotActive:
      return "NOT_ACTIVE";
  }
  return "";
}

Eligibility CheckEligibility(const Reward& reward, const MemberFacts& member, absl::Time now) {
  if ((reward.start_time && now < *reward.start_time) ||
      (reward.end_time && now >= *reward.end_time)) {
    return {.reason = Ineligible::kNotActive};
  }
  if (reward.stock.has_value() && *reward.stock <= 0) return {.reason = Ineligible::kOutOfStock};
  if (member.min_tier_rank >= 0 && member.tier_rank < member.min_tier_rank) {
    return {.reason = Ineligible::kTierTooLow};
  }
  if (reward.limit_per_member > 0 && member.redemptions_in_period >= reward.limit_per_member) {
    return {.reason = Ineligible::kLimitReached};
  }
  if (member.available_points < reward.points_cost) {
    return {.reason = Ineligible::kInsufficientPoints,
            .points_missing = reward.points_cost - member.available_points};
  }
  return {};
}

absl::Status IneligibleError(const Eligibility& eligibility, std::string_view reward_id) {
  const std::string_view reason = IneligibleReasonName(eligibility.reason);
  ErrorMetadata metadata{{"reward", std::string(reward_id)}};
  if (eligibility.reason == Ineligible::kInsufficientPoints) {
    metadata["points_missing"] = std::to_string(eligibility.points_missing);
  }
  return ErrorWithReason(
      absl::StatusCode::kFailedPrecondition, reason,
      absl::StrCat("reward ", absl::string_view(reward_id.data(), reward_id.size()),
                   " cannot be redeemed: ", absl::string_view(reason.data(), reason.size())),
      metadata);
}

absl::Time LimitPeriodStart(LimitPeriod period, absl::Time now) {
  const absl::TimeZone utc = absl::UTCTimeZone();
  const absl::CivilDay day = absl::ToCivilDay(now, utc);
  switch (period) {
    case LimitPeriod::kDay:
      return absl::FromCivil(day, utc);
    case LimitPeriod::kMonth:
      return absl::FromCivil(absl::CivilMonth(day), utc);
    case LimitPeriod::kYear:
      return absl::FromCivil(absl::CivilYear(day), utc);
    case LimitPeriod::kNone:
    case LimitPeriod::kLifetime:
      break;
  }
  return absl::InfinitePast();
}

Valuation ValueFor(const VoucherTerms& terms, int64_t balance_minor, int64_t order_total_minor) {
  const int64_t total = std::max<int64_t>(order_total_minor, 0);
  Valuation value;
  switch (terms.kind) {
    case RewardKind::kDiscountFixed:
      value.discount_minor = std::min(terms.amount_minor, total);
      break;
    case RewardKind::kDiscountPercent: {
      // 128 bits: total * percent may not fit in 64.
      const absl::int128 off = absl::int128(total) * terms.percent / 100;
      value.discount_minor = static_cast<int64_t>(off);
      if (terms.cap_minor > 0)
        value.discount_minor = std::min(value.discount_minor, terms.cap_minor);
      break;
    }
    case RewardKind::kGiftCard:
      value.discount_minor = std::min(balance_minor, total);
      break;
    case RewardKind::kFreeShipping:
      value.free_shipping = true;
      value.discount_minor = terms.amount_minor;
      break;
    case RewardKind::kFreeProduct:
      value.sku = terms.sku;
      break;
    case RewardKind::kUnspecified:
    case RewardKind::kExperience:
    case RewardKind::kDonation:
      break;
  }
  return value;
}

}  // namespace loyalty::rewards
