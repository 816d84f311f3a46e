#pragma once

// The redemption saga's decisions and the voucher and punch card rules, pure (std + absl).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "rewards-svc/domain/reward.h"

namespace loyalty::rewards {

// Values match loyalty.rewards.v1.RedemptionStatus.
enum class RedemptionStatus {
  kUnspecified = 0,
  kPending = 1,
  kCompleted = 2,
  kFailed = 3,
  kCancelled = 4
};

// Where a redemption's points stand on points-svc, as rewards-svc last confirmed it. A decided
// redemption (COMPLETED, FAILED, CANCELLED) whose points state is not yet the one its status
// wants is settled by the recovery loop: COMPLETED wants CAPTURED, FAILED wants no open hold
// (NONE or RELEASED), CANCELLED wants REFUNDED (or RELEASED when it was never captured).
enum class PointsState { kNone = 0, kHeld = 1, kCaptured = 2, kReleased = 3, kRefunded = 4 };

// Values match loyalty.points.v1.HoldStatus.
enum class HoldStatus {
  kUnspecified = 0,
  kOpen = 1,
  kCaptured = 2,
  kVoided = 3,
  kExpired = 4,
  kRefunded = 5
};

// Values match loyalty.rewards.v1.VoucherStatus and FulfilmentStatus.
enum class VoucherStatus { kUnspecified = 0, kActive = 1, kUsed = 2, kCancelled = 3 };
enum class Fulfilment { kUnspecified = 0, kRequested = 1, kShipped = 2, kDelivered = 3 };

// Whether a PENDING redemption whose hold points-svc reports as (`status`, `expire_time`) may
// complete: when the points are spent (CAPTURED, as the saga makes its holds), or when the hold
// is open (made by an earlier version without capture) and outlives `now + margin`, so the
// capture that comes first cannot find it expired. Anything else compensates.
bool MayComplete(HoldStatus status, absl::Time expire_time, absl::Time now, absl::Duration margin);

struct VoucherState {
  VoucherStatus status = VoucherStatus::kUnspecified;
  int64_t balance_minor = 0;
  // GIFT_CARD: the value it was issued with (a partly spent card counts as used).
  int64_t value_minor = 0;
};

// OK when a redemption may be cancelled: COMPLETED, not a donation, an experience not yet
// shipped, and its voucher untouched. FAILED_PRECONDITION with NOT_CANCELLABLE or
// VOUCHER_ALREADY_USED otherwise.
absl::Status CheckCancellable(RedemptionStatus status, RewardKind kind, Fulfilment fulfilment,
                              const VoucherState& voucher);

// OK when an experience may move from `from` to `to` (forward only); FAILED_PRECONDITION
// INVALID_FULFILMENT_TRANSITION otherwise.
absl::Status CheckFulfilmentTransition(Fulfilment from, Fulfilment to);

// OK when the voucher can be used at `now`: FAILED_PRECONDITION VOUCHER_ALREADY_USED (used, or
// a gift card with no value left), VOUCHER_CANCELLED, VOUCHER_EXPIRED.
absl::Status CheckVoucherUsable(const VoucherState& voucher, absl::Time expire_time,
                                absl::Time now);

// One line of a purchase as punch cards see it.
struct StampLine {
  std::string sku;
  std::string category;
  int64_t quantity = 0;
};

// A punch card's qualifying rule: exactly one of sku and category is set.
struct PunchCardRule {
  std::string sku;
  std::string category;
  int32_t stamps_needed = 0;
};

inline constexpr int32_t kStampsNeededMin = 2;
inline constexpr int32_t kStampsNeededMax = 100;

// An order qualifies when one of its lines with quantity >= 1 matches the rule.
bool OrderQualifies(const PunchCardRule& rule, const std::vector<StampLine>& lines);

struct StampOutcome {
  // Stamps on the member's card after this one (0 when it filled the card).
  int32_t stamps = 0;
  bool card_filled = false;
};

// Adds one stamp to a card holding `stamps`.
StampOutcome AddStamp(const PunchCardRule& rule, int32_t stamps);

}  // namespace loyalty::rewards
