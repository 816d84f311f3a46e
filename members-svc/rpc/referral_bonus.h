#pragma once

// The referral bonus: when a referee's first qualifying purchase is earned (points-svc's
// PointsEarned event for a purchase with points), the referral is settled once, in the caller's
// transaction (the points-events consumer's, with its cursor):
//
//   - beyond the program's referral_rewards_max for the referrer: REFUSED, REFERRAL_CAP_REACHED;
//   - otherwise both members get points-svc's REFERRAL activity (reference: the referral id;
//     request_ids "referral-<id>-referrer" / "-referee"), and the referral is REWARDED; if
//     points-svc refuses for good (no REFERRAL rule, a member's limit, a member not eligible) it
//     is REFUSED with that reason.
//
// A call that may pass (UNAVAILABLE, overload) fails the caller's transaction, so the event is
// applied again later; points-svc's idempotency makes the repeated calls pay once.

#include <memory>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/pg/connection.h"
#include "grpcpp/channel.h"
#include "loyalty/events/v1/events.pb.h"
#include "loyalty/points/v1/points_service.grpc.pb.h"

namespace loyalty::members {

class ReferralBonus {
 public:
  // `points` is a channel to points-svc; each call gets `deadline`.
  ReferralBonus(std::shared_ptr<grpc::Channel> points, absl::Duration deadline);

  // Settles the pending referral of `referee_id`, if any (a member with none, or one already
  // settled, is left alone).
  absl::Status OnQualifyingPurchase(pg::Connection& connection, const std::string& program_id,
                                    const std::string& referee_id, absl::Time now);

  // The points-events consumer's hook: a PointsEarned for a purchase that earned points settles
  // its member's pending referral, as of the event's time; any other event is left alone.
  // INVALID_ARGUMENT for a payload that does not parse (events::ParsePayload).
  absl::Status ApplyPointsEvent(pg::Connection& connection, const events::v1::Event& event);

  // ApplyPointsEvent for the fresh events of one stream message, in stream order: one statement
  // finds which of the purchasing members have a pending referral, and only the first purchase
  // of each of those settles it (OnQualifyingPurchase). Errors as ApplyPointsEvent.
  absl::Status ApplyPointsEvents(pg::Connection& connection,
                                 std::span<const events::v1::Event* const> events);

 private:
  // Asks points-svc for one member's REFERRAL activity. OK when paid (now or before); the
  // refusal reason when refused for good; an error status when it may pass.
  absl::StatusOr<std::string> Award(const std::string& program_id, const std::string& member_id,
                                    const std::string& referral_id, const std::string& role,
                                    absl::Time now);

  std::unique_ptr<points::v1::PointsService::Stub> points_;
  const absl::Duration deadline_;
};

}  // namespace loyalty::members
