#include "points-svc/domain/ledger.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loyalty::points {
namespace {

using ::testing::ElementsAre;
using ::testing::FieldsAre;

TEST(Posting, MergesEntriesPerAccountAndDropsZeros) {
  Posting posting;
  posting.Move("", Account::kIssued, "m1", Account::kAvailable, 100)
      .Move("m1", Account::kAvailable, "", Account::kIssued, 100)
      .Move("", Account::kIssued, "m1", Account::kPending, 5);
  EXPECT_TRUE(posting.balanced());
  EXPECT_THAT(posting.entries(), ElementsAre(FieldsAre("", Account::kIssued, -5),
                                             FieldsAre("m1", Account::kPending, 5)));
}

TEST(Posting, UnbalancedWhenEntriesDoNotSumToZero) {
  Posting posting;
  posting.Add("m1", Account::kAvailable, 10);
  EXPECT_FALSE(posting.balanced());
}

TEST(DeltaFor, DebtIsStoredAsTheAmountOwed) {
  Posting refund;
  refund.Add("m1", Account::kAvailable, -30)
      .Add("m1", Account::kDebt, -20)
      .Add("", Account::kIssued, 50);
  const BalanceDelta delta = DeltaFor(refund, "m1");
  EXPECT_EQ(delta.available, -30);
  EXPECT_EQ(delta.debt, 20);
  EXPECT_EQ(DeltaFor(refund, "m2").available, 0);
}

TEST(AllocateFromLots, TakesInOrderUntilTheAmountIsCovered) {
  const std::vector<Lot> lots = {{1, 30, absl::FromUnixSeconds(10)},
                                 {2, 50, absl::FromUnixSeconds(20)},
                                 {3, 40, std::nullopt}};
  auto takes = AllocateFromLots(lots, 60);
  ASSERT_TRUE(takes.has_value());
  EXPECT_THAT(*takes, ElementsAre(FieldsAre(1, 30), FieldsAre(2, 30)));
  EXPECT_EQ(AllocateFromLots(lots, 121), std::nullopt);
  EXPECT_TRUE(AllocateFromLots(lots, 0)->empty());
}

TEST(SplitCredit, PaysDebtFirst) {
  EXPECT_THAT(SplitCredit(100, 30), FieldsAre(30, 70));
  EXPECT_THAT(SplitCredit(20, 30), FieldsAre(20, 0));
  EXPECT_THAT(SplitCredit(20, 0), FieldsAre(0, 20));
}

}  // namespace
}  // namespace loyalty::points
