#include "points-svc/rpc/convert.h"

#include "common/rpc/proto_time.h"
#include "common/status/macros.h"

namespace loyalty::points {
namespace {

std::vector<RateMultiplier> ParseMultipliers(
    const google::protobuf::RepeatedPtrField<v1::RateMultiplier>& proto) {
  std::vector<RateMultiplier> out;
  for (const v1::RateMultiplier& m : proto) out.push_back({.key = m.key(), .percent = m.percent()});
  return out;
}

void MultipliersToProto(const std::vector<RateMultiplier>& multipliers,
                        google::protobuf::RepeatedPtrField<v1::RateMultiplier>* out) {
  for (const RateMultiplier& m : multipliers) {
    v1::RateMultiplier* proto = out->Add();
    proto->set_key(m.key);
    proto->set_percent(m.percent);
  }
}

}  // namespace

absl::StatusOr<EarningRules> ParseEarningRules(const v1::EarningRules& proto) {
  EarningRules rules;
  rules.points_per_currency_unit = proto.points_per_currency_unit();
  rules.minor_units_per_unit =
      proto.minor_units_per_unit() == 0 ? 100 : proto.minor_units_per_unit();
  rules.category_multipliers = ParseMultipliers(proto.category_multipliers());
  rules.sku_multipliers = ParseMultipliers(proto.sku_multipliers());
  for (int i = 0; i < proto.campaigns_size(); ++i) {
    const v1::Campaign& c = proto.campaigns(i);
    const std::string field = "rules.campaigns[" + std::to_string(i) + "]";
    LOYALTY_ASSIGN_OR_RETURN(absl::Time start,
                             ParseTimestamp(c.start_time(), field + ".start_time"));
    LOYALTY_ASSIGN_OR_RETURN(absl::Time end, ParseTimestamp(c.end_time(), field + ".end_time"));
    rules.campaigns.push_back(Campaign{
        .id = c.id(),
        .name = c.name(),
        .start = start,
        .end = end,
        .multiplier_percent = c.multiplier_percent(),
        .bonus_points = c.bonus_points(),
        .categories = std::vector<std::string>(c.categories().begin(), c.categories().end())});
  }
  rules.min_order_minor = proto.min_order_minor();
  rules.cap_points_per_day = proto.cap_points_per_day();
  rules.cap_points_per_month = proto.cap_points_per_month();
  rules.activity_rules.clear();
  for (const v1::ActivityRule& a : proto.activity_rules()) {
    rules.activity_rules.push_back(
        ActivityRule{.type = static_cast<ActivityType>(a.type()),
                     .custom_name = a.custom_name(),
                     .points = a.points(),
                     .limit_count = a.limit_count(),
                     .limit_period = static_cast<LimitPeriod>(a.limit_period())});
  }
  rules.excluded_categories.assign(proto.excluded_categories().begin(),
                                   proto.excluded_categories().end());
  rules.excluded_skus.assign(proto.excluded_skus().begin(), proto.excluded_skus().end());
  rules.pending_days = proto.pending_days();
  rules.expiry_months = proto.expiry_months();
  rules.apply_tier_multiplier = proto.apply_tier_multiplier();
  LOYALTY_RETURN_IF_ERROR(ValidateEarningRules(rules, "rules"));
  return rules;
}

v1::EarningRules ToProto(const EarningRules& rules) {
  v1::EarningRules proto;
  proto.set_points_per_currency_unit(rules.points_per_currency_unit);
  proto.set_minor_units_per_unit(rules.minor_units_per_unit);
  MultipliersToProto(rules.category_multipliers, proto.mutable_category_multipliers());
  MultipliersToProto(rules.sku_multipliers, proto.mutable_sku_multipliers());
  for (const Campaign& c : rules.campaigns) {
    v1::Campaign* out = proto.add_campaigns();
    out->set_id(c.id);
    out->set_name(c.name);
    *out->mutable_start_time() = ToTimestamp(c.start);
    *out->mutable_end_time() = ToTimestamp(c.end);
    out->set_multiplier_percent(c.multiplier_percent);
    out->set_bonus_points(c.bonus_points);
    for (const std::string& category : c.categories) out->add_categories(category);
  }
  proto.set_min_order_minor(rules.min_order_minor);
  proto.set_cap_points_per_day(rules.cap_points_per_day);
  proto.set_cap_points_per_month(rules.cap_points_per_month);
  for (const ActivityRule& a : rules.activity_rules) {
    v1::ActivityRule* out = proto.add_activity_rules();
    out->set_type(static_cast<v1::ActivityType>(a.type));
    out->set_custom_name(a.custom_name);
    out->set_points(a.points);
    out->set_limit_count(a.limit_count);
    out->set_limit_period(static_cast<v1::LimitPeriod>(a.limit_period));
  }
  for (const std::string& c : rules.excluded_categories) proto.add_excluded_categories(c);
  for (const std::string& s : rules.excluded_skus) proto.add_excluded_skus(s);
  proto.set_pending_days(rules.pending_days);
  proto.set_expiry_months(rules.expiry_months);
  proto.set_apply_tier_multiplier(rules.apply_tier_multiplier);
  return proto;
}

absl::StatusOr<Purchase> ParsePurchase(
    int64_t total_minor, const google::protobuf::RepeatedPtrField<v1::PurchaseLine>& lines,
    const google::protobuf::Timestamp* occur_time, absl::Time now) {
  Purchase purchase{.total_minor = total_minor, .lines = {}, .occur_time = now};
  if (occur_time != nullptr) {
    LOYALTY_ASSIGN_OR_RETURN(purchase.occur_time, ParseTimestamp(*occur_time, "occur_time"));
  }
  for (const v1::PurchaseLine& line : lines) {
    purchase.lines.push_back(PurchaseLine{.sku = line.sku(),
                                          .category = line.category(),
                                          .quantity = line.quantity(),
                                          .unit_price_minor = line.unit_price_minor()});
  }
  LOYALTY_RETURN_IF_ERROR(ValidatePurchase(purchase));
  return purchase;
}

void AppendBreakdown(const std::vector<BreakdownItem>& items,
                     google::protobuf::RepeatedPtrField<v1::EarnBreakdownItem>* out) {
  for (const BreakdownItem& item : items) {
    v1::EarnBreakdownItem* proto = out->Add();
    proto->set_rule(item.rule);
    proto->set_description(item.description);
    proto->set_points(item.points);
  }
}

}  // namespace loyalty::points
