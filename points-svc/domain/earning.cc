#include "points-svc/domain/earning.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "common/check.h"
#include "common/status/error.h"
#include "common/status/macros.h"
#include "common/validation/text.h"

namespace loyalty::points {
namespace {

// 128 bits hold every intermediate product the limits allow (the largest, a line's amount times
// the order total times the rate times 1000, stays below 10^33); __extension__ keeps -Wpedantic
// quiet about the GCC/Clang builtin.
__extension__ using Int128 = __int128;

constexpr std::string_view kRulesReason = "INVALID_EARNING_RULES";
constexpr std::string_view kPurchaseReason = "INVALID_PURCHASE";
constexpr int64_t kMilli = 1000;

absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// "<prefix>.<field>", or just the field under an empty prefix.
std::string FieldPath(std::string_view prefix, std::string_view field) {
  if (prefix.empty()) return std::string(field);
  return absl::StrCat(Absl(prefix), ".", Absl(field));
}

std::string Indexed(std::string_view path, size_t index) {
  return absl::StrCat(Absl(path), "[", index, "]");
}

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// ^[a-z0-9][a-z0-9_-]{0,max_length-1}$
bool IsSlug(std::string_view s, size_t max_length) {
  if (s.empty() || s.size() > max_length || !IsLowerAlnum(s.front())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return IsLowerAlnum(c) || c == '_' || c == '-'; });
}

bool IsKey(std::string_view key) { return !key.empty() && key.size() <= kRuleKeyLengthMax; }

bool IsFinite(absl::Time t) { return t != absl::InfiniteFuture() && t != absl::InfinitePast(); }

std::string_view ActivityTypeName(ActivityType type) {
  switch (type) {
    case ActivityType::kReview:
      return "REVIEW";
    case ActivityType::kSocialFollow:
      return "SOCIAL_FOLLOW";
    case ActivityType::kAppInstall:
      return "APP_INSTALL";
    case ActivityType::kBirthday:
      return "BIRTHDAY";
    case ActivityType::kNewsletterSignup:
      return "NEWSLETTER_SIGNUP";
    case ActivityType::kReferral:
      return "REFERRAL";
    case ActivityType::kCustom:
      return "CUSTOM";
  }
  return "";  // a value from outside the enum: not a known type
}

std::string_view ActivityDescription(ActivityType type) {
  switch (type) {
    case ActivityType::kReview:
      return "Product review";
    case ActivityType::kSocialFollow:
      return "Social media follow";
    case ActivityType::kAppInstall:
      return "App install";
    case ActivityType::kBirthday:
      return "Happy birthday";
    case ActivityType::kNewsletterSignup:
      return "Newsletter signup";
    case ActivityType::kReferral:
      return "Referral of a new member";
    case ActivityType::kCustom:
      return "";
  }
  return "";
}

std::string_view LimitPeriodName(LimitPeriod period) {
  switch (period) {
    case LimitPeriod::kNone:
      return "LIMIT_PERIOD_UNSPECIFIED";
    case LimitPeriod::kDay:
      return "LIMIT_PERIOD_DAY";
    case LimitPeriod::kMonth:
      return "LIMIT_PERIOD_MONTH";
    case LimitPeriod::kYear:
      return "LIMIT_PERIOD_YEAR";
    case LimitPeriod::kLifetime:
      return "LIMIT_PERIOD_LIFETIME";
  }
  return "";
}

// "per month", for messages.
std::string_view LimitPeriodWords(LimitPeriod period) {
  switch (period) {
    case LimitPeriod::kDay:
      return "per UTC day";
    case LimitPeriod::kMonth:
      return "per calendar month";
    case LimitPeriod::kYear:
      return "per calendar year";
    case LimitPeriod::kNone:
    case LimitPeriod::kLifetime:
      break;
  }
  return "in all";
}

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// --- Validation ----------------------------------------------------------------------------

absl::Status InvalidRules(const std::string& field, std::string_view description) {
  return InvalidField(field, kRulesReason, description);
}

absl::Status ValidateMultipliers(const std::vector<RateMultiplier>& multipliers,
                                 const std::string& path) {
  if (multipliers.size() > kMultipliersMax) {
    return InvalidRules(path, absl::StrCat("at most ", kMultipliersMax, " multipliers"));
  }
  std::set<std::string_view> keys;
  for (size_t i = 0; i < multipliers.size(); ++i) {
    const std::string item = Indexed(path, i);
    if (!IsKey(multipliers[i].key)) {
      return InvalidRules(item + ".key", absl::StrCat("must be 1-", kRuleKeyLengthMax, " bytes"));
    }
    if (!keys.insert(multipliers[i].key).second) {
      return InvalidRules(item + ".key", "keys must be unique in the list");
    }
    if (multipliers[i].percent < 0 || multipliers[i].percent > kMultiplierPercentMax) {
      return InvalidRules(item + ".percent",
                          absl::StrCat("must be in [0, ", kMultiplierPercentMax, "]"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateCampaign(const Campaign& campaign, const std::string& path) {
  if (!IsSlug(campaign.id, kCampaignIdLengthMax)) {
    return InvalidRules(path + ".id", "must match ^[a-z0-9][a-z0-9_-]{0,63}$");
  }
  const std::optional<size_t> name_chars = DisplayTextChars(campaign.name);
  if (!name_chars.has_value() || *name_chars < 1 || *name_chars > kCampaignNameCharsMax ||
      campaign.name.find_first_not_of(' ') == std::string::npos) {
    return InvalidRules(path + ".name",
                        absl::StrCat("must be 1-", kCampaignNameCharsMax,
                                     " characters of UTF-8 text without control characters"));
  }
  if (!IsFinite(campaign.start)) return InvalidRules(path + ".start_time", "must be finite");
  if (!IsFinite(campaign.end)) return InvalidRules(path + ".end_time", "must be finite");
  if (campaign.end <= campaign.start) {
    return InvalidRules(path + ".end_time", "must be after start_time");
  }
  if (campaign.multiplier_percent != 0 &&
      (campaign.multiplier_percent < kCampaignMultiplierPercentMin ||
       campaign.multiplier_percent > kCampaignMultiplierPercentMax)) {
    return InvalidRules(path + ".multiplier_percent",
                        absl::StrCat("must be 0 (none) or in [", kCampaignMultiplierPercentMin,
                                     ", ", kCampaignMultiplierPercentMax, "]"));
  }
  if (campaign.bonus_points < 0 || campaign.bonus_points > kCampaignBonusPointsMax) {
    return InvalidRules(path + ".bonus_points",
                        absl::StrCat("must be in [0, ", kCampaignBonusPointsMax, "]"));
  }
  const std::string categories = path + ".categories";
  if (campaign.categories.size() > kCampaignCategoriesMax) {
    return InvalidRules(categories,
                        absl::StrCat("at most ", kCampaignCategoriesMax, " categories"));
  }
  for (size_t i = 0; i < campaign.categories.size(); ++i) {
    if (!IsKey(campaign.categories[i])) {
      return InvalidRules(Indexed(categories, i),
                          absl::StrCat("must be 1-", kRuleKeyLengthMax, " bytes"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateActivityRule(const ActivityRule& rule, const std::string& path) {
  if (ActivityTypeName(rule.type).empty()) {
    return InvalidRules(path + ".type", "must be a known activity type");
  }
  if (rule.type == ActivityType::kCustom) {
    if (!IsSlug(rule.custom_name, kCustomActivityNameLengthMax)) {
      return InvalidRules(path + ".custom_name",
                          "CUSTOM needs a name matching ^[a-z0-9][a-z0-9_-]{0,63}$");
    }
  } else if (!rule.custom_name.empty()) {
    return InvalidRules(path + ".custom_name", "only CUSTOM activities have a name");
  }
  if (rule.points < 1 || rule.points > kActivityPointsMax) {
    return InvalidRules(path + ".points", absl::StrCat("must be in [1, ", kActivityPointsMax, "]"));
  }
  if (rule.limit_count < 0 || rule.limit_count > kActivityLimitCountMax) {
    return InvalidRules(path + ".limit_count",
                        absl::StrCat("must be in [0, ", kActivityLimitCountMax, "]"));
  }
  if (LimitPeriodName(rule.limit_period).empty()) {
    return InvalidRules(path + ".limit_period", "must be a known limit period");
  }
  if (rule.limit_count > 0 && rule.limit_period == LimitPeriod::kNone) {
    return InvalidRules(path + ".limit_period", "a limit_count needs a period");
  }
  return absl::OkStatus();
}

absl::Status ValidateKeyList(const std::vector<std::string>& keys, const std::string& path,
                             size_t max_size) {
  if (keys.size() > max_size)
    return InvalidRules(path, absl::StrCat("at most ", max_size, " entries"));
  for (size_t i = 0; i < keys.size(); ++i) {
    if (!IsKey(keys[i])) {
      return InvalidRules(Indexed(path, i),
                          absl::StrCat("must be 1-", kRuleKeyLengthMax, " bytes"));
    }
  }
  return absl::OkStatus();
}

// --- Purchase evaluation -------------------------------------------------------------------

// "2x", "1.5x", "1.25x", "0x": multipliers as members read them.
std::string MultiplierText(int32_t percent) {
  std::string text = absl::StrCat(percent / 100);
  if (int32_t fraction = percent % 100; fraction != 0) {
    absl::StrAppend(&text, ".", fraction / 10);
    if (fraction % 10 != 0) absl::StrAppend(&text, fraction % 10);
  }
  return text + "x";
}

std::string PointsText(int64_t points) {
  return absl::StrCat(points, points == 1 ? " point" : " points");
}

// A breakdown item still in millipoints.
struct MilliItem {
  std::string rule;
  std::string description;
  Int128 milli = 0;
};

// Exact points of `milli` rounded toward zero (C++ integer division truncates).
int64_t TruncatedPoints(Int128 milli) { return static_cast<int64_t>(milli / kMilli); }

// The bounds the 128-bit arithmetic relies on; both validators guarantee more.
void CheckArithmeticBounds(const EarningRules& rules, const Purchase& purchase) {
  LOYALTY_CHECK(rules.points_per_currency_unit >= 0 &&
                rules.points_per_currency_unit <= kPointsPerCurrencyUnitMax);
  LOYALTY_CHECK(rules.minor_units_per_unit >= kMinorUnitsPerUnitMin &&
                rules.minor_units_per_unit <= kMinorUnitsPerUnitMax);
  for (const auto* list : {&rules.category_multipliers, &rules.sku_multipliers}) {
    for (const RateMultiplier& m : *list) {
      LOYALTY_CHECK(m.percent >= 0 && m.percent <= kMultiplierPercentMax);
    }
  }
  LOYALTY_CHECK(rules.campaigns.size() <= kCampaignsMax);
  for (const Campaign& c : rules.campaigns) {
    LOYALTY_CHECK(c.multiplier_percent >= 0 &&
                  c.multiplier_percent <= kCampaignMultiplierPercentMax);
    LOYALTY_CHECK(c.bonus_points >= 0 && c.bonus_points <= kCampaignBonusPointsMax);
  }
  LOYALTY_CHECK(purchase.total_minor >= 0 && purchase.total_minor <= kPurchaseTotalMinorMax);
  LOYALTY_CHECK(purchase.lines.size() <= kPurchaseLinesMax);
  for (const PurchaseLine& line : purchase.lines) {
    LOYALTY_CHECK(line.quantity >= 1 && line.quantity <= kLineQuantityMax);
    LOYALTY_CHECK(line.unit_price_minor >= 0 && line.unit_price_minor <= kUnitPriceMinorMax);
  }
}

// Applies a cap: takes away what is above the room left and says so in the breakdown.
void ApplyCap(int64_t cap, int64_t earned, std::string_view rule, std::string_view period,
              Evaluation& evaluation) {
  if (cap <= 0) return;
  const int64_t room = std::max<int64_t>(0, cap - std::max<int64_t>(0, earned));
  if (evaluation.points <= room) return;
  evaluation.breakdown.push_back(BreakdownItem{
      .rule = std::string(rule),
      .description =
          absl::StrCat(Absl(period), " limit of ", PointsText(cap), " from purchases reached"),
      .points = room - evaluation.points});
  evaluation.points = room;
}

}  // namespace

EarningRules DefaultEarningRules() {
  EarningRules rules;
  rules.activity_rules = {
      {.type = ActivityType::kReview,
       .points = 50,
       .limit_count = 5,
       .limit_period = LimitPeriod::kMonth},
      {.type = ActivityType::kSocialFollow,
       .points = 25,
       .limit_count = 3,
       .limit_period = LimitPeriod::kLifetime},
      {.type = ActivityType::kAppInstall,
       .points = 100,
       .limit_count = 1,
       .limit_period = LimitPeriod::kLifetime},
      {.type = ActivityType::kBirthday,
       .points = 200,
       .limit_count = 1,
       .limit_period = LimitPeriod::kYear},
      {.type = ActivityType::kNewsletterSignup,
       .points = 50,
       .limit_count = 1,
       .limit_period = LimitPeriod::kLifetime},
      {.type = ActivityType::kReferral,
       .points = 500,
       .limit_count = 20,
       .limit_period = LimitPeriod::kYear},
  };
  return rules;
}

absl::Status ValidateEarningRules(const EarningRules& rules, std::string_view field_prefix) {
  auto path = [field_prefix](std::string_view field) { return FieldPath(field_prefix, field); };
  if (rules.points_per_currency_unit < 0 ||
      rules.points_per_currency_unit > kPointsPerCurrencyUnitMax) {
    return InvalidRules(path("points_per_currency_unit"),
                        absl::StrCat("must be in [0, ", kPointsPerCurrencyUnitMax, "]"));
  }
  if (rules.minor_units_per_unit < kMinorUnitsPerUnitMin ||
      rules.minor_units_per_unit > kMinorUnitsPerUnitMax) {
    return InvalidRules(
        path("minor_units_per_unit"),
        absl::StrCat("must be in [", kMinorUnitsPerUnitMin, ", ", kMinorUnitsPerUnitMax, "]"));
  }
  LOYALTY_RETURN_IF_ERROR(
      ValidateMultipliers(rules.category_multipliers, path("category_multipliers")));
  LOYALTY_RETURN_IF_ERROR(ValidateMultipliers(rules.sku_multipliers, path("sku_multipliers")));
  const std::string campaigns = path("campaigns");
  if (rules.campaigns.size() > kCampaignsMax) {
    return InvalidRules(campaigns, absl::StrCat("at most ", kCampaignsMax, " campaigns"));
  }
  std::set<std::string_view> campaign_ids;
  for (size_t i = 0; i < rules.campaigns.size(); ++i) {
    const std::string item = Indexed(campaigns, i);
    LOYALTY_RETURN_IF_ERROR(ValidateCampaign(rules.campaigns[i], item));
    if (!campaign_ids.insert(rules.campaigns[i].id).second) {
      return InvalidRules(item + ".id", "campaign ids must be unique");
    }
  }
  if (rules.min_order_minor < 0 || rules.min_order_minor > kMinOrderMinorMax) {
    return InvalidRules(path("min_order_minor"),
                        absl::StrCat("must be in [0, ", kMinOrderMinorMax, "]"));
  }
  if (rules.cap_points_per_day < 0 || rules.cap_points_per_day > kCapPointsMax) {
    return InvalidRules(path("cap_points_per_day"),
                        absl::StrCat("must be in [0, ", kCapPointsMax, "]"));
  }
  if (rules.cap_points_per_month < 0 || rules.cap_points_per_month > kCapPointsMax) {
    return InvalidRules(path("cap_points_per_month"),
                        absl::StrCat("must be in [0, ", kCapPointsMax, "]"));
  }
  const std::string activity_rules = path("activity_rules");
  if (rules.activity_rules.size() > kActivityRulesMax) {
    return InvalidRules(activity_rules,
                        absl::StrCat("at most ", kActivityRulesMax, " activity rules"));
  }
  std::set<std::pair<ActivityType, std::string_view>> activities;
  for (size_t i = 0; i < rules.activity_rules.size(); ++i) {
    const ActivityRule& rule = rules.activity_rules[i];
    const std::string item = Indexed(activity_rules, i);
    LOYALTY_RETURN_IF_ERROR(ValidateActivityRule(rule, item));
    if (!activities.emplace(rule.type, rule.custom_name).second) {
      return InvalidRules(item + (rule.type == ActivityType::kCustom ? ".custom_name" : ".type"),
                          "at most one rule per activity");
    }
  }
  LOYALTY_RETURN_IF_ERROR(
      ValidateKeyList(rules.excluded_categories, path("excluded_categories"), kExclusionsMax));
  LOYALTY_RETURN_IF_ERROR(
      ValidateKeyList(rules.excluded_skus, path("excluded_skus"), kExclusionsMax));
  if (rules.pending_days < 0 || rules.pending_days > kPendingDaysMax) {
    return InvalidRules(path("pending_days"),
                        absl::StrCat("must be in [0, ", kPendingDaysMax, "]"));
  }
  if (rules.expiry_months < 0 || rules.expiry_months > kExpiryMonthsMax) {
    return InvalidRules(path("expiry_months"),
                        absl::StrCat("must be in [0, ", kExpiryMonthsMax, "] (0: never)"));
  }
  return absl::OkStatus();
}

absl::Status ValidatePurchase(const Purchase& purchase) {
  if (purchase.total_minor < 0 || purchase.total_minor > kPurchaseTotalMinorMax) {
    return InvalidField("total_minor", kPurchaseReason,
                        absl::StrCat("must be in [0, ", kPurchaseTotalMinorMax, "]"));
  }
  if (purchase.lines.size() > kPurchaseLinesMax) {
    return InvalidField("lines", kPurchaseReason,
                        absl::StrCat("at most ", kPurchaseLinesMax, " lines"));
  }
  for (size_t i = 0; i < purchase.lines.size(); ++i) {
    const PurchaseLine& line = purchase.lines[i];
    const std::string item = Indexed("lines", i);
    if (line.sku.empty() || line.sku.size() > kSkuLengthMax) {
      return InvalidField(item + ".sku", kPurchaseReason,
                          absl::StrCat("must be 1-", kSkuLengthMax, " bytes"));
    }
    if (line.category.size() > kCategoryLengthMax) {
      return InvalidField(item + ".category", kPurchaseReason,
                          absl::StrCat("must be at most ", kCategoryLengthMax, " bytes"));
    }
    if (line.quantity < 1 || line.quantity > kLineQuantityMax) {
      return InvalidField(item + ".quantity", kPurchaseReason,
                          absl::StrCat("must be in [1, ", kLineQuantityMax, "]"));
    }
    if (line.unit_price_minor < 0 || line.unit_price_minor > kUnitPriceMinorMax) {
      return InvalidField(item + ".unit_price_minor", kPurchaseReason,
                          absl::StrCat("must be in [0, ", kUnitPriceMinorMax, "]"));
    }
  }
  return absl::OkStatus();
}

Evaluation EvaluatePurchase(const EarningRules& rules, const Purchase& purchase,
                            const MemberEarnContext& member) {
  CheckArithmeticBounds(rules, purchase);
  if (purchase.total_minor < rules.min_order_minor) {
    return Evaluation{
        .points = 0,
        .breakdown = {{.rule = "minimum_order",
                       .description = "Orders below the minimum order value earn no points",
                       .points = 0}}};
  }

  // Point 2: without lines the whole total is one line.
  const std::vector<PurchaseLine> implicit_lines = {
      {.sku = "", .category = "", .quantity = 1, .unit_price_minor = purchase.total_minor}};
  const std::vector<PurchaseLine>& lines = purchase.lines.empty() ? implicit_lines : purchase.lines;

  // At most 500 lines of 10^14 each: the sum fits comfortably in 64 bits.
  int64_t amount_sum = 0;
  for (const PurchaseLine& line : lines) amount_sum += line.quantity * line.unit_price_minor;
  const int64_t paid_sum = std::min(purchase.total_minor, amount_sum);

  std::unordered_set<std::string_view> excluded_categories(rules.excluded_categories.begin(),
                                                           rules.excluded_categories.end());
  std::unordered_set<std::string_view> excluded_skus(rules.excluded_skus.begin(),
                                                     rules.excluded_skus.end());
  std::unordered_map<std::string_view, int32_t> category_percent;
  for (const RateMultiplier& m : rules.category_multipliers)
    category_percent.emplace(m.key, m.percent);
  std::unordered_map<std::string_view, int32_t> sku_percent;
  for (const RateMultiplier& m : rules.sku_multipliers) sku_percent.emplace(m.key, m.percent);
  const int32_t tier_percent =
      rules.apply_tier_multiplier ? std::clamp(member.tier_multiplier_percent,
                                               kTierMultiplierPercentMin, kTierMultiplierPercentMax)
                                  : 100;

  Int128 base_milli = 0;
  Int128 tier_milli = 0;
  std::vector<MilliItem> multiplier_items;
  std::unordered_map<std::string, size_t> multiplier_index;
  std::vector<MilliItem> exclusion_items;  // one per distinct key, in line order
  std::vector<bool> eligible(lines.size(), false);
  std::vector<Int128> pre_campaign_milli(lines.size(), 0);  // per line, for campaign scopes

  for (size_t i = 0; i < lines.size(); ++i) {
    const PurchaseLine& line = lines[i];
    const bool category_excluded = excluded_categories.contains(line.category);
    if (category_excluded || excluded_skus.contains(line.sku)) {
      std::string rule = absl::StrCat("excluded:", category_excluded ? line.category : line.sku);
      if (std::none_of(exclusion_items.begin(), exclusion_items.end(),
                       [&](const MilliItem& item) { return item.rule == rule; })) {
        exclusion_items.push_back(MilliItem{
            .rule = std::move(rule),
            .description = category_excluded
                               ? absl::StrCat("Category ", line.category, " earns no points")
                               : absl::StrCat("Product ", line.sku, " earns no points"),
            .milli = 0});
      }
      continue;
    }
    eligible[i] = true;
    // paid_i = amount_i * paid_sum / amount_sum, turned into millipoints in one exact division.
    const Int128 amount = static_cast<Int128>(line.quantity) * line.unit_price_minor;
    const Int128 base = amount_sum == 0
                            ? 0
                            : amount * paid_sum * rules.points_per_currency_unit * kMilli /
                                  (static_cast<Int128>(amount_sum) * rules.minor_units_per_unit);
    base_milli += base;

    Int128 line_milli = base;
    std::string multiplier_rule;
    std::string multiplier_description;
    int32_t percent = 100;
    if (auto sku = sku_percent.find(line.sku); sku != sku_percent.end()) {
      percent = sku->second;
      multiplier_rule = absl::StrCat("sku:", line.sku);
      multiplier_description =
          absl::StrCat("Product ", line.sku, ": ", MultiplierText(percent), " points");
    } else if (auto category = category_percent.find(line.category);
               category != category_percent.end()) {
      percent = category->second;
      multiplier_rule = absl::StrCat("category:", line.category);
      multiplier_description =
          absl::StrCat("Category ", line.category, ": ", MultiplierText(percent), " points");
    }
    if (!multiplier_rule.empty()) {
      // Truncates toward zero, so a percent below 100 never takes more than the line's base.
      const Int128 extra = base * (percent - 100) / 100;
      line_milli += extra;
      auto [it, inserted] = multiplier_index.emplace(multiplier_rule, multiplier_items.size());
      if (inserted) {
        multiplier_items.push_back(MilliItem{.rule = std::move(multiplier_rule),
                                             .description = std::move(multiplier_description),
                                             .milli = 0});
      }
      multiplier_items[it->second].milli += extra;
    }
    // Per line, so that campaigns scoped to categories see the tier's share of their lines.
    const Int128 tier_extra = line_milli * (tier_percent - 100) / 100;
    tier_milli += tier_extra;
    pre_campaign_milli[i] = line_milli + tier_extra;
  }

  std::vector<MilliItem> campaign_items;
  for (const Campaign& campaign : rules.campaigns) {
    if (purchase.occur_time < campaign.start || purchase.occur_time >= campaign.end) continue;
    Int128 scoped_milli = 0;
    bool any_in_scope = false;
    for (size_t i = 0; i < lines.size(); ++i) {
      if (!eligible[i]) continue;
      if (!campaign.categories.empty() &&
          std::find(campaign.categories.begin(), campaign.categories.end(), lines[i].category) ==
              campaign.categories.end()) {
        continue;
      }
      any_in_scope = true;
      scoped_milli += pre_campaign_milli[i];
    }
    if (campaign.multiplier_percent != 0 && campaign.multiplier_percent != 100) {
      campaign_items.push_back(MilliItem{
          .rule = absl::StrCat("campaign:", campaign.id),
          .description = absl::StrCat(campaign.name, ": ",
                                      MultiplierText(campaign.multiplier_percent), " points"),
          .milli = scoped_milli * (campaign.multiplier_percent - 100) / 100});
    }
    if (campaign.bonus_points > 0 && any_in_scope) {
      campaign_items.push_back(
          MilliItem{.rule = absl::StrCat("campaign_bonus:", campaign.id),
                    .description = absl::StrCat(campaign.name, ": bonus points"),
                    .milli = static_cast<Int128>(campaign.bonus_points) * kMilli});
    }
  }

  // The non-base items, in breakdown order.
  std::vector<MilliItem> others = std::move(multiplier_items);
  if (tier_milli != 0) {
    others.push_back(MilliItem{
        .rule = "tier",
        .description = absl::StrCat("Tier bonus: ", MultiplierText(tier_percent), " points"),
        .milli = tier_milli});
  }
  for (MilliItem& item : campaign_items) others.push_back(std::move(item));

  Int128 sum_milli = base_milli;
  for (const MilliItem& item : others) sum_milli += item.milli;
  // Every line's subtotal is >= 0 (see the truncation above) and every later rule only adds.
  LOYALTY_CHECK(sum_milli >= 0);
  const Int128 total = sum_milli / kMilli;

  Evaluation evaluation;
  if (total > kPurchasePointsMax) {
    evaluation.points = kPurchasePointsMax;
    evaluation.breakdown.push_back(BreakdownItem{
        .rule = "cap:purchase",
        .description = absl::StrCat("At most ", PointsText(kPurchasePointsMax), " per purchase"),
        .points = kPurchasePointsMax});
  } else {
    // Each item fits in 64 bits: a negative one is at least minus the base (<= 10^15 points),
    // and the positive ones add up to at most the total (<= 10^12) minus the negative ones.
    evaluation.points = static_cast<int64_t>(total);
    int64_t others_points = 0;
    for (const MilliItem& item : others) others_points += TruncatedPoints(item.milli);
    const int64_t base_points = evaluation.points - others_points;
    LOYALTY_CHECK(base_points >= 0);
    if (base_points != 0) {
      evaluation.breakdown.push_back(BreakdownItem{
          .rule = "base",
          .description =
              absl::StrCat(PointsText(rules.points_per_currency_unit), " per currency unit spent"),
          .points = base_points});
    }
    for (const MilliItem& item : others) {
      if (const int64_t points = TruncatedPoints(item.milli); points != 0) {
        evaluation.breakdown.push_back(
            BreakdownItem{.rule = item.rule, .description = item.description, .points = points});
      }
    }
  }
  for (MilliItem& item : exclusion_items) {
    evaluation.breakdown.push_back(BreakdownItem{
        .rule = std::move(item.rule), .description = std::move(item.description), .points = 0});
  }

  ApplyCap(rules.cap_points_per_day, member.earned_today, "cap:day", "Daily", evaluation);
  ApplyCap(rules.cap_points_per_month, member.earned_this_month, "cap:month", "Monthly",
           evaluation);
  return evaluation;
}

absl::StatusOr<ActivityRule> FindActivityRule(const EarningRules& rules, ActivityType type,
                                              std::string_view custom_name) {
  for (const ActivityRule& rule : rules.activity_rules) {
    if (rule.type == type && rule.custom_name == custom_name) return rule;
  }
  // The proto enum's value name, or the number of a value outside it.
  const std::string type_name = ActivityTypeName(type).empty()
                                    ? absl::StrCat(static_cast<int>(type))
                                    : absl::StrCat("ACTIVITY_TYPE_", Absl(ActivityTypeName(type)));
  std::string message = absl::StrCat("the program awards no points for activity ", type_name);
  if (!custom_name.empty()) absl::StrAppend(&message, " '", Absl(custom_name), "'");
  return ErrorWithReason(absl::StatusCode::kFailedPrecondition, "ACTIVITY_NOT_CONFIGURED", message,
                         {{"type", type_name}, {"custom_name", std::string(custom_name)}});
}

absl::Time LimitPeriodStart(LimitPeriod period, absl::Time t) {
  if (!IsFinite(t)) return t;
  const absl::TimeZone utc = absl::UTCTimeZone();
  switch (period) {
    case LimitPeriod::kDay:
      return absl::FromCivil(absl::ToCivilDay(t, utc), utc);
    case LimitPeriod::kMonth:
      return absl::FromCivil(absl::ToCivilMonth(t, utc), utc);
    case LimitPeriod::kYear:
      return absl::FromCivil(absl::ToCivilYear(t, utc), utc);
    case LimitPeriod::kNone:
    case LimitPeriod::kLifetime:
      break;
  }
  return absl::InfinitePast();
}

absl::StatusOr<Evaluation> EvaluateActivity(const ActivityRule& rule, int64_t awards_in_period) {
  LOYALTY_CHECK(rule.points >= 0);
  if (rule.limit_count > 0 && awards_in_period >= rule.limit_count) {
    return ErrorWithReason(
        absl::StatusCode::kFailedPrecondition, "ACTIVITY_LIMIT_REACHED",
        absl::StrCat("the member reached the limit of ", rule.limit_count, " awards ",
                     Absl(LimitPeriodWords(rule.limit_period)), " for this activity"),
        {{"limit", absl::StrCat(rule.limit_count)},
         {"period", std::string(LimitPeriodName(rule.limit_period))}});
  }
  const bool custom = rule.type == ActivityType::kCustom;
  return Evaluation{
      .points = rule.points,
      .breakdown = {BreakdownItem{
          .rule = custom ? absl::StrCat("activity:custom:", rule.custom_name)
                         : absl::StrCat("activity:", AsciiLower(ActivityTypeName(rule.type))),
          .description = custom ? rule.custom_name : std::string(ActivityDescription(rule.type)),
          .points = rule.points}}};
}

int64_t RefundPoints(int64_t earned_points, int64_t order_total_minor,
                     int64_t refunded_minor_before, int64_t reversed_points_before,
                     int64_t refund_minor) {
  LOYALTY_CHECK(earned_points >= 0 && order_total_minor >= 0);
  LOYALTY_CHECK(refunded_minor_before >= 0 && refund_minor >= 0);
  LOYALTY_CHECK(refund_minor <= order_total_minor - refunded_minor_before);
  LOYALTY_CHECK(reversed_points_before >= 0 && reversed_points_before <= earned_points);
  const int64_t refunded = refunded_minor_before + refund_minor;
  if (refunded == order_total_minor) return earned_points - reversed_points_before;
  const auto due =
      static_cast<int64_t>(static_cast<Int128>(earned_points) * refunded / order_total_minor);
  // Earlier reversals computed another way may already be ahead: never give points back here.
  return std::max<int64_t>(0, due - reversed_points_before);
}

}  // namespace loyalty::points
