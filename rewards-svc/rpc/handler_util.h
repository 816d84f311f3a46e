#pragma once

// Helpers the two halves of RewardsHandler (rewards_handler.cc, redemptions.cc) share.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/idempotency/idempotency.h"
#include "common/pg/connection.h"
#include "google/protobuf/message.h"
#include "loyalty/rewards/v1/reward_events.pb.h"
#include "rewards-svc/domain/reward.h"
#include "rewards-svc/storage/reward_store.h"

namespace loyalty::rewards {

namespace v1 = ::loyalty::rewards::v1;

// The idempotency call of a RewardsService mutation.
idempotency::Call MakeCall(const google::protobuf::Message& request, std::string_view rpc,
                           const std::string& program_id, const std::string& request_id,
                           absl::Time now);

// Appends rewards-svc's event `payload` (loyalty/rewards/v1/reward_events.proto) about the
// redemption or voucher `aggregate_id` to the outbox, in the caller's transaction (docs/events.md).
// It is numbered in the stream at COMMIT.
absl::Status AppendRewardEvent(pg::Connection& connection, const std::string& program_id,
                               std::string_view aggregate_type, const std::string& aggregate_id,
                               const google::protobuf::Message& payload, absl::Time now);

// Ids this service issues (rewards, redemptions, definitions): 1-64 of a-z, 0-9, '-', '_'.
// INVALID_ARGUMENT INVALID_ID naming `field`.
absl::Status ValidateResourceId(std::string_view id, std::string_view field);

// The member's PENDING or COMPLETED redemptions of the reward in its current limit period.
absl::StatusOr<int64_t> CountRedemptionsInPeriod(pg::Connection& connection,
                                                 const std::string& program_id,
                                                 const std::string& member_id, const Reward& reward,
                                                 absl::Time now);

// The RewardRedeemed event of a redemption (its voucher, if any, is for the caller to add).
v1::RewardRedeemed RedeemedEvent(const RedemptionRow& row);

// `pending` as the saga's completion writes it at `now`: COMPLETED with `points_state`, an
// experience's fulfilment REQUESTED.
RedemptionRow CompletedRow(const RedemptionRow& pending, PointsState points_state, absl::Time now);

// A hold refusal ends the redemption; anything else (points-svc down, deadline) leaves it
// PENDING for a retry of the call or the recovery loop.
bool IsHoldRefusal(const absl::Status& status);

}  // namespace loyalty::rewards
