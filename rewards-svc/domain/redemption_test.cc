#include "rewards-svc/domain/redemption.h"

#include "common/testkit/status_matchers.h"
#include "gtest/gtest.h"

namespace loyalty::rewards {
namespace {

using ::loyalty::testkit::IsOk;
using ::loyalty::testkit::StatusIs;
using C = absl::StatusCode;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

TEST(MayComplete, OnlyAnOpenHoldThatOutlivesTheMargin) {
  const absl::Duration margin = absl::Seconds(30);
  EXPECT_TRUE(MayComplete(HoldStatus::kOpen, kNow + absl::Minutes(5), kNow, margin));
  EXPECT_FALSE(MayComplete(HoldStatus::kOpen, kNow + absl::Seconds(10), kNow, margin));
  EXPECT_FALSE(MayComplete(HoldStatus::kVoided, kNow + absl::Minutes(5), kNow, margin));
  EXPECT_FALSE(MayComplete(HoldStatus::kExpired, kNow - absl::Minutes(5), kNow, margin));
  EXPECT_TRUE(MayComplete(HoldStatus::kCaptured, kNow - absl::Minutes(5), kNow, margin));
}

TEST(CheckCancellable, NeedsACompletedRedemptionWithAnUntouchedVoucher) {
  const VoucherState fresh{.status = VoucherStatus::kActive, .balance_minor = 0};
  EXPECT_THAT(CheckCancellable(RedemptionStatus::kCompleted, RewardKind::kDiscountFixed,
                               Fulfilment::kUnspecified, fresh),
              IsOk());
  EXPECT_THAT(CheckCancellable(RedemptionStatus::kCompleted, RewardKind::kDiscountFixed,
                               Fulfilment::kUnspecified, {.status = VoucherStatus::kUsed}),
              StatusIs(C::kFailedPrecondition, "VOUCHER_ALREADY_USED"));
  EXPECT_THAT(CheckCancellable(
                  RedemptionStatus::kCompleted, RewardKind::kGiftCard, Fulfilment::kUnspecified,
                  {.status = VoucherStatus::kActive, .balance_minor = 400, .value_minor = 500}),
              StatusIs(C::kFailedPrecondition, "VOUCHER_ALREADY_USED"));
  EXPECT_THAT(CheckCancellable(RedemptionStatus::kFailed, RewardKind::kDiscountFixed,
                               Fulfilment::kUnspecified, fresh),
              StatusIs(C::kFailedPrecondition, "NOT_CANCELLABLE"));
  EXPECT_THAT(CheckCancellable(RedemptionStatus::kCompleted, RewardKind::kDonation,
                               Fulfilment::kUnspecified, {}),
              StatusIs(C::kFailedPrecondition, "NOT_CANCELLABLE"));
  EXPECT_THAT(CheckCancellable(RedemptionStatus::kCompleted, RewardKind::kExperience,
                               Fulfilment::kShipped, fresh),
              StatusIs(C::kFailedPrecondition, "NOT_CANCELLABLE"));
}

TEST(CheckFulfilmentTransition, MovesForwardOnly) {
  EXPECT_THAT(CheckFulfilmentTransition(Fulfilment::kRequested, Fulfilment::kShipped), IsOk());
  EXPECT_THAT(CheckFulfilmentTransition(Fulfilment::kRequested, Fulfilment::kDelivered), IsOk());
  EXPECT_THAT(CheckFulfilmentTransition(Fulfilment::kShipped, Fulfilment::kRequested),
              StatusIs(C::kFailedPrecondition, "INVALID_FULFILMENT_TRANSITION"));
  EXPECT_THAT(CheckFulfilmentTransition(Fulfilment::kUnspecified, Fulfilment::kShipped),
              StatusIs(C::kFailedPrecondition, "INVALID_FULFILMENT_TRANSITION"));
}

TEST(CheckVoucherUsable, RefusesUsedCancelledAndExpired) {
  const VoucherState active{.status = VoucherStatus::kActive};
  EXPECT_THAT(CheckVoucherUsable(active, kNow + absl::Seconds(1), kNow), IsOk());
  EXPECT_THAT(CheckVoucherUsable(active, kNow, kNow),
              StatusIs(C::kFailedPrecondition, "VOUCHER_EXPIRED"));
  EXPECT_THAT(CheckVoucherUsable({.status = VoucherStatus::kUsed}, kNow + absl::Hours(1), kNow),
              StatusIs(C::kFailedPrecondition, "VOUCHER_ALREADY_USED"));
  EXPECT_THAT(
      CheckVoucherUsable({.status = VoucherStatus::kCancelled}, kNow + absl::Hours(1), kNow),
      StatusIs(C::kFailedPrecondition, "VOUCHER_CANCELLED"));
}

TEST(PunchCard, QualifyingOrdersFillTheCardOnTheLastStamp) {
  const PunchCardRule coffee{.category = "coffee", .stamps_needed = 5};
  EXPECT_TRUE(OrderQualifies(coffee, {{.sku = "A", .category = "coffee", .quantity = 1}}));
  EXPECT_FALSE(OrderQualifies(coffee, {{.sku = "A", .category = "tea", .quantity = 3}}));
  EXPECT_FALSE(OrderQualifies(coffee, {{.sku = "A", .category = "coffee", .quantity = 0}}));
  const PunchCardRule mug{.sku = "MUG", .stamps_needed = 2};
  EXPECT_TRUE(OrderQualifies(mug, {{.sku = "MUG", .category = "x", .quantity = 1}}));
  int32_t stamps = 0;
  for (int i = 1; i <= 4; ++i) {
    const StampOutcome outcome = AddStamp(coffee, stamps);
    EXPECT_FALSE(outcome.card_filled);
    stamps = outcome.stamps;
  }
  EXPECT_EQ(stamps, 4);
  EXPECT_TRUE(AddStamp(coffee, stamps).card_filled);
  EXPECT_EQ(AddStamp(coffee, stamps).stamps, 0);
}

}  // namespace
}  // namespace loyalty::rewards
