#pragma once

// A bonus asked of points-svc as one of its activities (RecordActivity): the birthday bonus and
// the referral bonus. One call, and one reading of the answer both callers settle on.

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "loyalty/points/v1/points_service.grpc.pb.h"

namespace loyalty::members {

struct BonusActivity {
  std::string program_id;
  std::string member_id;
  // points-svc's idempotency key: the same bonus asked again is paid once.
  std::string request_id;
  points::v1::ActivityType type = points::v1::ACTIVITY_TYPE_UNSPECIFIED;
  // One award per (type, reference) and member.
  std::string reference;
  absl::Time occur_time;
};

// points-svc's final answer to a bonus.
enum class BonusAnswer {
  kPaid,           // credited now, or the request replayed
  kAlreadyPaid,    // ACTIVITY_ALREADY_AWARDED: this reference was credited before
  kLimitReached,   // ACTIVITY_LIMIT_REACHED: the rule's per-member limit
  kNotConfigured,  // ACTIVITY_NOT_CONFIGURED: the program has no rule for the type
  kNotEligible,    // the member is unknown to points-svc or suspended
};

// Asks points-svc for `bonus` with `deadline`. The final answer, or the error of a call whose
// answer may change if asked again (UNAVAILABLE, overload, deadline): the caller retries later.
absl::StatusOr<BonusAnswer> RequestBonus(points::v1::PointsService::Stub& points,
                                         absl::Duration deadline, const BonusActivity& bonus);

}  // namespace loyalty::members
