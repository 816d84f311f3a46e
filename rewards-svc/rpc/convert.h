#pragma once

// proto <-> domain conversion for rewards-svc. Parse* functions validate input and return
// INVALID_ARGUMENT with a BadRequest naming the field; the views cannot fail.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "loyalty/rewards/v1/rewards_service.pb.h"
#include "rewards-svc/domain/reward.h"
#include "rewards-svc/storage/reward_store.h"

namespace loyalty::rewards {

namespace v1 = ::loyalty::rewards::v1;

// The reward in `proto` (its kind from the details set), validated. Fields under `prefix`.
absl::StatusOr<Reward> ParseReward(const v1::Reward& proto, std::string_view prefix);

v1::Reward ToProto(const Reward& reward);

// "\"v<version>\"".
std::string Etag(int64_t version);

// `code` is the display form, or empty to leave it out.
v1::Voucher VoucherView(const VoucherRow& voucher, const std::string& code);

v1::Redemption RedemptionView(const RedemptionRow& redemption);

v1::VoucherValue ValueView(const VoucherRow& voucher, const Valuation& value);

}  // namespace loyalty::rewards
