#include "rewards-svc/domain/reward.h"

#include "common/testkit/invalid_field.h"
#include "common/testkit/status_matchers.h"
#include "gtest/gtest.h"

namespace loyalty::rewards {
namespace {

using ::loyalty::testkit::IsInvalidField;
using ::loyalty::testkit::IsOk;
using ::loyalty::testkit::StatusIs;

const absl::Time kNow =
    absl::FromCivil(absl::CivilSecond(2026, 5, 17, 10, 30, 0), absl::UTCTimeZone());

Reward Percent(int32_t percent) {
  Reward reward;
  reward.title = "10% off";
  reward.points_cost = 500;
  reward.terms = {.kind = RewardKind::kDiscountPercent, .percent = percent};
  return reward;
}

TEST(ValidateReward, AcceptsEveryKind) {
  Reward fixed = Percent(10);
  fixed.terms = {.kind = RewardKind::kDiscountFixed, .amount_minor = 500, .currency_code = "EUR"};
  Reward gift = fixed;
  gift.terms.kind = RewardKind::kGiftCard;
  Reward shipping = fixed;
  shipping.terms = {.kind = RewardKind::kFreeShipping};
  Reward product = fixed;
  product.terms = {.kind = RewardKind::kFreeProduct, .sku = "MUG-1"};
  Reward experience = fixed;
  experience.terms = {.kind = RewardKind::kExperience};
  experience.experience_type = 2;
  Reward donation = fixed;
  donation.terms = {.kind = RewardKind::kDonation};
  donation.charity_name = "Red Cross";
  for (const Reward& reward :
       {Percent(100), fixed, gift, shipping, product, experience, donation}) {
    EXPECT_THAT(ValidateReward(reward, "reward"), IsOk());
  }
}

TEST(ValidateReward, RejectsBadFieldsByName) {
  EXPECT_TRUE(IsInvalidField(ValidateReward(Percent(101), "reward"),
                             "reward.discount_percent.percent", "INVALID_PERCENT"));
  Reward negative = Percent(10);
  negative.points_cost = -5;
  EXPECT_TRUE(IsInvalidField(ValidateReward(negative, "reward"), "reward.points_cost",
                             "INVALID_POINTS_COST"));
  Reward stock = Percent(10);
  stock.stock = -1;
  EXPECT_TRUE(IsInvalidField(ValidateReward(stock, "reward"), "reward.stock", "INVALID_STOCK"));
  Reward limit = Percent(10);
  limit.limit_per_member = 2;
  EXPECT_TRUE(
      IsInvalidField(ValidateReward(limit, "reward"), "reward.limit_per_member", "INVALID_LIMIT"));
  Reward window = Percent(10);
  window.start_time = kNow;
  window.end_time = kNow;
  EXPECT_TRUE(
      IsInvalidField(ValidateReward(window, "reward"), "reward.end_time", "INVALID_ACTIVE_WINDOW"));
  Reward kindless = Percent(10);
  kindless.terms = {};
  EXPECT_TRUE(
      IsInvalidField(ValidateReward(kindless, "reward"), "reward.details", "KIND_REQUIRED"));
  Reward currency = Percent(10);
  currency.terms = {.kind = RewardKind::kGiftCard, .amount_minor = 100, .currency_code = "eur"};
  EXPECT_TRUE(IsInvalidField(ValidateReward(currency, "reward"), "reward.gift_card.currency_code",
                             "INVALID_CURRENCY"));
  Reward title = Percent(10);
  title.title = "";
  EXPECT_TRUE(IsInvalidField(ValidateReward(title, "reward"), "reward.title", "INVALID_TITLE"));
}

TEST(CheckEligibility, ReportsTheFirstObstacleInOrder) {
  Reward reward = Percent(10);
  MemberFacts rich{.available_points = 1000, .tier_rank = 1, .min_tier_rank = -1};
  EXPECT_EQ(CheckEligibility(reward, rich, kNow).reason, Ineligible::kNone);

  MemberFacts poor = rich;
  poor.available_points = 120;
  const Eligibility short_of = CheckEligibility(reward, poor, kNow);
  EXPECT_EQ(short_of.reason, Ineligible::kInsufficientPoints);
  EXPECT_EQ(short_of.points_missing, 380);

  MemberFacts low_tier = poor;
  low_tier.min_tier_rank = 2;
  EXPECT_EQ(CheckEligibility(reward, low_tier, kNow).reason, Ineligible::kTierTooLow);

  reward.limit_per_member = 1;
  reward.limit_period = LimitPeriod::kMonth;
  MemberFacts used = rich;
  used.redemptions_in_period = 1;
  EXPECT_EQ(CheckEligibility(reward, used, kNow).reason, Ineligible::kLimitReached);

  reward.stock = 0;
  EXPECT_EQ(CheckEligibility(reward, low_tier, kNow).reason, Ineligible::kOutOfStock);
  reward.end_time = kNow;
  EXPECT_EQ(CheckEligibility(reward, low_tier, kNow).reason, Ineligible::kNotActive);
  EXPECT_THAT(IneligibleError(short_of, "r1"),
              StatusIs(absl::StatusCode::kFailedPrecondition, "INSUFFICIENT_POINTS"));
  EXPECT_EQ(ErrorMetadataOf(IneligibleError(short_of, "r1")).at("points_missing"), "380");
}

TEST(LimitPeriodStart, StartsAtUtcBoundaries) {
  const absl::TimeZone utc = absl::UTCTimeZone();
  EXPECT_EQ(LimitPeriodStart(LimitPeriod::kDay, kNow),
            absl::FromCivil(absl::CivilDay(2026, 5, 17), utc));
  EXPECT_EQ(LimitPeriodStart(LimitPeriod::kMonth, kNow),
            absl::FromCivil(absl::CivilDay(2026, 5, 1), utc));
  EXPECT_EQ(LimitPeriodStart(LimitPeriod::kYear, kNow),
            absl::FromCivil(absl::CivilDay(2026, 1, 1), utc));
  EXPECT_EQ(LimitPeriodStart(LimitPeriod::kLifetime, kNow), absl::InfinitePast());
}

TEST(ValueFor, ValuesEachKindForAnOrder) {
  EXPECT_EQ(
      ValueFor({.kind = RewardKind::kDiscountFixed, .amount_minor = 500}, 0, 300).discount_minor,
      300);
  EXPECT_EQ(ValueFor({.kind = RewardKind::kDiscountPercent, .percent = 15}, 0, 999).discount_minor,
            149);
  EXPECT_EQ(
      ValueFor({.kind = RewardKind::kDiscountPercent, .percent = 50, .cap_minor = 1000}, 0, 10'000)
          .discount_minor,
      1000);
  EXPECT_EQ(
      ValueFor({.kind = RewardKind::kGiftCard, .amount_minor = 5000}, 1200, 4000).discount_minor,
      1200);
  EXPECT_TRUE(ValueFor({.kind = RewardKind::kFreeShipping}, 0, 10).free_shipping);
  EXPECT_EQ(ValueFor({.kind = RewardKind::kFreeProduct, .sku = "MUG"}, 0, 0).sku, "MUG");
}

}  // namespace
}  // namespace loyalty::rewards
