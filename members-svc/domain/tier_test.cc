#include "members-svc/domain/tier.h"

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "members-svc/domain/test_util.h"

namespace loyalty::members {
namespace {

using ::loyalty::members::testing::IsInvalidField;

constexpr int kBronze = 0;
constexpr int kSilver = 1;
constexpr int kGold = 2;
constexpr int kPlatinum = 3;

absl::Time At(int year, int month, int day, int hour = 0, int minute = 0, int second = 0) {
  return absl::FromCivil(absl::CivilSecond(year, month, day, hour, minute, second),
                         absl::UTCTimeZone());
}

// A member's qualifying activity, summed the way storage does: window (start, end].
class Activities {
 public:
  explicit Activities(TierPolicy policy) : policy_(policy) {}

  void Add(absl::Time occur_time, int64_t points) { entries_.emplace_back(occur_time, points); }

  int64_t InWindow(absl::Time window_end) {
    ++calls_;
    const absl::Time window_start = WindowStart(window_end, policy_);
    int64_t sum = 0;
    for (const auto& [time, points] : entries_) {
      if (time > window_start && time <= window_end) sum += points;
    }
    return sum;
  }

  int calls() const { return calls_; }

 private:
  TierPolicy policy_;
  std::vector<std::pair<absl::Time, int64_t>> entries_;
  int calls_ = 0;
};

class TierEvaluationTest : public ::testing::Test {
 protected:
  TierEvaluation Evaluate(TierState state, absl::Time now) {
    return EvaluateTier(ladder_, policy_, state, now,
                        [this](absl::Time end) { return activities_.InWindow(end); });
  }

  std::vector<TierDefinition> ladder_ = DefaultTierLadder();
  TierPolicy policy_{.window_months = 12, .downgrade_grace_days = 30};
  Activities activities_{policy_};
};

MATCHER_P4(IsChange, from, to, kind, at, "") {
  return arg.from_index == from && arg.to_index == to && arg.kind == kind && arg.at == at;
}

void ExpectState(const TierState& state, int tier_index, absl::Time period_start) {
  EXPECT_EQ(state.tier_index, tier_index);
  EXPECT_EQ(state.period_start, period_start);
}

// --- Upgrades ------------------------------------------------------------------------------

TEST_F(TierEvaluationTest, UpgradeIsImmediate) {
  const absl::Time now = At(2025, 3, 10, 15, 30);
  activities_.Add(now, 1200);
  const TierEvaluation result = Evaluate({kBronze, At(2025, 1, 1)}, now);
  ExpectState(result.state, kSilver, now);
  EXPECT_THAT(result.changes,
              ::testing::ElementsAre(IsChange(kBronze, kSilver, TierChangeKind::kUpgrade, now)));
}

TEST_F(TierEvaluationTest, ExactlyTheThresholdQualifies) {
  const absl::Time now = At(2025, 3, 10);
  activities_.Add(now, 999);
  EXPECT_EQ(Evaluate({kBronze, At(2025, 1, 1)}, now).state.tier_index, kBronze);
  activities_.Add(now, 1);
  EXPECT_EQ(Evaluate({kBronze, At(2025, 1, 1)}, now).state.tier_index, kSilver);
}

TEST_F(TierEvaluationTest, SeveralThresholdsAtOnceJumpToTheHighest) {
  const absl::Time now = At(2025, 3, 10);
  activities_.Add(At(2025, 2, 1), 3000);
  activities_.Add(now, 22000);
  const TierEvaluation result = Evaluate({kBronze, At(2025, 1, 1)}, now);
  ExpectState(result.state, kPlatinum, now);
  EXPECT_THAT(result.changes,
              ::testing::ElementsAre(IsChange(kBronze, kPlatinum, TierChangeKind::kUpgrade, now)));
}

TEST_F(TierEvaluationTest, UpgradeDuringAPeriodStartsANewPeriod) {
  activities_.Add(At(2025, 9, 1), 5000);
  const TierEvaluation result = Evaluate({kSilver, At(2025, 1, 1)}, At(2025, 9, 1));
  ExpectState(result.state, kGold, At(2025, 9, 1));
  // The new period runs a full window from the upgrade, not from the old period start.
  EXPECT_TRUE(Evaluate(result.state, At(2026, 8, 31)).changes.empty());
}

TEST_F(TierEvaluationTest, NoChangeWithoutEnoughPoints) {
  activities_.Add(At(2025, 3, 1), 4999);
  const TierEvaluation result = Evaluate({kSilver, At(2025, 1, 1)}, At(2025, 3, 1));
  ExpectState(result.state, kSilver, At(2025, 1, 1));
  EXPECT_TRUE(result.changes.empty());
}

TEST_F(TierEvaluationTest, UpgradeSeenAtAPassedPeriodEndTakesEffectThere) {
  // Points reported late: they made the member gold by the period end, which the evaluation
  // notices only afterwards.
  activities_.Add(At(2025, 12, 20), 6000);
  const TierEvaluation result = Evaluate({kSilver, At(2025, 1, 1)}, At(2026, 1, 10));
  ExpectState(result.state, kGold, At(2026, 1, 1));
  EXPECT_THAT(result.changes, ::testing::ElementsAre(IsChange(
                                  kSilver, kGold, TierChangeKind::kUpgrade, At(2026, 1, 1))));
}

// --- Renewals and downgrades ---------------------------------------------------------------

TEST_F(TierEvaluationTest, RenewsAtPeriodEndWhenPointsStillQualify) {
  activities_.Add(At(2025, 6, 1), 600);
  activities_.Add(At(2025, 11, 1), 600);
  const TierEvaluation result = Evaluate({kSilver, At(2025, 1, 1)}, At(2026, 1, 5));
  ExpectState(result.state, kSilver, At(2026, 1, 1));
  EXPECT_THAT(result.changes, ::testing::ElementsAre(IsChange(
                                  kSilver, kSilver, TierChangeKind::kRenewal, At(2026, 1, 1))));
}

TEST_F(TierEvaluationTest, PointsAtExactlyThePeriodEndCountForRenewal) {
  activities_.Add(At(2026, 1, 1), 1000);
  const TierEvaluation result = Evaluate({kSilver, At(2025, 1, 1)}, At(2026, 1, 1));
  ExpectState(result.state, kSilver, At(2026, 1, 1));
}

TEST_F(TierEvaluationTest, PointsAgeOutExactlyOneWindowLater) {
  // Earned at the period start, they no longer count in the window ending a window later.
  activities_.Add(At(2025, 1, 1), 1000);
  const TierEvaluation result = Evaluate({kSilver, At(2025, 1, 1)}, At(2026, 1, 1));
  ExpectState(result.state, kSilver, At(2025, 1, 1));  // in grace, not renewed
  EXPECT_TRUE(result.changes.empty());
}

TEST_F(TierEvaluationTest, NoDowngradeBeforeTheWindowEnds) {
  const TierEvaluation result = Evaluate({kGold, At(2025, 1, 1)}, At(2025, 12, 31, 23, 59, 59));
  ExpectState(result.state, kGold, At(2025, 1, 1));
  EXPECT_TRUE(result.changes.empty());
}

TEST_F(TierEvaluationTest, NoDowngradeDuringGrace) {
  const absl::Time grace_end = At(2026, 1, 1) + absl::Hours(24 * 30);
  const TierEvaluation result = Evaluate({kGold, At(2025, 1, 1)}, grace_end - absl::Seconds(1));
  ExpectState(result.state, kGold, At(2025, 1, 1));
  EXPECT_TRUE(result.changes.empty());
}

TEST_F(TierEvaluationTest, DowngradesAfterWindowAndGraceToTheTierThePointsSupport) {
  activities_.Add(At(2025, 6, 1), 1500);
  const absl::Time grace_end = At(2026, 1, 31);
  const TierEvaluation result = Evaluate({kGold, At(2025, 1, 1)}, grace_end);
  ExpectState(result.state, kSilver, grace_end);
  EXPECT_THAT(result.changes, ::testing::ElementsAre(
                                  IsChange(kGold, kSilver, TierChangeKind::kDowngrade, grace_end)));
}

TEST_F(TierEvaluationTest, DowngradeMaySkipRungs) {
  const TierEvaluation result = Evaluate({kPlatinum, At(2025, 1, 1)}, At(2026, 3, 1));
  ExpectState(result.state, kBronze, At(2026, 1, 31));
  EXPECT_THAT(result.changes,
              ::testing::ElementsAre(
                  IsChange(kPlatinum, kBronze, TierChangeKind::kDowngrade, At(2026, 1, 31))));
}

TEST_F(TierEvaluationTest, WithoutGraceDowngradesAtThePeriodEnd) {
  policy_.downgrade_grace_days = 0;
  activities_ = Activities(policy_);
  activities_.Add(At(2025, 6, 1), 1500);
  const TierEvaluation result = Evaluate({kGold, At(2025, 1, 1)}, At(2026, 1, 1));
  ExpectState(result.state, kSilver, At(2026, 1, 1));
  EXPECT_THAT(result.changes, ::testing::ElementsAre(IsChange(
                                  kGold, kSilver, TierChangeKind::kDowngrade, At(2026, 1, 1))));
}

TEST_F(TierEvaluationTest, RequalifyingDuringGracePreventsTheDowngrade) {
  activities_.Add(At(2025, 3, 1), 3000);
  // In grace (period ended 2026-01-01, grace ends 2026-01-31) the member earns again.
  activities_.Add(At(2026, 1, 10), 2500);
  const TierEvaluation during = Evaluate({kGold, At(2025, 1, 1)}, At(2026, 1, 10));
  ExpectState(during.state, kGold, At(2025, 1, 1));
  EXPECT_TRUE(during.changes.empty());

  const TierEvaluation after = Evaluate(during.state, At(2026, 2, 15));
  // Renewed as if the period never lapsed: the new period starts at the old period end.
  ExpectState(after.state, kGold, At(2026, 1, 1));
  EXPECT_THAT(after.changes, ::testing::ElementsAre(
                                 IsChange(kGold, kGold, TierChangeKind::kRenewal, At(2026, 1, 1))));
}

TEST_F(TierEvaluationTest, QualifyingForAHigherTierDuringGraceUpgradesAtOnce) {
  activities_.Add(At(2026, 1, 10), 21000);
  const TierEvaluation result = Evaluate({kGold, At(2025, 1, 1)}, At(2026, 1, 10));
  ExpectState(result.state, kPlatinum, At(2026, 1, 10));
  EXPECT_THAT(result.changes, ::testing::ElementsAre(IsChange(
                                  kGold, kPlatinum, TierChangeKind::kUpgrade, At(2026, 1, 10))));
}

TEST_F(TierEvaluationTest, HigherTierSeenAtGraceEndRenewsThenUpgrades) {
  // Reported late, so no evaluation ran during the grace.
  activities_.Add(At(2026, 1, 20), 21000);
  const TierEvaluation result = Evaluate({kGold, At(2025, 1, 1)}, At(2026, 3, 1));
  ExpectState(result.state, kPlatinum, At(2026, 1, 31));
  EXPECT_THAT(result.changes,
              ::testing::ElementsAre(
                  IsChange(kGold, kGold, TierChangeKind::kRenewal, At(2026, 1, 1)),
                  IsChange(kGold, kPlatinum, TierChangeKind::kUpgrade, At(2026, 1, 31))));
}

TEST_F(TierEvaluationTest, InactiveForThreeYearsDropsStepByStepAsThePointsSay) {
  activities_.Add(At(2023, 6, 1), 6000);
  activities_.Add(At(2024, 6, 1), 1500);
  const TierEvaluation result = Evaluate({kPlatinum, At(2023, 1, 1)}, At(2026, 6, 1));
  // 2024-01-01 ends the first period with 6000 points: gold after the grace (2024-01-31).
  // 2025-01-31 ends the next with 1500: silver after the grace (2025-03-02).
  // 2026-03-02 ends the next with none: bronze after the grace (2026-04-01).
  ExpectState(result.state, kBronze, At(2026, 4, 1));
  EXPECT_THAT(result.changes,
              ::testing::ElementsAre(
                  IsChange(kPlatinum, kGold, TierChangeKind::kDowngrade, At(2024, 1, 31)),
                  IsChange(kGold, kSilver, TierChangeKind::kDowngrade, At(2025, 3, 2)),
                  IsChange(kSilver, kBronze, TierChangeKind::kDowngrade, At(2026, 4, 1))));
  // Evaluating again at the same time changes nothing.
  EXPECT_TRUE(Evaluate(result.state, At(2026, 6, 1)).changes.empty());
}

TEST_F(TierEvaluationTest, CatchingUpOnceEqualsEvaluatingEveryDay) {
  activities_.Add(At(2023, 6, 1), 6000);
  activities_.Add(At(2024, 2, 1), 2000);
  activities_.Add(At(2024, 6, 1), 1500);
  activities_.Add(At(2025, 2, 20), 4000);
  const TierState start{kPlatinum, At(2023, 1, 1)};
  TierState daily = start;
  for (absl::Time now = start.period_start; now <= At(2026, 6, 1); now += absl::Hours(24)) {
    daily = Evaluate(daily, now).state;
  }
  const TierEvaluation once = Evaluate(start, At(2026, 6, 1));
  ExpectState(once.state, daily.tier_index, daily.period_start);
}

TEST_F(TierEvaluationTest, LowestTierSkipsElapsedPeriodsWithoutAskingForPoints) {
  const TierEvaluation result = Evaluate({kBronze, At(2023, 5, 10, 8)}, At(2026, 6, 1));
  ExpectState(result.state, kBronze, At(2026, 5, 10, 8));
  EXPECT_THAT(result.changes, ::testing::ElementsAre(IsChange(
                                  kBronze, kBronze, TierChangeKind::kRenewal, At(2026, 5, 10, 8))));
  EXPECT_EQ(activities_.calls(), 1);  // only the upgrade check at `now`
}

TEST_F(TierEvaluationTest, LowestTierUpgradesAfterSkippingPeriods) {
  activities_.Add(At(2026, 5, 30), 1000);
  const TierEvaluation result = Evaluate({kBronze, At(2023, 5, 10)}, At(2026, 6, 1));
  ExpectState(result.state, kSilver, At(2026, 6, 1));
  EXPECT_THAT(
      result.changes,
      ::testing::ElementsAre(IsChange(kBronze, kBronze, TierChangeKind::kRenewal, At(2026, 5, 10)),
                             IsChange(kBronze, kSilver, TierChangeKind::kUpgrade, At(2026, 6, 1))));
}

TEST_F(TierEvaluationTest, SkippingPeriodsClampsDaysLikeRenewingOneByOne) {
  for (const int window : {1, 5, 7, 12, 16, 48, 60}) {
    policy_.window_months = window;
    for (const absl::Time start :
         {At(2024, 1, 31, 10), At(2023, 1, 31, 10), At(2024, 2, 29), At(2023, 8, 30, 23, 59, 59),
          At(2000, 1, 31), At(2019, 12, 31), At(2025, 3, 28, 6)}) {
      for (const absl::Time now :
           {At(2024, 3, 1), At(2026, 5, 30, 12), At(2100, 3, 1), At(2431, 7, 31)}) {
        if (now < start) continue;
        absl::Time expected = start;
        while (AddMonths(expected, window) <= now) expected = AddMonths(expected, window);
        const TierEvaluation result = Evaluate({kBronze, start}, now);
        EXPECT_EQ(result.state.period_start, expected)
            << "window " << window << " start " << start << " now " << now;
      }
    }
  }
}

TEST_F(TierEvaluationTest, SkippingPeriodsKeepsSubseconds) {
  policy_.window_months = 1;
  const absl::Time start = At(2024, 1, 31, 10) + absl::Microseconds(123456);
  const TierEvaluation result = Evaluate({kBronze, start}, At(2025, 3, 1));
  EXPECT_EQ(result.state.period_start, At(2025, 2, 28, 10) + absl::Microseconds(123456));
}

TEST_F(TierEvaluationTest, StopsAfterTheStepLimitAndContinuesOnTheNextCall) {
  policy_.window_months = 1;
  policy_.downgrade_grace_days = 0;
  int calls = 0;
  auto always_platinum = [&calls](absl::Time) -> int64_t {
    ++calls;
    return 25000;
  };
  const absl::Time start = At(1900, 1, 1);
  const absl::Time now = At(2026, 1, 1);  // 1512 monthly periods later
  const TierEvaluation first =
      EvaluateTier(ladder_, policy_, {kPlatinum, start}, now, always_platinum);
  EXPECT_EQ(first.changes.size(), static_cast<size_t>(kTierEvaluationStepsMax));
  ExpectState(first.state, kPlatinum, AddMonths(start, kTierEvaluationStepsMax));
  EXPECT_LE(calls, 2 * kTierEvaluationStepsMax + 1);
  const TierEvaluation second = EvaluateTier(ladder_, policy_, first.state, now, always_platinum);
  ExpectState(second.state, kPlatinum, now);
}

TEST_F(TierEvaluationTest, NowBeforeThePeriodStartChangesNothing) {
  activities_.Add(At(2025, 1, 1), 50000);
  const TierEvaluation result = Evaluate({kSilver, At(2025, 6, 1)}, At(2025, 1, 1));
  ExpectState(result.state, kSilver, At(2025, 6, 1));
  EXPECT_TRUE(result.changes.empty());
  EXPECT_EQ(activities_.calls(), 0);
}

TEST(TierEvaluation, TierIndexOutsideTheLadderIsAProgrammerError) {
  const std::vector<TierDefinition> ladder = DefaultTierLadder();
  EXPECT_DEATH(EvaluateTier(ladder, TierPolicy{12, 0}, {7, At(2025, 1, 1)}, At(2025, 2, 1),
                            [](absl::Time) -> int64_t { return 0; }),
               "LOYALTY_CHECK");
}

// --- Calendar ------------------------------------------------------------------------------

TEST(TierEvaluation, AddMonthsClampsToTheEndOfShorterMonths) {
  EXPECT_EQ(AddMonths(At(2025, 1, 31, 9, 15), 1), At(2025, 2, 28, 9, 15));
  EXPECT_EQ(AddMonths(At(2024, 1, 31), 1), At(2024, 2, 29));
  EXPECT_EQ(AddMonths(At(2024, 2, 29), 12), At(2025, 2, 28));
  EXPECT_EQ(AddMonths(At(2024, 2, 29), 48), At(2028, 2, 29));
  EXPECT_EQ(AddMonths(At(2025, 3, 31), -1), At(2025, 2, 28));
  EXPECT_EQ(AddMonths(At(2025, 5, 31), 1), At(2025, 6, 30));
  EXPECT_EQ(AddMonths(At(2025, 12, 15), 2), At(2026, 2, 15));
  EXPECT_EQ(AddMonths(At(2025, 1, 15), -13), At(2023, 12, 15));
  EXPECT_EQ(AddMonths(At(2025, 1, 15), 0), At(2025, 1, 15));
}

TEST(TierEvaluation, AddMonthsKeepsSubsecondsAndInfinity) {
  const absl::Time t = At(2025, 1, 31, 23, 59, 59) + absl::Microseconds(999999);
  EXPECT_EQ(AddMonths(t, 1), At(2025, 2, 28, 23, 59, 59) + absl::Microseconds(999999));
  EXPECT_EQ(AddMonths(absl::InfiniteFuture(), 1), absl::InfiniteFuture());
  EXPECT_EQ(AddMonths(absl::InfinitePast(), -1), absl::InfinitePast());
}

TEST(TierEvaluation, RenewalsDriftToTheClampedDay) {
  // Each renewal starts where the previous period ended: Jan 31, Feb 28, Mar 28.
  const absl::Time first_end = AddMonths(At(2025, 1, 31), 1);
  EXPECT_EQ(first_end, At(2025, 2, 28));
  EXPECT_EQ(AddMonths(first_end, 1), At(2025, 3, 28));
}

TEST(TierEvaluation, WindowStartIsWindowMonthsBefore) {
  EXPECT_EQ(WindowStart(At(2026, 3, 31, 12), TierPolicy{.window_months = 13}), At(2025, 2, 28, 12));
  EXPECT_EQ(WindowStart(At(2026, 1, 1), TierPolicy{.window_months = 12}), At(2025, 1, 1));
}

TEST(TierEvaluation, MonthEndPeriodsRenewAtTheClampedDay) {
  std::vector<TierDefinition> ladder = DefaultTierLadder();
  const TierPolicy policy{.window_months = 1, .downgrade_grace_days = 0};
  const TierEvaluation result =
      EvaluateTier(ladder, policy, {kSilver, At(2025, 1, 31)}, At(2025, 3, 1),
                   [](absl::Time) -> int64_t { return 1000; });
  ExpectState(result.state, kSilver, At(2025, 2, 28));
  EXPECT_THAT(result.changes, ::testing::ElementsAre(IsChange(
                                  kSilver, kSilver, TierChangeKind::kRenewal, At(2025, 2, 28))));
}

// --- Points to tiers -----------------------------------------------------------------------

TEST(TierEvaluation, TierForPointsPicksTheHighestThresholdReached) {
  const std::vector<TierDefinition> ladder = DefaultTierLadder();
  EXPECT_EQ(TierForPoints(ladder, -500), kBronze);
  EXPECT_EQ(TierForPoints(ladder, 0), kBronze);
  EXPECT_EQ(TierForPoints(ladder, 999), kBronze);
  EXPECT_EQ(TierForPoints(ladder, 1000), kSilver);
  EXPECT_EQ(TierForPoints(ladder, 4999), kSilver);
  EXPECT_EQ(TierForPoints(ladder, 5000), kGold);
  EXPECT_EQ(TierForPoints(ladder, 20000), kPlatinum);
  EXPECT_EQ(TierForPoints(ladder, INT64_MAX), kPlatinum);
}

// --- Ladder and policy validation ----------------------------------------------------------

TEST(TierEvaluation, DefaultLadderIsValid) {
  const std::vector<TierDefinition> ladder = DefaultTierLadder();
  EXPECT_TRUE(ValidateTierLadder(ladder, "program.tiers").ok());
  ASSERT_EQ(ladder.size(), 4u);
  EXPECT_EQ(ladder[kGold].code, "gold");
  EXPECT_EQ(ladder[kGold].threshold_points, 5000);
  EXPECT_EQ(ladder[kPlatinum].earn_multiplier_percent, 200);
  for (const TierDefinition& tier : ladder) {
    EXPECT_GE(tier.benefits.size(), 1u);
    EXPECT_LE(tier.benefits.size(), 3u);
  }
}

TEST(TierEvaluation, LadderValidationNamesTheOffendingField) {
  struct Case {
    std::string name;
    std::function<void(std::vector<TierDefinition>&)> mutate;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"no tiers", [](auto& l) { l.clear(); }, "program.tiers"},
      {"21 tiers",
       [](auto& l) {
         l.clear();
         for (int i = 0; i < 21; ++i) {
           l.push_back({.code = "t" + std::to_string(i),
                        .display_name = "T",
                        .threshold_points = i * 10,
                        .earn_multiplier_percent = 100,
                        .benefits = {}});
         }
       },
       "program.tiers"},
      {"first threshold not 0", [](auto& l) { l[0].threshold_points = 10; },
       "program.tiers[0].threshold_points"},
      {"equal thresholds", [](auto& l) { l[2].threshold_points = 1000; },
       "program.tiers[2].threshold_points"},
      {"falling thresholds", [](auto& l) { l[3].threshold_points = 100; },
       "program.tiers[3].threshold_points"},
      {"huge threshold", [](auto& l) { l[3].threshold_points = kTierThresholdPointsMax + 1; },
       "program.tiers[3].threshold_points"},
      {"duplicate code", [](auto& l) { l[2].code = "silver"; }, "program.tiers[2].code"},
      {"empty code", [](auto& l) { l[1].code = ""; }, "program.tiers[1].code"},
      {"uppercase code", [](auto& l) { l[1].code = "Silver"; }, "program.tiers[1].code"},
      {"code starting with '-'", [](auto& l) { l[1].code = "-silver"; }, "program.tiers[1].code"},
      {"code of 33 characters", [](auto& l) { l[1].code = std::string(33, 'a'); },
       "program.tiers[1].code"},
      {"empty display name", [](auto& l) { l[3].display_name = ""; },
       "program.tiers[3].display_name"},
      {"display name of 65 characters", [](auto& l) { l[0].display_name = std::string(65, 'x'); },
       "program.tiers[0].display_name"},
      {"display name with a newline", [](auto& l) { l[0].display_name = "Bron\nze"; },
       "program.tiers[0].display_name"},
      {"display name not UTF-8", [](auto& l) { l[0].display_name = "Bron\xffze"; },
       "program.tiers[0].display_name"},
      {"multiplier 99", [](auto& l) { l[0].earn_multiplier_percent = 99; },
       "program.tiers[0].earn_multiplier_percent"},
      {"multiplier 1001", [](auto& l) { l[3].earn_multiplier_percent = 1001; },
       "program.tiers[3].earn_multiplier_percent"},
      {"21 benefits",
       [](auto& l) {
         l[1].benefits.clear();
         for (int i = 0; i < 21; ++i) {
           l[1].benefits.push_back({.code = "B" + std::to_string(i), .description = "d"});
         }
       },
       "program.tiers[1].benefits"},
      {"lowercase benefit code", [](auto& l) { l[1].benefits[1].code = "early_access"; },
       "program.tiers[1].benefits[1].code"},
      {"benefit code starting with a digit", [](auto& l) { l[1].benefits[0].code = "1FREE"; },
       "program.tiers[1].benefits[0].code"},
      {"benefit code of 65 characters",
       [](auto& l) { l[2].benefits[2].code = std::string(65, 'A'); },
       "program.tiers[2].benefits[2].code"},
      {"duplicate benefit code", [](auto& l) { l[2].benefits[1].code = l[2].benefits[0].code; },
       "program.tiers[2].benefits[1].code"},
      {"empty benefit description", [](auto& l) { l[0].benefits[0].description = ""; },
       "program.tiers[0].benefits[0].description"},
      {"benefit description of 501 characters",
       [](auto& l) { l[0].benefits[1].description = std::string(501, 'd'); },
       "program.tiers[0].benefits[1].description"},
  };
  for (const Case& c : cases) {
    std::vector<TierDefinition> ladder = DefaultTierLadder();
    c.mutate(ladder);
    EXPECT_TRUE(
        IsInvalidField(ValidateTierLadder(ladder, "program.tiers"), c.field, "INVALID_TIER_LADDER"))
        << c.name;
  }
}

TEST(TierEvaluation, LadderValidationAcceptsTheLimits) {
  std::vector<TierDefinition> ladder;
  for (int i = 0; i < kTiersMax; ++i) {
    TierDefinition tier{.code = "tier_" + std::to_string(i),
                        .display_name = "",
                        .threshold_points = i == kTiersMax - 1 ? kTierThresholdPointsMax : i,
                        .earn_multiplier_percent = i == 0 ? 100 : 1000,
                        .benefits = {}};
    for (int b = 0; b < kTierBenefitsMax; ++b) {
      tier.benefits.push_back({.code = "B_" + std::to_string(b),
                               .description = std::string(kTierBenefitDescriptionCharsMax, 'd')});
    }
    // 64 two-byte characters: the limit counts characters, not bytes.
    for (size_t c = 0; c < kTierDisplayNameCharsMax; ++c) tier.display_name += "\xc3\xa9";
    ladder.push_back(std::move(tier));
  }
  ladder[1].code = std::string(kTierCodeLengthMax, 'z');
  ladder[2].benefits[0].code = "A" + std::string(kTierBenefitCodeLengthMax - 1, '_');
  EXPECT_TRUE(ValidateTierLadder(ladder, "program.tiers").ok());
}

TEST(TierEvaluation, PolicyValidationNamesTheOffendingField) {
  EXPECT_TRUE(ValidateTierPolicy({.window_months = 1, .downgrade_grace_days = 0}).ok());
  EXPECT_TRUE(ValidateTierPolicy({.window_months = 60, .downgrade_grace_days = 365}).ok());
  EXPECT_TRUE(IsInvalidField(ValidateTierPolicy({.window_months = 0, .downgrade_grace_days = 0}),
                             "program.tier_window_months", "INVALID_TIER_POLICY"));
  EXPECT_TRUE(IsInvalidField(ValidateTierPolicy({.window_months = 61, .downgrade_grace_days = 0}),
                             "program.tier_window_months", "INVALID_TIER_POLICY"));
  EXPECT_TRUE(IsInvalidField(ValidateTierPolicy({.window_months = 12, .downgrade_grace_days = -1}),
                             "program.downgrade_grace_days", "INVALID_TIER_POLICY"));
  EXPECT_TRUE(
      IsInvalidField(ValidateTierPolicy({.window_months = 12, .downgrade_grace_days = 366}, "p"),
                     "p.downgrade_grace_days", "INVALID_TIER_POLICY"));
}

// --- Progress ------------------------------------------------------------------------------

class TierProgressTest : public ::testing::Test {
 protected:
  TierProgress Progress(int tier_index, int64_t points) {
    return ComputeTierProgress(ladder_, policy_, {tier_index, At(2025, 1, 31)}, At(2025, 6, 1),
                               points);
  }

  std::vector<TierDefinition> ladder_ = DefaultTierLadder();
  TierPolicy policy_{.window_months = 12, .downgrade_grace_days = 30};
};

TEST_F(TierProgressTest, PercentRunsFromTheCurrentToTheNextThreshold) {
  const TierProgress progress = Progress(kSilver, 3000);
  EXPECT_EQ(progress.current_index, kSilver);
  EXPECT_EQ(progress.next_index, kGold);
  EXPECT_EQ(progress.qualifying_points, 3000);
  EXPECT_EQ(progress.points_to_next, 2000);
  EXPECT_DOUBLE_EQ(progress.progress_percent, 50.0);
  EXPECT_EQ(progress.period_start, At(2025, 1, 31));
  EXPECT_EQ(progress.window_reset, At(2026, 1, 31));
  EXPECT_FALSE(progress.downgrade_at.has_value());
  EXPECT_FALSE(progress.downgrade_index.has_value());
}

TEST_F(TierProgressTest, PercentAtTheEdges) {
  EXPECT_DOUBLE_EQ(Progress(kBronze, 0).progress_percent, 0.0);
  EXPECT_DOUBLE_EQ(Progress(kBronze, 250).progress_percent, 25.0);
  EXPECT_DOUBLE_EQ(Progress(kGold, 5000).progress_percent, 0.0);
  EXPECT_DOUBLE_EQ(Progress(kGold, 12500).progress_percent, 50.0);
  // Not yet evaluated past the next threshold: capped, nothing left to earn.
  EXPECT_DOUBLE_EQ(Progress(kSilver, 9000).progress_percent, 100.0);
  EXPECT_EQ(Progress(kSilver, 9000).points_to_next, 0);
  // Below the current threshold (in grace, or after refunds): 0%, never negative.
  EXPECT_DOUBLE_EQ(Progress(kGold, 100).progress_percent, 0.0);
  EXPECT_DOUBLE_EQ(Progress(kBronze, -300).progress_percent, 0.0);
  EXPECT_EQ(Progress(kBronze, -300).points_to_next, 1300);
  EXPECT_EQ(Progress(kBronze, INT64_MIN).points_to_next, INT64_MAX);
}

TEST_F(TierProgressTest, TopTierIsAlwaysOneHundredPercent) {
  const TierProgress progress = Progress(kPlatinum, 25000);
  EXPECT_EQ(progress.current_index, kPlatinum);
  EXPECT_FALSE(progress.next_index.has_value());
  EXPECT_EQ(progress.points_to_next, 0);
  EXPECT_DOUBLE_EQ(progress.progress_percent, 100.0);
}

TEST_F(TierProgressTest, ShowsTheComingDowngradeWhenPointsFallShort) {
  const TierProgress progress = Progress(kGold, 1500);
  ASSERT_TRUE(progress.downgrade_at.has_value());
  EXPECT_EQ(*progress.downgrade_at, At(2026, 3, 2));  // 2026-01-31 + 30 days
  EXPECT_EQ(progress.downgrade_index, kSilver);
  EXPECT_EQ(Progress(kPlatinum, 10).downgrade_index, kBronze);
}

TEST_F(TierProgressTest, NoDowngradeWhenPointsHoldTheTierOrAtTheBottom) {
  EXPECT_FALSE(Progress(kGold, 5000).downgrade_at.has_value());
  EXPECT_FALSE(Progress(kBronze, -300).downgrade_at.has_value());
}

}  // namespace
}  // namespace loyalty::members
