#include "rewards-svc/domain/redemption.h"

#include <algorithm>

#include "common/status/error.h"

namespace loyalty::rewards {

bool MayComplete(HoldStatus status, absl::Time expire_time, absl::Time now, absl::Duration margin) {
  if (status == HoldStatus::kCaptured) return true;
  return status == HoldStatus::kOpen && expire_time > now + margin;
}

absl::Status CheckCancellable(RedemptionStatus status, RewardKind kind, Fulfilment fulfilment,
                              const VoucherState& voucher) {
  const auto refuse = [](std::string_view reason, std::string_view message) {
    return ErrorWithReason(absl::StatusCode::kFailedPrecondition, reason, message);
  };
  if (status != RedemptionStatus::kCompleted) {
    return refuse("NOT_CANCELLABLE", "only a COMPLETED redemption can be cancelled");
  }
  if (kind == RewardKind::kDonation) {
    return refuse("NOT_CANCELLABLE", "a donation is given away on redemption");
  }
  if (kind == RewardKind::kExperience && fulfilment != Fulfilment::kRequested) {
    return refuse("NOT_CANCELLABLE", "the experience was already shipped");
  }
  const bool touched =
      voucher.status == VoucherStatus::kUsed ||
      (kind == RewardKind::kGiftCard && voucher.balance_minor < voucher.value_minor);
  if (touched) return refuse("VOUCHER_ALREADY_USED", "the voucher was used");
  if (voucher.status != VoucherStatus::kActive) {
    return refuse("NOT_CANCELLABLE", "the voucher is not active");
  }
  return absl::OkStatus();
}

absl::Status CheckFulfilmentTransition(Fulfilment from, Fulfilment to) {
  if (from == Fulfilment::kUnspecified || static_cast<int>(to) <= static_cast<int>(from) ||
      static_cast<int>(to) > static_cast<int>(Fulfilment::kDelivered)) {
    return ErrorWithReason(absl::StatusCode::kFailedPrecondition, "INVALID_FULFILMENT_TRANSITION",
                           "fulfilment moves forward only: REQUESTED, SHIPPED, DELIVERED");
  }
  return absl::OkStatus();
}

absl::Status CheckVoucherUsable(const VoucherState& voucher, absl::Time expire_time,
                                absl::Time now) {
  if (voucher.status == VoucherStatus::kUsed) {
    return ErrorWithReason(absl::StatusCode::kFailedPrecondition, "VOUCHER_ALREADY_USED",
                           "the voucher was already used");
  }
  if (voucher.status == VoucherStatus::kCancelled) {
    return ErrorWithReason(absl::StatusCode::kFailedPrecondition, "VOUCHER_CANCELLED",
                           "the voucher's redemption was cancelled");
  }
  if (now >= expire_time) {
    return ErrorWithReason(absl::StatusCode::kFailedPrecondition, "VOUCHER_EXPIRED",
                           "the voucher has expired");
  }
  return absl::OkStatus();
}

bool OrderQualifies(const PunchCardRule& rule, const std::vector<StampLine>& lines) {
  return std::any_of(lines.begin(), lines.end(), [&](const StampLine& line) {
    if (line.quantity < 1) return false;
    return rule.sku.empty() ? line.category == rule.category : line.sku == rule.sku;
  });
}

StampOutcome AddStamp(const PunchCardRule& rule, int32_t stamps) {
  const int32_t after = stamps + 1;
  if (after >= rule.stamps_needed) return {.stamps = 0, .card_filled = true};
  return {.stamps = after, .card_filled = false};
}

}  // namespace loyalty::rewards
