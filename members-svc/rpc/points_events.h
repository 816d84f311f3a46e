#pragma once

// members-svc as a consumer of points-svc's events (docs/events.md): which points count toward
// tiers. Tier programs qualify members by what they buy and do, not by what they hold:
//
//   PointsEarned, purchase or activity (pending too)  +points  spend and engagement qualify
//   PointsEarned, BIRTHDAY or REFERRAL activity       not      bonuses, not the member's spend
//                                                              or engagement (a referral bonus
//                                                              could be farmed for status)
//   PointsRefunded                                    -points  a returned purchase was never
//                                                              spend; otherwise buy-and-return
//                                                              would buy status
//   PointsExpired, PointsSpent, PointsReturned        not      qualifying points measure activity
//                                                              in the window, not the balance;
//                                                              spending or losing points does
//                                                              not undo the activity
//   PointsAdjusted, PointsTransferred                 not      corrections and gifts are not the
//                                                              member's activity, and a transfer
//                                                              would let members pool status
//
// So members-svc subscribes to PointsEarned and PointsRefunded only.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "loyalty/events/v1/events.pb.h"

namespace loyalty::members {

// The event types members-svc subscribes to on points-svc's stream.
std::vector<std::string> PointsEventTypes();

struct QualifyingPoints {
  std::string program_id;
  std::string member_id;
  // Negative for a refund.
  int64_t points = 0;
  // The purchase's or activity's time for earned points, the refund's for a refund.
  absl::Time occur_time;
};

// What `event` adds to the member's qualifying points; nullopt for an event that does not
// qualify. INVALID_ARGUMENT for a payload that does not parse.
absl::StatusOr<std::optional<QualifyingPoints>> QualifyingPointsOf(const events::v1::Event& event);

}  // namespace loyalty::members
