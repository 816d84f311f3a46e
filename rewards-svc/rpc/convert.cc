#include "rewards-svc/rpc/convert.h"

#include "absl/strings/str_cat.h"
#include "common/rpc/proto_time.h"
#include "common/status/macros.h"

namespace loyalty::rewards {
namespace {

absl::StatusOr<std::optional<absl::Time>> OptionalTime(bool has,
                                                       const google::protobuf::Timestamp& time,
                                                       const std::string& field) {
  if (!has) return std::optional<absl::Time>();
  LOYALTY_ASSIGN_OR_RETURN(absl::Time parsed, ParseTimestamp(time, field));
  return std::optional<absl::Time>(parsed);
}

std::string Field(std::string_view prefix, std::string_view name) {
  return absl::StrCat(absl::string_view(prefix.data(), prefix.size()), ".",
                      absl::string_view(name.data(), name.size()));
}

}  // namespace

absl::StatusOr<Reward> ParseReward(const v1::Reward& proto, std::string_view prefix) {
  Reward reward;
  reward.title = proto.title();
  reward.description = proto.description();
  reward.points_cost = proto.points_cost();
  if (proto.has_stock()) reward.stock = proto.stock();
  reward.limit_per_member = proto.limit_per_member();
  reward.limit_period = static_cast<LimitPeriod>(proto.limit_period());
  reward.min_tier = proto.min_tier();
  LOYALTY_ASSIGN_OR_RETURN(
      reward.start_time,
      OptionalTime(proto.has_start_time(), proto.start_time(), Field(prefix, "start_time")));
  LOYALTY_ASSIGN_OR_RETURN(reward.end_time, OptionalTime(proto.has_end_time(), proto.end_time(),
                                                         Field(prefix, "end_time")));
  reward.voucher_validity_days = proto.voucher_validity_days();
  VoucherTerms& terms = reward.terms;
  switch (proto.details_case()) {
    case v1::Reward::kDiscountFixed:
      terms = {.kind = RewardKind::kDiscountFixed,
               .amount_minor = proto.discount_fixed().amount_minor(),
               .currency_code = proto.discount_fixed().currency_code()};
      break;
    case v1::Reward::kDiscountPercent:
      terms = {.kind = RewardKind::kDiscountPercent,
               .percent = proto.discount_percent().percent(),
               .cap_minor = proto.discount_percent().cap_minor()};
      break;
    case v1::Reward::kFreeShipping:
      terms = {.kind = RewardKind::kFreeShipping,
               .amount_minor = proto.free_shipping().max_minor()};
      break;
    case v1::Reward::kFreeProduct:
      terms = {.kind = RewardKind::kFreeProduct, .sku = proto.free_product().sku()};
      break;
    case v1::Reward::kGiftCard:
      terms = {.kind = RewardKind::kGiftCard,
               .amount_minor = proto.gift_card().value_minor(),
               .currency_code = proto.gift_card().currency_code()};
      break;
    case v1::Reward::kExperience:
      terms = {.kind = RewardKind::kExperience};
      reward.experience_type = proto.experience().type();
      break;
    case v1::Reward::kDonation:
      terms = {.kind = RewardKind::kDonation};
      reward.charity_name = proto.donation().charity_name();
      break;
    case v1::Reward::DETAILS_NOT_SET:
      break;
  }
  LOYALTY_RETURN_IF_ERROR(ValidateReward(reward, prefix));
  return reward;
}

v1::Reward ToProto(const Reward& r) {
  v1::Reward proto;
  proto.set_id(r.id);
  proto.set_title(r.title);
  proto.set_description(r.description);
  proto.set_kind(static_cast<v1::RewardKind>(r.terms.kind));
  proto.set_points_cost(r.points_cost);
  if (r.stock.has_value()) proto.set_stock(*r.stock);
  proto.set_limit_per_member(r.limit_per_member);
  proto.set_limit_period(static_cast<v1::LimitPeriod>(r.limit_period));
  proto.set_min_tier(r.min_tier);
  if (r.start_time) *proto.mutable_start_time() = ToTimestamp(*r.start_time);
  if (r.end_time) *proto.mutable_end_time() = ToTimestamp(*r.end_time);
  proto.set_voucher_validity_days(r.voucher_validity_days);
  const VoucherTerms& t = r.terms;
  switch (t.kind) {
    case RewardKind::kDiscountFixed:
      proto.mutable_discount_fixed()->set_amount_minor(t.amount_minor);
      proto.mutable_discount_fixed()->set_currency_code(t.currency_code);
      break;
    case RewardKind::kDiscountPercent:
      proto.mutable_discount_percent()->set_percent(t.percent);
      proto.mutable_discount_percent()->set_cap_minor(t.cap_minor);
      break;
    case RewardKind::kFreeShipping:
      proto.mutable_free_shipping()->set_max_minor(t.amount_minor);
      break;
    case RewardKind::kFreeProduct:
      proto.mutable_free_product()->set_sku(t.sku);
      break;
    case RewardKind::kGiftCard:
      proto.mutable_gift_card()->set_value_minor(t.amount_minor);
      proto.mutable_gift_card()->set_currency_code(t.currency_code);
      break;
    case RewardKind::kExperience:
      proto.mutable_experience()->set_type(static_cast<v1::ExperienceType>(r.experience_type));
      break;
    case RewardKind::kDonation:
      proto.mutable_donation()->set_charity_name(r.charity_name);
      break;
    case RewardKind::kUnspecified:
      break;
  }
  proto.set_etag(Etag(r.version));
  *proto.mutable_create_time() = ToTimestamp(r.create_time);
  *proto.mutable_update_time() = ToTimestamp(r.update_time);
  return proto;
}

std::string Etag(int64_t version) { return absl::StrCat("\"v", version, "\""); }

v1::Voucher VoucherView(const VoucherRow& voucher, const std::string& code) {
  v1::Voucher view;
  view.set_code(code);
  view.set_kind(static_cast<v1::RewardKind>(voucher.terms.kind));
  view.set_status(static_cast<v1::VoucherStatus>(voucher.status));
  if (voucher.terms.kind == RewardKind::kGiftCard) view.set_balance_minor(voucher.balance_minor);
  *view.mutable_expire_time() = ToTimestamp(voucher.expire_time);
  return view;
}

v1::Redemption RedemptionView(const RedemptionRow& r) {
  v1::Redemption view;
  view.set_id(r.redemption_id);
  view.set_member(r.member_id);
  view.set_reward(r.reward_id);
  view.set_points(r.points);
  view.set_status(static_cast<v1::RedemptionStatus>(r.status));
  view.set_failure_reason(r.failure_reason);
  view.set_fulfilment_status(static_cast<v1::FulfilmentStatus>(r.fulfilment));
  *view.mutable_create_time() = ToTimestamp(r.create_time);
  *view.mutable_update_time() = ToTimestamp(r.update_time);
  return view;
}

v1::VoucherValue ValueView(const VoucherRow& voucher, const Valuation& value) {
  v1::VoucherValue view;
  view.set_kind(static_cast<v1::RewardKind>(voucher.terms.kind));
  view.set_discount_minor(value.discount_minor);
  view.set_currency_code(voucher.terms.currency_code);
  view.set_sku(value.sku);
  view.set_free_shipping(value.free_shipping);
  if (voucher.terms.kind == RewardKind::kGiftCard) view.set_balance_minor(voucher.balance_minor);
  *view.mutable_expire_time() = ToTimestamp(voucher.expire_time);
  return view;
}

}  // namespace loyalty::rewards
