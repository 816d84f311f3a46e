#include "points-svc/domain/earning.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/status/error.h"
#include "common/testkit/invalid_field.h"
#include "common/testkit/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loyalty::points {
namespace {

using ::loyalty::testkit::IsInvalidField;
using ::loyalty::testkit::IsOk;
using ::loyalty::testkit::StatusIs;
using ::testing::_;
using ::testing::ElementsAre;
using ::testing::FieldsAre;
using ::testing::IsEmpty;

absl::Time At(int year, int month, int day, int hour = 0, int minute = 0, int second = 0) {
  return absl::FromCivil(absl::CivilSecond(year, month, day, hour, minute, second),
                         absl::UTCTimeZone());
}

const absl::Time kNow = At(2025, 6, 7, 12);

// A breakdown item with this rule and these points (the description is checked separately).
auto Item(const std::string& rule, int64_t points) { return FieldsAre(rule, _, points); }

// Rules without the default activities, so a test shows only what it sets.
EarningRules Rules() {
  EarningRules rules;
  rules.activity_rules.clear();
  return rules;
}

PurchaseLine Line(std::string sku, std::string category, int64_t quantity,
                  int64_t unit_price_minor) {
  return PurchaseLine{.sku = std::move(sku),
                      .category = std::move(category),
                      .quantity = quantity,
                      .unit_price_minor = unit_price_minor};
}

Purchase Order(int64_t total_minor, std::vector<PurchaseLine> lines, absl::Time at = kNow) {
  return Purchase{.total_minor = total_minor, .lines = std::move(lines), .occur_time = at};
}

Campaign DoublePoints(std::string id, absl::Time start, absl::Time end) {
  return Campaign{.id = std::move(id),
                  .name = "Double points weekend",
                  .start = start,
                  .end = end,
                  .multiplier_percent = 200,
                  .bonus_points = 0,
                  .categories = {}};
}

int64_t BreakdownSum(const Evaluation& evaluation) {
  int64_t sum = 0;
  for (const BreakdownItem& item : evaluation.breakdown) sum += item.points;
  return sum;
}

// Evaluates with the member context and checks the one invariant every evaluation keeps.
Evaluation Evaluate(const EarningRules& rules, const Purchase& purchase,
                    const MemberEarnContext& member = {}) {
  EXPECT_THAT(ValidateEarningRules(rules, "rules"), IsOk());
  EXPECT_THAT(ValidatePurchase(purchase), IsOk());
  Evaluation evaluation = EvaluatePurchase(rules, purchase, member);
  EXPECT_EQ(BreakdownSum(evaluation), evaluation.points);
  return evaluation;
}

// --- Purchases: base rate ------------------------------------------------------------------

TEST(EarnPurchase, BaseRateFloorsToWholePoints) {
  const Evaluation result = Evaluate(Rules(), Order(2599, {Line("A", "shoes", 1, 2599)}));
  EXPECT_EQ(result.points, 25);
  EXPECT_THAT(result.breakdown,
              ElementsAre(FieldsAre("base", "1 point per currency unit spent", 25)));
}

TEST(EarnPurchase, WithoutLinesTheTotalEarnsAtTheBaseRate) {
  const Evaluation result = Evaluate(Rules(), Order(10000, {}));
  EXPECT_EQ(result.points, 100);
  EXPECT_THAT(result.breakdown, ElementsAre(Item("base", 100)));
}

TEST(EarnPurchase, RateAndMinorUnitsScaleTheBase) {
  EarningRules rules = Rules();
  rules.points_per_currency_unit = 5;
  rules.minor_units_per_unit = 1;  // e.g. JPY
  const Evaluation result = Evaluate(rules, Order(1234, {Line("A", "", 2, 617)}));
  EXPECT_EQ(result.points, 6170);
  EXPECT_THAT(result.breakdown,
              ElementsAre(FieldsAre("base", "5 points per currency unit spent", 6170)));
}

TEST(EarnPurchase, ZeroRateEarnsNothingAndListsNothing) {
  EarningRules rules = Rules();
  rules.points_per_currency_unit = 0;
  const Evaluation result = Evaluate(rules, Order(10000, {}));
  EXPECT_EQ(result.points, 0);
  EXPECT_THAT(result.breakdown, IsEmpty());
}

// --- Purchases: line multipliers -----------------------------------------------------------

TEST(EarnPurchase, CategoryMultiplierAddsItsShare) {
  EarningRules rules = Rules();
  rules.category_multipliers = {{.key = "shoes", .percent = 150}};
  const Evaluation result =
      Evaluate(rules, Order(20000, {Line("A", "shoes", 1, 10000), Line("B", "shirts", 1, 10000)}));
  EXPECT_EQ(result.points, 250);
  EXPECT_THAT(result.breakdown,
              ElementsAre(Item("base", 200),
                          FieldsAre("category:shoes", "Category shoes: 1.5x points", 50)));
}

TEST(EarnPurchase, SkuMultiplierOverridesTheCategory) {
  EarningRules rules = Rules();
  rules.category_multipliers = {{.key = "shoes", .percent = 150}};
  rules.sku_multipliers = {{.key = "A", .percent = 300}};
  const Evaluation result =
      Evaluate(rules, Order(20000, {Line("A", "shoes", 1, 10000), Line("B", "shoes", 1, 10000)}));
  EXPECT_EQ(result.points, 450);
  EXPECT_THAT(result.breakdown,
              ElementsAre(Item("base", 200), FieldsAre("sku:A", "Product A: 3x points", 200),
                          Item("category:shoes", 50)));
}

TEST(EarnPurchase, MultiplierItemsAggregatePerKeyInOrderOfFirstUse) {
  EarningRules rules = Rules();
  rules.category_multipliers = {{.key = "shoes", .percent = 200}, {.key = "bags", .percent = 125}};
  const Evaluation result =
      Evaluate(rules, Order(40000, {Line("B1", "bags", 1, 10000), Line("S1", "shoes", 1, 10000),
                                    Line("S2", "shoes", 1, 10000), Line("X", "", 1, 10000)}));
  EXPECT_EQ(result.points, 400 + 25 + 200);
  EXPECT_THAT(result.breakdown, ElementsAre(Item("base", 400), Item("category:bags", 25),
                                            Item("category:shoes", 200)));
}

TEST(EarnPurchase, ZeroPercentMultiplierMakesTheLineEarnNothing) {
  EarningRules rules = Rules();
  rules.category_multipliers = {{.key = "samples", .percent = 0}};
  const Evaluation result =
      Evaluate(rules, Order(10000, {Line("S", "samples", 1, 5000), Line("A", "shoes", 1, 5000)}));
  EXPECT_EQ(result.points, 50);
  EXPECT_THAT(result.breakdown,
              ElementsAre(Item("base", 100),
                          FieldsAre("category:samples", "Category samples: 0x points", -50)));
}

TEST(EarnPurchase, HundredPercentMultiplierGivesNoItem) {
  EarningRules rules = Rules();
  rules.category_multipliers = {{.key = "shoes", .percent = 100}};
  const Evaluation result = Evaluate(rules, Order(10000, {Line("A", "shoes", 1, 10000)}));
  EXPECT_THAT(result.breakdown, ElementsAre(Item("base", 100)));
}

// --- Purchases: tier -----------------------------------------------------------------------

TEST(EarnPurchase, TierMultiplierAppliesAfterLineMultipliers) {
  EarningRules rules = Rules();
  rules.category_multipliers = {{.key = "shoes", .percent = 200}};
  const Evaluation result = Evaluate(rules, Order(10000, {Line("A", "shoes", 1, 10000)}),
                                     {.tier_multiplier_percent = 150});
  EXPECT_EQ(result.points, 300);
  EXPECT_THAT(result.breakdown, ElementsAre(Item("base", 100), Item("category:shoes", 100),
                                            FieldsAre("tier", "Tier bonus: 1.5x points", 100)));
}

TEST(EarnPurchase, TierMultiplierIsIgnoredWhenTheRulesSaySo) {
  EarningRules rules = Rules();
  rules.apply_tier_multiplier = false;
  const Evaluation result = Evaluate(rules, Order(10000, {Line("A", "shoes", 1, 10000)}),
                                     {.tier_multiplier_percent = 200});
  EXPECT_EQ(result.points, 100);
  EXPECT_THAT(result.breakdown, ElementsAre(Item("base", 100)));
}

TEST(EarnPurchase, TierMultiplierOutsideItsRangeIsClamped) {
  const Purchase order = Order(10000, {Line("A", "shoes", 1, 10000)});
  EXPECT_EQ(Evaluate(Rules(), order, {.tier_multiplier_percent = 50}).points, 100);
  EXPECT_EQ(Evaluate(Rules(), order, {.tier_multiplier_percent = 5000}).points, 1000);
}

// --- Purchases: campaigns ------------------------------------------------------------------

TEST(EarnPurchase, CampaignAppliesFromItsStartInclusiveToItsEndExclusive) {
  EarningRules rules = Rules();
  rules.campaigns = {DoublePoints("weekend", At(2025, 6, 7), At(2025, 6, 9))};
  auto at = [&](absl::Time t) {
    return Evaluate(rules, Order(10000, {Line("A", "shoes", 1, 10000)}, t));
  };
  EXPECT_THAT(at(At(2025, 6, 7)).breakdown,
              ElementsAre(Item("base", 100),
                          FieldsAre("campaign:weekend", "Double points weekend: 2x points", 100)));
  EXPECT_EQ(at(At(2025, 6, 9) - absl::Nanoseconds(1)).points, 200);
  EXPECT_THAT(at(At(2025, 6, 9)).breakdown, ElementsAre(Item("base", 100)));
  EXPECT_THAT(at(At(2025, 6, 7) - absl::Nanoseconds(1)).breakdown, ElementsAre(Item("base", 100)));
}

TEST(EarnPurchase, CampaignScopedToCategoriesCountsOnlyTheirLines) {
  EarningRules rules = Rules();
  Campaign shoes = DoublePoints("shoe-week", At(2025, 6, 1), At(2025, 6, 30));
  shoes.multiplier_percent = 300;
  shoes.categories = {"shoes", "boots"};
  rules.campaigns = {shoes};
  const Evaluation result =
      Evaluate(rules, Order(30000, {Line("A", "shoes", 1, 10000), Line("B", "shirts", 1, 10000),
                                    Line("C", "boots", 1, 10000)}));
  EXPECT_EQ(result.points, 300 + 400);
  EXPECT_THAT(result.breakdown, ElementsAre(Item("base", 300), Item("campaign:shoe-week", 400)));
}

TEST(EarnPurchase, CampaignWorksOnTheTieredSubtotal) {
  EarningRules rules = Rules();
  rules.campaigns = {DoublePoints("weekend", At(2025, 6, 7), At(2025, 6, 9))};
  const Evaluation result = Evaluate(rules, Order(10000, {Line("A", "shoes", 1, 10000)}),
                                     {.tier_multiplier_percent = 150});
  EXPECT_EQ(result.points, 300);
  EXPECT_THAT(result.breakdown,
              ElementsAre(Item("base", 100), Item("tier", 50), Item("campaign:weekend", 150)));
}

TEST(EarnPurchase, CampaignBonusNeedsAnEligibleLineInScope) {
  EarningRules rules = Rules();
  rules.campaigns = {Campaign{.id = "welcome",
                              .name = "Summer bonus",
                              .start = At(2025, 6, 1),
                              .end = At(2025, 9, 1),
                              .multiplier_percent = 0,
                              .bonus_points = 50,
                              .categories = {"shoes"}}};
  EXPECT_THAT(Evaluate(rules, Order(10000, {Line("A", "shoes", 1, 10000)})).breakdown,
              ElementsAre(Item("base", 100),
                          FieldsAre("campaign_bonus:welcome", "Summer bonus: bonus points", 50)));
  // A free line in scope still qualifies the purchase.
  EXPECT_EQ(
      Evaluate(rules, Order(10000, {Line("A", "shoes", 1, 0), Line("B", "bags", 1, 10000)})).points,
      150);
  EXPECT_THAT(Evaluate(rules, Order(10000, {Line("B", "bags", 1, 10000)})).breakdown,
              ElementsAre(Item("base", 100)));
  // Excluded lines are never in scope.
  rules.campaigns[0].categories.clear();
  EXPECT_THAT(Evaluate(rules, Order(5000, {Line("G", "gift_card", 1, 5000)})).breakdown,
              ElementsAre(Item("excluded:gift_card", 0)));
}

TEST(EarnPurchase, TwoCampaignsAddUpWithoutCompounding) {
  EarningRules rules = Rules();
  Campaign triple = DoublePoints("triple", At(2025, 6, 1), At(2025, 7, 1));
  triple.multiplier_percent = 300;
  triple.bonus_points = 10;
  rules.campaigns = {DoublePoints("weekend", At(2025, 6, 7), At(2025, 6, 9)), triple};
  const Evaluation result = Evaluate(rules, Order(10000, {Line("A", "shoes", 1, 10000)}));
  EXPECT_EQ(result.points, 100 + 100 + 200 + 10);
  EXPECT_THAT(result.breakdown,
              ElementsAre(Item("base", 100), Item("campaign:weekend", 100),
                          Item("campaign:triple", 200), Item("campaign_bonus:triple", 10)));
}

// --- Purchases: minimum order, exclusions, discounts ---------------------------------------

TEST(EarnPurchase, OrderBelowTheMinimumEarnsNothing) {
  EarningRules rules = Rules();
  rules.min_order_minor = 5000;
  rules.campaigns = {Campaign{.id = "bonus",
                              .name = "Bonus",
                              .start = At(2025, 1, 1),
                              .end = At(2026, 1, 1),
                              .multiplier_percent = 0,
                              .bonus_points = 100,
                              .categories = {}}};
  const Evaluation below = Evaluate(rules, Order(4999, {Line("A", "shoes", 1, 4999)}));
  EXPECT_EQ(below.points, 0);
  EXPECT_THAT(below.breakdown,
              ElementsAre(FieldsAre("minimum_order",
                                    "Orders below the minimum order value earn no points", 0)));
  EXPECT_EQ(Evaluate(rules, Order(5000, {Line("A", "shoes", 1, 5000)})).points, 150);
}

TEST(EarnPurchase, GiftCardsEarnNothing) {
  const Evaluation result = Evaluate(
      Rules(), Order(15000, {Line("GC50", "gift_card", 1, 5000), Line("A", "shoes", 1, 5000),
                             Line("GC25", "gift_card", 2, 2500)}));
  EXPECT_EQ(result.points, 50);
  EXPECT_THAT(result.breakdown,
              ElementsAre(Item("base", 50), FieldsAre("excluded:gift_card",
                                                      "Category gift_card earns no points", 0)));
}

TEST(EarnPurchase, ExcludedSkusEarnNothingAndTheCategoryIsNamedWhenBothMatch) {
  EarningRules rules = Rules();
  rules.excluded_skus = {"DEPOSIT", "GC50"};
  const Evaluation result = Evaluate(
      rules, Order(16000, {Line("DEPOSIT", "", 1, 1000), Line("GC50", "gift_card", 1, 5000),
                           Line("A", "shoes", 1, 10000)}));
  EXPECT_EQ(result.points, 100);
  EXPECT_THAT(result.breakdown,
              ElementsAre(Item("base", 100),
                          FieldsAre("excluded:DEPOSIT", "Product DEPOSIT earns no points", 0),
                          Item("excluded:gift_card", 0)));
}

TEST(EarnPurchase, OrderDiscountScalesEveryLine) {
  EarningRules rules = Rules();
  rules.category_multipliers = {{.key = "shoes", .percent = 200}};
  // 20% off the order: 60.00 + 40.00 paid as 80.00.
  const Evaluation result =
      Evaluate(rules, Order(8000, {Line("A", "shoes", 1, 6000), Line("B", "bags", 1, 4000)}));
  EXPECT_EQ(result.points, 80 + 48);
  EXPECT_THAT(result.breakdown, ElementsAre(Item("base", 80), Item("category:shoes", 48)));
}

TEST(EarnPurchase, DiscountIsSharedWithExcludedLines) {
  // Half the order is a gift card; a 50% discount on the order halves what the shoes earn.
  const Evaluation result = Evaluate(
      Rules(), Order(10000, {Line("GC", "gift_card", 1, 10000), Line("A", "shoes", 1, 10000)}));
  EXPECT_EQ(result.points, 50);
}

TEST(EarnPurchase, ShippingAndTaxAboveTheLinesEarnNothing) {
  const Evaluation result = Evaluate(Rules(), Order(10599, {Line("A", "shoes", 1, 10000)}));
  EXPECT_EQ(result.points, 100);
  EXPECT_EQ(Evaluate(Rules(), Order(599, {Line("A", "freebies", 1, 0)})).points, 0);
}

// --- Purchases: rounding -------------------------------------------------------------------

TEST(EarnPurchase, FractionalRateRoundsItemsTowardZeroAndBaseTakesTheRest) {
  EarningRules rules = Rules();
  rules.minor_units_per_unit = 300;  // 1 point per 3.00
  rules.category_multipliers = {{.key = "a", .percent = 150}, {.key = "b", .percent = 150}};
  // Each line is 3.333 base points and 1.666 category points: 13.331 points in all.
  const Evaluation result = Evaluate(
      rules,
      Order(3000, {Line("A", "a", 1, 1000), Line("B", "b", 1, 1000), Line("C", "c", 1, 1000)}));
  EXPECT_EQ(result.points, 13);
  EXPECT_THAT(result.breakdown,
              ElementsAre(Item("base", 11), Item("category:a", 1), Item("category:b", 1)));
}

TEST(EarnPurchase, OnePointPerThreeUnitsKeepsTheFractionsUntilTheEnd) {
  EarningRules rules = Rules();
  rules.minor_units_per_unit = 300;
  // Ten lines of 1.00 are 3.33 points: flooring per line would give 0.
  std::vector<PurchaseLine> lines;
  for (int i = 0; i < 10; ++i) lines.push_back(Line(absl::StrCat("S", i), "", 1, 100));
  EXPECT_EQ(Evaluate(rules, Order(1000, lines)).points, 3);
}

TEST(EarnPurchase, FractionsOfSeveralRulesAddUpBeforeFlooring) {
  EarningRules rules = Rules();
  rules.minor_units_per_unit = 300;
  rules.campaigns = {DoublePoints("weekend", At(2025, 6, 7), At(2025, 6, 9))};
  // 2.5 base, 1.25 tier, 3.75 campaign: 7.5 points. Rounded separately they would be 2+1+3.
  const Evaluation result =
      Evaluate(rules, Order(750, {Line("A", "x", 1, 750)}), {.tier_multiplier_percent = 150});
  EXPECT_EQ(result.points, 7);
  EXPECT_THAT(result.breakdown,
              ElementsAre(Item("base", 3), Item("tier", 1), Item("campaign:weekend", 3)));
}

// --- Purchases: caps -----------------------------------------------------------------------

TEST(EarnPurchase, DailyCapTakesAwayWhatIsAboveTheRoomLeft) {
  EarningRules rules = Rules();
  rules.cap_points_per_day = 100;
  const Purchase order = Order(5000, {Line("A", "shoes", 1, 5000)});
  const Evaluation partial = Evaluate(rules, order, {.earned_today = 70});
  EXPECT_EQ(partial.points, 30);
  EXPECT_THAT(
      partial.breakdown,
      ElementsAre(Item("base", 50),
                  FieldsAre("cap:day", "Daily limit of 100 points from purchases reached", -20)));
  const Evaluation none_left = Evaluate(rules, order, {.earned_today = 100});
  EXPECT_EQ(none_left.points, 0);
  EXPECT_THAT(none_left.breakdown, ElementsAre(Item("base", 50), Item("cap:day", -50)));
  EXPECT_EQ(Evaluate(rules, order, {.earned_today = 250}).points, 0);
  EXPECT_THAT(Evaluate(rules, order, {.earned_today = 50}).breakdown,
              ElementsAre(Item("base", 50)));
  // Refunds that made the day negative do not lift the cap.
  rules.cap_points_per_day = 20;
  EXPECT_EQ(Evaluate(rules, order, {.earned_today = -1000}).points, 20);
}

TEST(EarnPurchase, MonthlyCapAppliesAfterTheDailyCap) {
  EarningRules rules = Rules();
  rules.cap_points_per_day = 100;
  rules.cap_points_per_month = 1000;
  const Purchase order = Order(5000, {Line("A", "shoes", 1, 5000)});
  const Evaluation month_only = Evaluate(rules, order, {.earned_this_month = 990});
  EXPECT_EQ(month_only.points, 10);
  EXPECT_THAT(month_only.breakdown, ElementsAre(Item("base", 50), Item("cap:month", -40)));
  const Evaluation both = Evaluate(rules, order, {.earned_today = 70, .earned_this_month = 990});
  EXPECT_EQ(both.points, 10);
  EXPECT_THAT(both.breakdown,
              ElementsAre(Item("base", 50), Item("cap:day", -20), Item("cap:month", -20)));
  const Evaluation month_full = Evaluate(rules, order, {.earned_this_month = 1000});
  EXPECT_EQ(month_full.points, 0);
  EXPECT_THAT(month_full.breakdown, ElementsAre(Item("base", 50), Item("cap:month", -50)));
}

// --- Purchases: extremes -------------------------------------------------------------------

EarningRules ExtremeRules() {
  EarningRules rules = Rules();
  rules.points_per_currency_unit = kPointsPerCurrencyUnitMax;
  rules.minor_units_per_unit = kMinorUnitsPerUnitMin;
  rules.sku_multipliers = {{.key = "A", .percent = kMultiplierPercentMax}};
  for (size_t i = 0; i < kCampaignsMax; ++i) {
    rules.campaigns.push_back(Campaign{.id = absl::StrCat("c", i),
                                       .name = "Mega",
                                       .start = At(2025, 1, 1),
                                       .end = At(2026, 1, 1),
                                       .multiplier_percent = kCampaignMultiplierPercentMax,
                                       .bonus_points = kCampaignBonusPointsMax,
                                       .categories = {}});
  }
  return rules;
}

Purchase ExtremeOrder() {
  std::vector<PurchaseLine> lines;
  for (size_t i = 0; i < kPurchaseLinesMax; ++i) {
    lines.push_back(
        Line(i == 0 ? "A" : absl::StrCat("L", i), "", kLineQuantityMax, kUnitPriceMinorMax));
  }
  return Order(kPurchaseTotalMinorMax, std::move(lines));
}

TEST(EarnPurchase, PointsAboveThePurchaseCeilingCollapseIntoOneItem) {
  EarningRules rules = ExtremeRules();
  rules.cap_points_per_day = kCapPointsMax;
  const Evaluation result =
      Evaluate(rules, ExtremeOrder(), {.tier_multiplier_percent = kTierMultiplierPercentMax});
  EXPECT_EQ(result.points, kCapPointsMax);
  EXPECT_THAT(result.breakdown, ElementsAre(Item("cap:purchase", kPurchasePointsMax),
                                            Item("cap:day", kCapPointsMax - kPurchasePointsMax)));
}

TEST(EarnPurchase, HugeNegativeMultiplierStillSumsExactly) {
  EarningRules rules = Rules();
  rules.points_per_currency_unit = kPointsPerCurrencyUnitMax;
  rules.minor_units_per_unit = kMinorUnitsPerUnitMin;
  rules.category_multipliers = {{.key = "free", .percent = 0}};
  const Evaluation result =
      Evaluate(rules, Order(kPurchaseTotalMinorMax, {Line("A", "free", 100, kUnitPriceMinorMax)}));
  EXPECT_EQ(result.points, 0);
  EXPECT_THAT(result.breakdown, ElementsAre(Item("base", 1'000'000'000'000'000),
                                            Item("category:free", -1'000'000'000'000'000)));
}

// The breakdown always sums to the points, whatever the rules and the purchase.
TEST(EarnPurchase, BreakdownSumsToThePointsForRandomPurchases) {
  std::mt19937_64 random(20250607);
  auto pick = [&](auto... values) {
    const std::vector<int64_t> options = {static_cast<int64_t>(values)...};
    return options[std::uniform_int_distribution<size_t>(0, options.size() - 1)(random)];
  };
  auto uniform = [&](int64_t low, int64_t high) {
    return std::uniform_int_distribution<int64_t>(low, high)(random);
  };
  const std::vector<std::string> categories = {"", "a", "b", "c", "gift_card"};
  const std::vector<std::string> skus = {"s1", "s2", "s3", "s4", "s5", "s6"};
  for (int iteration = 0; iteration < 3000; ++iteration) {
    EarningRules rules = Rules();
    rules.points_per_currency_unit = pick(0, 1, 2, 3, 7, 1000);
    rules.minor_units_per_unit = static_cast<int32_t>(pick(1, 3, 7, 100, 300, 9999, 10000));
    for (const char* c : {"a", "b", "c"}) {
      if (uniform(0, 1)) {
        rules.category_multipliers.push_back(
            {.key = c, .percent = static_cast<int32_t>(pick(0, 33, 100, 150, 333, 10000))});
      }
    }
    for (const char* s : {"s1", "s2"}) {
      if (uniform(0, 1)) {
        rules.sku_multipliers.push_back(
            {.key = s, .percent = static_cast<int32_t>(pick(0, 50, 125, 201, 10000))});
      }
    }
    const int campaign_count = static_cast<int>(uniform(0, 3));
    for (int i = 0; i < campaign_count; ++i) {
      Campaign campaign{.id = absl::StrCat("c", i),
                        .name = "Campaign",
                        .start = kNow + absl::Hours(uniform(-2, 1)),
                        .end = absl::InfiniteFuture(),
                        .multiplier_percent = static_cast<int32_t>(pick(0, 100, 101, 175, 10000)),
                        .bonus_points = pick(0, 1, 999, 1'000'000),
                        .categories = {}};
      // Windows around the purchase, some ending or starting exactly at it.
      campaign.end = campaign.start + absl::Hours(uniform(1, 3));
      if (uniform(0, 1)) campaign.categories = {categories[uniform(1, 3)]};
      rules.campaigns.push_back(campaign);
    }
    rules.min_order_minor = pick(0, 0, 100, 10000);
    rules.cap_points_per_day = pick(0, 0, 10, 1000);
    rules.cap_points_per_month = pick(0, 0, 100, 100000);
    if (uniform(0, 1)) rules.excluded_skus = {"s6"};

    Purchase purchase{.total_minor = 0, .lines = {}, .occur_time = kNow};
    const int line_count = static_cast<int>(pick(0, 1, 2, 5, 20, 500));
    int64_t amount_sum = 0;
    for (int i = 0; i < line_count; ++i) {
      const int64_t price = pick(0, 1, 99, 1234, 100000, kUnitPriceMinorMax);
      const int64_t quantity = pick(1, 2, 3, kLineQuantityMax);
      amount_sum += price * quantity;
      purchase.lines.push_back(
          Line(skus[uniform(0, 5)], categories[uniform(0, 4)], quantity, price));
    }
    // A discount, the exact sum or shipping on top.
    purchase.total_minor = std::clamp<int64_t>(
        pick(0, amount_sum / 3, amount_sum, amount_sum + 599, uniform(0, 1'000'000)), 0,
        kPurchaseTotalMinorMax);
    const MemberEarnContext member{
        .tier_multiplier_percent = static_cast<int32_t>(pick(100, 125, 150, 333, 1000)),
        .earned_today = pick(0, 5, 2000),
        .earned_this_month = pick(0, 50, 200000)};

    SCOPED_TRACE(absl::StrCat("iteration ", iteration));
    ASSERT_THAT(ValidateEarningRules(rules, "rules"), IsOk());
    ASSERT_THAT(ValidatePurchase(purchase), IsOk());
    const Evaluation result = EvaluatePurchase(rules, purchase, member);
    ASSERT_GE(result.points, 0);
    ASSERT_EQ(BreakdownSum(result), result.points);
    std::set<std::string> rule_ids;
    for (const BreakdownItem& item : result.breakdown) {
      EXPECT_TRUE(rule_ids.insert(item.rule).second) << item.rule;
      if (item.rule != "minimum_order" && !item.rule.starts_with("excluded:")) {
        EXPECT_NE(item.points, 0) << item.rule;
      }
      if (item.rule == "base" || item.rule == "tier" || item.rule.starts_with("campaign")) {
        EXPECT_GT(item.points, 0) << item.rule;
      }
      if (item.rule.starts_with("cap:day") || item.rule.starts_with("cap:month")) {
        EXPECT_LT(item.points, 0) << item.rule;
      }
    }
    if (rules.cap_points_per_day > 0) {
      EXPECT_LE(result.points, rules.cap_points_per_day);
    }
    if (rules.cap_points_per_month > 0) {
      EXPECT_LE(result.points, rules.cap_points_per_month);
    }
    EXPECT_EQ(EvaluatePurchase(rules, purchase, member).breakdown, result.breakdown);
  }
}

// --- Rules validation ----------------------------------------------------------------------

TEST(ValidateEarningRules, DefaultRulesAreValid) {
  const EarningRules rules = DefaultEarningRules();
  EXPECT_THAT(ValidateEarningRules(rules, "rules"), IsOk());
  EXPECT_EQ(rules.points_per_currency_unit, 1);
  EXPECT_EQ(rules.minor_units_per_unit, 100);
  EXPECT_THAT(rules.excluded_categories, ElementsAre("gift_card"));
  EXPECT_EQ(rules.expiry_months, 12);
  EXPECT_EQ(rules.pending_days, 0);
  EXPECT_TRUE(rules.apply_tier_multiplier);
  EXPECT_EQ(FindActivityRule(rules, ActivityType::kBirthday, "")->points, 200);
  EXPECT_EQ(FindActivityRule(rules, ActivityType::kBirthday, "")->limit_period, LimitPeriod::kYear);
  EXPECT_EQ(rules.activity_rules.size(), 6u);
}

TEST(ValidateEarningRules, AcceptsTheLimits) {
  EarningRules rules = ExtremeRules();
  rules.category_multipliers = {{.key = std::string(kRuleKeyLengthMax, 'k'), .percent = 0}};
  rules.campaigns[0].name = std::string("\xc3\xa9") + std::string(kCampaignNameCharsMax - 1, 'e');
  rules.campaigns[1].multiplier_percent = 0;
  rules.campaigns[2].multiplier_percent = 100;
  rules.campaigns[3].categories = std::vector<std::string>(kCampaignCategoriesMax, "shoes");
  rules.campaigns[4].id = std::string(kCampaignIdLengthMax, '9');
  rules.min_order_minor = kMinOrderMinorMax;
  rules.cap_points_per_day = kCapPointsMax;
  rules.cap_points_per_month = kCapPointsMax;
  rules.activity_rules = {{.type = ActivityType::kCustom,
                           .custom_name = std::string(kCustomActivityNameLengthMax, 'x'),
                           .points = kActivityPointsMax,
                           .limit_count = kActivityLimitCountMax,
                           .limit_period = LimitPeriod::kLifetime},
                          {.type = ActivityType::kReview, .points = 1, .limit_count = 0}};
  rules.excluded_skus = std::vector<std::string>(kExclusionsMax, "sku");
  rules.pending_days = kPendingDaysMax;
  rules.expiry_months = kExpiryMonthsMax;
  EXPECT_THAT(ValidateEarningRules(rules, "rules"), IsOk());
  rules.points_per_currency_unit = 0;
  rules.minor_units_per_unit = kMinorUnitsPerUnitMax;
  rules.expiry_months = 0;
  EXPECT_THAT(ValidateEarningRules(rules, "rules"), IsOk());
}

struct InvalidRulesCase {
  std::string field;
  std::function<void(EarningRules&)> mutate;
};

TEST(ValidateEarningRules, NamesTheOffendingField) {
  const Campaign campaign = DoublePoints("weekend", At(2025, 6, 7), At(2025, 6, 9));
  const std::vector<InvalidRulesCase> cases = {
      {"rules.points_per_currency_unit", [](auto& r) { r.points_per_currency_unit = -1; }},
      {"rules.points_per_currency_unit", [](auto& r) { r.points_per_currency_unit = 1001; }},
      {"rules.minor_units_per_unit", [](auto& r) { r.minor_units_per_unit = 0; }},
      {"rules.minor_units_per_unit", [](auto& r) { r.minor_units_per_unit = 10001; }},
      {"rules.category_multipliers[0].percent",
       [](auto& r) { r.category_multipliers = {{.key = "a", .percent = 10001}}; }},
      {"rules.category_multipliers[0].percent",
       [](auto& r) { r.category_multipliers = {{.key = "a", .percent = -1}}; }},
      {"rules.category_multipliers[0].key",
       [](auto& r) { r.category_multipliers = {{.key = "", .percent = 200}}; }},
      {"rules.category_multipliers[0].key",
       [](auto& r) { r.category_multipliers = {{.key = std::string(65, 'k'), .percent = 200}}; }},
      {"rules.sku_multipliers[1].key",
       [](auto& r) {
         r.sku_multipliers = {{.key = "A", .percent = 200}, {.key = "A", .percent = 300}};
       }},
      {"rules.category_multipliers",
       [](auto& r) {
         for (size_t i = 0; i <= kMultipliersMax; ++i) {
           r.category_multipliers.push_back({.key = absl::StrCat("c", i), .percent = 200});
         }
       }},
      {"rules.campaigns[1].end_time",
       [&](auto& r) {
         r.campaigns = {campaign, campaign};
         r.campaigns[1].id = "other";
         r.campaigns[1].end = r.campaigns[1].start;
       }},
      {"rules.campaigns[0].end_time",
       [&](auto& r) {
         r.campaigns = {campaign};
         r.campaigns[0].end = absl::InfiniteFuture();
       }},
      {"rules.campaigns[0].start_time",
       [&](auto& r) {
         r.campaigns = {campaign};
         r.campaigns[0].start = absl::InfinitePast();
       }},
      {"rules.campaigns[0].id",
       [&](auto& r) {
         r.campaigns = {campaign};
         r.campaigns[0].id = "Weekend";
       }},
      {"rules.campaigns[0].id",
       [&](auto& r) {
         r.campaigns = {campaign};
         r.campaigns[0].id = "-weekend";
       }},
      {"rules.campaigns[0].id",
       [&](auto& r) {
         r.campaigns = {campaign};
         r.campaigns[0].id = std::string(65, 'a');
       }},
      {"rules.campaigns[1].id",
       [&](auto& r) {
         r.campaigns = {campaign, campaign};
       }},
      {"rules.campaigns[0].name",
       [&](auto& r) {
         r.campaigns = {campaign};
         r.campaigns[0].name = "";
       }},
      {"rules.campaigns[0].name",
       [&](auto& r) {
         r.campaigns = {campaign};
         r.campaigns[0].name = "   ";
       }},
      {"rules.campaigns[0].name",
       [&](auto& r) {
         r.campaigns = {campaign};
         r.campaigns[0].name = "Double\npoints";
       }},
      {"rules.campaigns[0].name",
       [&](auto& r) {
         r.campaigns = {campaign};
         r.campaigns[0].name = "Caf\xc3";
       }},
      {"rules.campaigns[0].name",
       [&](auto& r) {
         r.campaigns = {campaign};
         r.campaigns[0].name = std::string(kCampaignNameCharsMax + 1, 'n');
       }},
      {"rules.campaigns[0].multiplier_percent",
       [&](auto& r) {
         r.campaigns = {campaign};
         r.campaigns[0].multiplier_percent = 50;
       }},
      {"rules.campaigns[0].multiplier_percent",
       [&](auto& r) {
         r.campaigns = {campaign};
         r.campaigns[0].multiplier_percent = 10001;
       }},
      {"rules.campaigns[0].bonus_points",
       [&](auto& r) {
         r.campaigns = {campaign};
         r.campaigns[0].bonus_points = -1;
       }},
      {"rules.campaigns[0].bonus_points",
       [&](auto& r) {
         r.campaigns = {campaign};
         r.campaigns[0].bonus_points = kCampaignBonusPointsMax + 1;
       }},
      {"rules.campaigns[0].categories",
       [&](auto& r) {
         r.campaigns = {campaign};
         r.campaigns[0].categories = std::vector<std::string>(kCampaignCategoriesMax + 1, "a");
       }},
      {"rules.campaigns[0].categories[2]",
       [&](auto& r) {
         r.campaigns = {campaign};
         r.campaigns[0].categories = {"a", "b", ""};
       }},
      {"rules.campaigns",
       [&](auto& r) {
         for (size_t i = 0; i <= kCampaignsMax; ++i) {
           r.campaigns.push_back(campaign);
           r.campaigns.back().id = absl::StrCat("c", i);
         }
       }},
      {"rules.min_order_minor", [](auto& r) { r.min_order_minor = -1; }},
      {"rules.min_order_minor", [](auto& r) { r.min_order_minor = kMinOrderMinorMax + 1; }},
      {"rules.cap_points_per_day", [](auto& r) { r.cap_points_per_day = -1; }},
      {"rules.cap_points_per_day", [](auto& r) { r.cap_points_per_day = kCapPointsMax + 1; }},
      {"rules.cap_points_per_month", [](auto& r) { r.cap_points_per_month = kCapPointsMax + 1; }},
      {"rules.activity_rules[0].points", [](auto& r) { r.activity_rules[0].points = 0; }},
      {"rules.activity_rules[0].points",
       [](auto& r) { r.activity_rules[0].points = kActivityPointsMax + 1; }},
      {"rules.activity_rules[1].limit_count",
       [](auto& r) { r.activity_rules[1].limit_count = -1; }},
      {"rules.activity_rules[1].limit_count",
       [](auto& r) { r.activity_rules[1].limit_count = kActivityLimitCountMax + 1; }},
      {"rules.activity_rules[2].limit_period",
       [](auto& r) { r.activity_rules[2].limit_period = LimitPeriod::kNone; }},
      {"rules.activity_rules[2].limit_period",
       [](auto& r) { r.activity_rules[2].limit_period = static_cast<LimitPeriod>(5); }},
      {"rules.activity_rules[0].type",
       [](auto& r) { r.activity_rules[0].type = static_cast<ActivityType>(0); }},
      {"rules.activity_rules[0].type",
       [](auto& r) { r.activity_rules[0].type = static_cast<ActivityType>(8); }},
      {"rules.activity_rules[0].custom_name",
       [](auto& r) { r.activity_rules[0].custom_name = "review"; }},
      {"rules.activity_rules[6].custom_name",
       [](auto& r) { r.activity_rules.push_back({.type = ActivityType::kCustom, .points = 10}); }},
      {"rules.activity_rules[6].custom_name",
       [](auto& r) {
         r.activity_rules.push_back(
             {.type = ActivityType::kCustom, .custom_name = "Photo Upload", .points = 10});
       }},
      {"rules.activity_rules[7].custom_name",
       [](auto& r) {
         r.activity_rules.push_back(
             {.type = ActivityType::kCustom, .custom_name = "photo", .points = 10});
         r.activity_rules.push_back(
             {.type = ActivityType::kCustom, .custom_name = "photo", .points = 20});
       }},
      {"rules.activity_rules[6].type",
       [](auto& r) { r.activity_rules.push_back({.type = ActivityType::kReview, .points = 5}); }},
      {"rules.activity_rules",
       [](auto& r) {
         r.activity_rules.clear();
         for (size_t i = 0; i <= kActivityRulesMax; ++i) {
           r.activity_rules.push_back(
               {.type = ActivityType::kCustom, .custom_name = absl::StrCat("a", i), .points = 1});
         }
       }},
      {"rules.excluded_categories[1]",
       [](auto& r) {
         r.excluded_categories = {"gift_card", ""};
       }},
      {"rules.excluded_categories",
       [](auto& r) { r.excluded_categories = std::vector<std::string>(kExclusionsMax + 1, "x"); }},
      {"rules.excluded_skus[0]", [](auto& r) { r.excluded_skus = {std::string(65, 's')}; }},
      {"rules.excluded_skus",
       [](auto& r) { r.excluded_skus = std::vector<std::string>(kExclusionsMax + 1, "x"); }},
      {"rules.pending_days", [](auto& r) { r.pending_days = -1; }},
      {"rules.pending_days", [](auto& r) { r.pending_days = kPendingDaysMax + 1; }},
      {"rules.expiry_months", [](auto& r) { r.expiry_months = -1; }},
      {"rules.expiry_months", [](auto& r) { r.expiry_months = kExpiryMonthsMax + 1; }},
  };
  for (const InvalidRulesCase& c : cases) {
    EarningRules rules = DefaultEarningRules();
    c.mutate(rules);
    EXPECT_TRUE(
        IsInvalidField(ValidateEarningRules(rules, "rules"), c.field, "INVALID_EARNING_RULES"))
        << c.field;
  }
}

TEST(ValidateEarningRules, EmptyPrefixGivesBareFieldNames) {
  EarningRules rules = DefaultEarningRules();
  rules.campaigns = {DoublePoints("weekend", At(2025, 6, 9), At(2025, 6, 7))};
  EXPECT_TRUE(IsInvalidField(ValidateEarningRules(rules, ""), "campaigns[0].end_time",
                             "INVALID_EARNING_RULES"));
}

// --- Purchase validation -------------------------------------------------------------------

TEST(ValidatePurchase, AcceptsTheLimits) {
  EXPECT_THAT(ValidatePurchase(ExtremeOrder()), IsOk());
  EXPECT_THAT(ValidatePurchase(Order(0, {Line(std::string(kSkuLengthMax, 's'),
                                              std::string(kCategoryLengthMax, 'c'), 1, 0)})),
              IsOk());
  EXPECT_THAT(ValidatePurchase(Order(0, {Line("A", "", 1, 0)})), IsOk());
}

TEST(ValidatePurchase, NamesTheOffendingField) {
  auto with_line = [](PurchaseLine line) {
    return Order(100, {Line("A", "a", 1, 100), Line("B", "b", 1, 100), Line("C", "c", 1, 100),
                       std::move(line)});
  };
  const std::vector<std::pair<std::string, Purchase>> cases = {
      {"total_minor", Order(-1, {})},
      {"total_minor", Order(kPurchaseTotalMinorMax + 1, {})},
      {"lines", Order(100, std::vector<PurchaseLine>(kPurchaseLinesMax + 1, Line("A", "", 1, 1)))},
      {"lines[3].quantity", with_line(Line("D", "d", 0, 100))},
      {"lines[3].quantity", with_line(Line("D", "d", kLineQuantityMax + 1, 100))},
      {"lines[3].sku", with_line(Line("", "d", 1, 100))},
      {"lines[3].sku", with_line(Line(std::string(kSkuLengthMax + 1, 's'), "d", 1, 100))},
      {"lines[3].category", with_line(Line("D", std::string(kCategoryLengthMax + 1, 'c'), 1, 1))},
      {"lines[3].unit_price_minor", with_line(Line("D", "d", 1, -1))},
      {"lines[3].unit_price_minor", with_line(Line("D", "d", 1, kUnitPriceMinorMax + 1))},
  };
  for (const auto& [field, purchase] : cases) {
    EXPECT_TRUE(IsInvalidField(ValidatePurchase(purchase), field, "INVALID_PURCHASE")) << field;
  }
}

// --- Activities ----------------------------------------------------------------------------

TEST(EarnActivity, FindsTheRuleForTypeAndCustomName) {
  EarningRules rules = DefaultEarningRules();
  rules.activity_rules.push_back(
      {.type = ActivityType::kCustom, .custom_name = "photo_upload", .points = 30});
  EXPECT_EQ(FindActivityRule(rules, ActivityType::kReview, "")->points, 50);
  EXPECT_EQ(FindActivityRule(rules, ActivityType::kCustom, "photo_upload")->points, 30);
  EXPECT_THAT(FindActivityRule(rules, ActivityType::kCustom, "video"),
              StatusIs(absl::StatusCode::kFailedPrecondition, "ACTIVITY_NOT_CONFIGURED"));
  EXPECT_THAT(FindActivityRule(rules, ActivityType::kReview, "photo_upload"),
              StatusIs(absl::StatusCode::kFailedPrecondition, "ACTIVITY_NOT_CONFIGURED"));
  rules.activity_rules.clear();
  const absl::StatusOr<ActivityRule> missing = FindActivityRule(rules, ActivityType::kBirthday, "");
  EXPECT_THAT(missing, StatusIs(absl::StatusCode::kFailedPrecondition, "ACTIVITY_NOT_CONFIGURED"));
  EXPECT_EQ(ErrorMetadataOf(missing.status()).at("type"), "ACTIVITY_TYPE_BIRTHDAY");
}

TEST(EarnActivity, AwardsTheRulePointsWithOneBreakdownItem) {
  const ActivityRule review{.type = ActivityType::kReview,
                            .points = 50,
                            .limit_count = 5,
                            .limit_period = LimitPeriod::kMonth};
  const absl::StatusOr<Evaluation> result = EvaluateActivity(review, 4);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->points, 50);
  EXPECT_THAT(result->breakdown, ElementsAre(FieldsAre("activity:review", "Product review", 50)));

  const ActivityRule follow{.type = ActivityType::kSocialFollow, .points = 25};
  EXPECT_THAT(EvaluateActivity(follow, 1'000'000)->breakdown,
              ElementsAre(Item("activity:social_follow", 25)));
  const ActivityRule signup{.type = ActivityType::kNewsletterSignup, .points = 50};
  EXPECT_THAT(EvaluateActivity(signup, 0)->breakdown,
              ElementsAre(Item("activity:newsletter_signup", 50)));
  const ActivityRule custom{
      .type = ActivityType::kCustom, .custom_name = "photo_upload", .points = 30};
  EXPECT_THAT(EvaluateActivity(custom, 0)->breakdown,
              ElementsAre(FieldsAre("activity:custom:photo_upload", "photo_upload", 30)));
}

TEST(EarnActivity, LimitReachedFailsWithTheLimitAndPeriod) {
  const ActivityRule review{.type = ActivityType::kReview,
                            .points = 50,
                            .limit_count = 5,
                            .limit_period = LimitPeriod::kMonth};
  const absl::StatusOr<Evaluation> result = EvaluateActivity(review, 5);
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kFailedPrecondition, "ACTIVITY_LIMIT_REACHED"));
  EXPECT_EQ(ErrorMetadataOf(result.status()),
            (ErrorMetadata{{"limit", "5"}, {"period", "LIMIT_PERIOD_MONTH"}}));
  EXPECT_THAT(EvaluateActivity(review, 6),
              StatusIs(absl::StatusCode::kFailedPrecondition, "ACTIVITY_LIMIT_REACHED"));
}

TEST(EarnActivity, LimitPeriodStartsAtUtcDayMonthAndYear) {
  const absl::Time t = At(2025, 3, 31, 23, 59, 59) + absl::Milliseconds(999);
  EXPECT_EQ(LimitPeriodStart(LimitPeriod::kDay, t), At(2025, 3, 31));
  EXPECT_EQ(LimitPeriodStart(LimitPeriod::kMonth, t), At(2025, 3, 1));
  EXPECT_EQ(LimitPeriodStart(LimitPeriod::kYear, t), At(2025, 1, 1));
  EXPECT_EQ(LimitPeriodStart(LimitPeriod::kLifetime, t), absl::InfinitePast());
  EXPECT_EQ(LimitPeriodStart(LimitPeriod::kNone, t), absl::InfinitePast());
  // The first instant of a period belongs to it.
  EXPECT_EQ(LimitPeriodStart(LimitPeriod::kDay, At(2025, 4, 1)), At(2025, 4, 1));
  EXPECT_EQ(LimitPeriodStart(LimitPeriod::kMonth, At(2025, 4, 1)), At(2025, 4, 1));
  EXPECT_EQ(LimitPeriodStart(LimitPeriod::kYear, At(2026, 1, 1)), At(2026, 1, 1));
  EXPECT_EQ(LimitPeriodStart(LimitPeriod::kMonth, At(2024, 2, 29, 12)), At(2024, 2, 1));
  EXPECT_EQ(LimitPeriodStart(LimitPeriod::kDay, absl::InfiniteFuture()), absl::InfiniteFuture());
}

// A member's awards of one rule, counted the way storage does: since the period start.
class AwardLog {
 public:
  explicit AwardLog(ActivityRule rule) : rule_(std::move(rule)) {}

  // Awards at `t` if the limit allows; returns whether it did.
  bool Try(absl::Time t) {
    const absl::Time start = LimitPeriodStart(rule_.limit_period, t);
    int64_t in_period = 0;
    for (absl::Time award : awards_) in_period += award >= start && award <= t ? 1 : 0;
    const absl::StatusOr<Evaluation> result = EvaluateActivity(rule_, in_period);
    if (!result.ok()) {
      EXPECT_THAT(result,
                  StatusIs(absl::StatusCode::kFailedPrecondition, "ACTIVITY_LIMIT_REACHED"));
      return false;
    }
    awards_.push_back(t);
    return true;
  }

 private:
  ActivityRule rule_;
  std::vector<absl::Time> awards_;
};

TEST(EarnActivity, DailyLimitResetsAtUtcMidnight) {
  AwardLog awards({.type = ActivityType::kReview,
                   .points = 10,
                   .limit_count = 2,
                   .limit_period = LimitPeriod::kDay});
  EXPECT_TRUE(awards.Try(At(2025, 3, 10, 8)));
  EXPECT_TRUE(awards.Try(At(2025, 3, 10, 9)));
  EXPECT_FALSE(awards.Try(At(2025, 3, 10, 23, 59, 59)));
  EXPECT_TRUE(awards.Try(At(2025, 3, 11)));
}

TEST(EarnActivity, MonthlyLimitResetsOnTheFirst) {
  AwardLog awards({.type = ActivityType::kReview,
                   .points = 50,
                   .limit_count = 1,
                   .limit_period = LimitPeriod::kMonth});
  EXPECT_TRUE(awards.Try(At(2025, 2, 1)));
  EXPECT_FALSE(awards.Try(At(2025, 2, 28, 23, 59, 59)));
  EXPECT_TRUE(awards.Try(At(2025, 3, 1)));
}

TEST(EarnActivity, BirthdayOncePerCalendarYear) {
  AwardLog awards({.type = ActivityType::kBirthday,
                   .points = 200,
                   .limit_count = 1,
                   .limit_period = LimitPeriod::kYear});
  EXPECT_TRUE(awards.Try(At(2025, 1, 1)));
  EXPECT_FALSE(awards.Try(At(2025, 12, 31, 23, 59, 59)));
  EXPECT_TRUE(awards.Try(At(2026, 1, 1)));
}

TEST(EarnActivity, LifetimeLimitNeverResets) {
  AwardLog awards({.type = ActivityType::kAppInstall,
                   .points = 100,
                   .limit_count = 1,
                   .limit_period = LimitPeriod::kLifetime});
  EXPECT_TRUE(awards.Try(At(2020, 1, 1)));
  EXPECT_FALSE(awards.Try(At(2020, 1, 2)));
  EXPECT_FALSE(awards.Try(At(2045, 1, 1)));
}

TEST(EarnActivity, ZeroLimitIsUnlimited) {
  AwardLog awards({.type = ActivityType::kReferral,
                   .points = 500,
                   .limit_count = 0,
                   .limit_period = LimitPeriod::kDay});
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(awards.Try(At(2025, 3, 10, 12) + absl::Seconds(i)));
}

// --- Refunds -------------------------------------------------------------------------------

TEST(RefundPoints, PartialRefundsSumToTheFullRefund) {
  // 100 points on 100.00, refunded as 30.00, 30.00 and 40.00.
  EXPECT_EQ(RefundPoints(100, 10000, 0, 0, 3000), 30);
  EXPECT_EQ(RefundPoints(100, 10000, 3000, 30, 3000), 30);
  EXPECT_EQ(RefundPoints(100, 10000, 6000, 60, 4000), 40);
}

TEST(RefundPoints, ThirdsOfAnUnevenOrderAddUpExactly) {
  // 100 points on 9.99 refunded in thirds: 33, 33, then the rest, 34.
  EXPECT_EQ(RefundPoints(100, 999, 0, 0, 333), 33);
  EXPECT_EQ(RefundPoints(100, 999, 333, 33, 333), 33);
  EXPECT_EQ(RefundPoints(100, 999, 666, 66, 333), 34);
  // 10 points on 0.03 refunded cent by cent: 3, 3, 4.
  EXPECT_EQ(RefundPoints(10, 3, 0, 0, 1), 3);
  EXPECT_EQ(RefundPoints(10, 3, 1, 3, 1), 3);
  EXPECT_EQ(RefundPoints(10, 3, 2, 6, 1), 4);
}

TEST(RefundPoints, FullRefundTakesBackWhatIsLeftAndNeverMore) {
  EXPECT_EQ(RefundPoints(100, 10000, 0, 0, 10000), 100);
  EXPECT_EQ(RefundPoints(100, 10000, 5000, 50, 5000), 50);
  EXPECT_EQ(RefundPoints(100, 10000, 10000, 100, 0), 0);
  EXPECT_EQ(RefundPoints(0, 10000, 0, 0, 10000), 0);
  // A zero total is fully refunded by any refund.
  EXPECT_EQ(RefundPoints(50, 0, 0, 0, 0), 50);
  // Reversals already ahead of the proportion give nothing back.
  EXPECT_EQ(RefundPoints(100, 1000, 100, 50, 100), 0);
}

TEST(RefundPoints, HugeOrdersDoNotOverflow) {
  constexpr int64_t kEarned = kPurchasePointsMax;
  constexpr int64_t kTotal = kPurchaseTotalMinorMax;
  EXPECT_EQ(RefundPoints(kEarned, kTotal, 0, 0, kTotal / 2), kEarned / 2);
  EXPECT_EQ(RefundPoints(kEarned, kTotal, kTotal / 2, kEarned / 2, kTotal / 2), kEarned / 2);
}

TEST(RefundPoints, RandomPartialRefundsNeverExceedTheEarnedPoints) {
  std::mt19937_64 random(7);
  for (int iteration = 0; iteration < 2000; ++iteration) {
    const int64_t total = std::uniform_int_distribution<int64_t>(1, 100000)(random);
    const int64_t earned = std::uniform_int_distribution<int64_t>(0, 5000)(random);
    int64_t refunded = 0;
    int64_t reversed = 0;
    while (refunded < total) {
      const int64_t refund = std::uniform_int_distribution<int64_t>(
          0, std::min<int64_t>(total - refunded, 997))(random);
      const int64_t points = RefundPoints(earned, total, refunded, reversed, refund);
      ASSERT_GE(points, 0);
      refunded += refund;
      reversed += points;
      ASSERT_LE(reversed, earned);
      ASSERT_EQ(reversed, refunded == total ? earned : earned * refunded / total);
    }
  }
}

TEST(RefundPointsDeathTest, RefundBeyondTheOrderIsAProgrammerError) {
  EXPECT_DEATH(RefundPoints(10, 100, 50, 5, 51), "LOYALTY_CHECK failed");
  EXPECT_DEATH(RefundPoints(10, 100, 0, 11, 10), "LOYALTY_CHECK failed");
}

}  // namespace
}  // namespace loyalty::points
