#include "members-svc/rpc/convert.h"

#include "absl/strings/str_cat.h"
#include "common/status/error.h"
#include "common/status/macros.h"
#include "members-svc/domain/validation.h"

namespace loyalty::members {

absl::StatusOr<Program> ParseProgram(const v1::Program& proto) {
  Program program;
  if (!proto.id().empty()) {
    LOYALTY_RETURN_IF_ERROR(ValidateProgramId(proto.id(), "program.id"));
    program.id = proto.id();
  }
  if (proto.display_name().empty()) {
    return InvalidField("program.display_name", "FIELD_REQUIRED", "a program needs a name");
  }
  LOYALTY_RETURN_IF_ERROR(
      ValidateDisplayName(proto.display_name(), "program.display_name", kProgramNameCharsMax));
  program.display_name = proto.display_name();
  LOYALTY_RETURN_IF_ERROR(ValidateCurrencyCode(proto.currency_code(), "program.currency_code"));
  program.currency_code = proto.currency_code();
  if (proto.point_value_minor_per_thousand() < 0 ||
      proto.point_value_minor_per_thousand() > kPointValueMinorPerThousandMax) {
    return InvalidField("program.point_value_minor_per_thousand", "INVALID_POINT_VALUE",
                        absl::StrCat("must be in [0, ", kPointValueMinorPerThousandMax, "]"));
  }
  program.point_value_minor_per_thousand = proto.point_value_minor_per_thousand();
  program.policy =
      TierPolicy{.window_months = proto.tier_window_months() == 0 ? kTierWindowMonthsDefault
                                                                  : proto.tier_window_months(),
                 .downgrade_grace_days = proto.downgrade_grace_days()};
  LOYALTY_RETURN_IF_ERROR(ValidateTierPolicy(program.policy));
  if (proto.referral_rewards_max() < 0 || proto.referral_rewards_max() > kReferralRewardsMaxMax) {
    return InvalidField("program.referral_rewards_max", "INVALID_REFERRAL_CAP",
                        absl::StrCat("must be in [0, ", kReferralRewardsMaxMax, "]"));
  }
  program.referral_rewards_max = proto.referral_rewards_max();
  if (proto.tiers().empty()) {
    program.tiers = DefaultTierLadder();
  } else {
    for (const v1::Tier& tier : proto.tiers()) {
      TierDefinition definition{.code = tier.code(),
                                .display_name = tier.display_name(),
                                .threshold_points = tier.threshold_points(),
                                .earn_multiplier_percent = tier.earn_multiplier_percent(),
                                .benefits = {}};
      for (const v1::TierBenefit& benefit : tier.benefits()) {
        definition.benefits.push_back(
            {.code = benefit.code(), .description = benefit.description()});
      }
      program.tiers.push_back(std::move(definition));
    }
  }
  LOYALTY_RETURN_IF_ERROR(ValidateTierLadder(program.tiers, "program.tiers"));
  return program;
}

absl::StatusOr<Profile> ParseProfile(const v1::MemberProfile& proto, std::string_view field_prefix,
                                     absl::Time now) {
  const std::string prefix(field_prefix);
  Profile profile;
  if (!proto.email().empty()) {
    LOYALTY_ASSIGN_OR_RETURN(profile.email, NormalizeEmail(proto.email(), prefix + ".email"));
  }
  if (!proto.phone().empty()) {
    LOYALTY_ASSIGN_OR_RETURN(profile.phone, NormalizePhone(proto.phone(), prefix + ".phone"));
  }
  if (!proto.display_name().empty()) {
    LOYALTY_RETURN_IF_ERROR(
        ValidateDisplayName(proto.display_name(), prefix + ".display_name", kDisplayNameCharsMax));
    profile.display_name = proto.display_name();
  }
  if (proto.has_birthday()) {
    const Date birthday{.year = proto.birthday().year(),
                        .month = proto.birthday().month(),
                        .day = proto.birthday().day()};
    LOYALTY_RETURN_IF_ERROR(ValidateBirthday(birthday, prefix + ".birthday", now));
    profile.birthday = birthday;
  }
  profile.marketing_consent = proto.marketing_consent();
  return profile;
}

v1::Tier ToProto(const TierDefinition& tier) {
  v1::Tier proto;
  proto.set_code(tier.code);
  proto.set_display_name(tier.display_name);
  proto.set_threshold_points(tier.threshold_points);
  proto.set_earn_multiplier_percent(tier.earn_multiplier_percent);
  for (const TierBenefit& benefit : tier.benefits) {
    v1::TierBenefit* out = proto.add_benefits();
    out->set_code(benefit.code);
    out->set_description(benefit.description);
  }
  return proto;
}

v1::Program ToProto(const Program& program) {
  v1::Program proto;
  proto.set_name(ProgramName(program.id));
  proto.set_id(program.id);
  proto.set_display_name(program.display_name);
  proto.set_currency_code(program.currency_code);
  proto.set_point_value_minor_per_thousand(program.point_value_minor_per_thousand);
  for (const TierDefinition& tier : program.tiers) *proto.add_tiers() = ToProto(tier);
  proto.set_tier_window_months(program.policy.window_months);
  proto.set_downgrade_grace_days(program.policy.downgrade_grace_days);
  *proto.mutable_create_time() = ToTimestamp(program.create_time);
  proto.set_referral_rewards_max(program.referral_rewards_max);
  return proto;
}

v1::Referral ToProto(const Referral& referral) {
  v1::Referral proto;
  proto.set_id(referral.referral_id);
  proto.set_referrer(referral.referrer_id);
  proto.set_referee(referral.referee_id);
  proto.set_status(static_cast<v1::ReferralStatus>(referral.status));
  if (referral.refusal_reason.has_value()) proto.set_refusal_reason(*referral.refusal_reason);
  *proto.mutable_create_time() = ToTimestamp(referral.create_time);
  if (referral.resolve_time.has_value()) {
    *proto.mutable_resolve_time() = ToTimestamp(*referral.resolve_time);
  }
  return proto;
}

v1::MemberProfile ToProto(const Profile& profile) {
  v1::MemberProfile proto;
  if (profile.email) proto.set_email(*profile.email);
  if (profile.phone) proto.set_phone(*profile.phone);
  if (profile.display_name) proto.set_display_name(*profile.display_name);
  if (profile.birthday) {
    proto.mutable_birthday()->set_year(profile.birthday->year);
    proto.mutable_birthday()->set_month(profile.birthday->month);
    proto.mutable_birthday()->set_day(profile.birthday->day);
  }
  proto.set_marketing_consent(profile.marketing_consent);
  return proto;
}

v1::Member ToProto(const Member& member, const Program& program) {
  v1::Member proto;
  proto.set_name(MemberName(member.program_id, member.member_id));
  proto.set_id(member.member_id);
  proto.set_program(member.program_id);
  *proto.mutable_profile() = ToProto(member.profile);
  proto.set_status(static_cast<v1::MemberStatus>(member.status));
  if (member.tier.tier_index >= 0 &&
      member.tier.tier_index < static_cast<int>(program.tiers.size())) {
    proto.set_tier(program.tiers[member.tier.tier_index].code);
  }
  proto.set_card_number(member.card_number);
  proto.set_referral_code(member.referral_code);
  if (member.referred_by_code) proto.set_referred_by_code(*member.referred_by_code);
  *proto.mutable_enroll_time() = ToTimestamp(member.enroll_time);
  *proto.mutable_update_time() = ToTimestamp(member.update_time);
  return proto;
}

}  // namespace loyalty::members
