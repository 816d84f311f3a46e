#include "members-svc/rpc/points_events.h"

#include "common/events/consumer.h"
#include "common/rpc/proto_time.h"
#include "common/status/macros.h"
#include "loyalty/points/v1/points_events.pb.h"

namespace loyalty::members {

namespace pv1 = ::loyalty::points::v1;

std::vector<std::string> PointsEventTypes() {
  return {pv1::PointsEarned::descriptor()->full_name(),
          pv1::PointsRefunded::descriptor()->full_name()};
}

absl::StatusOr<std::optional<QualifyingPoints>> QualifyingPointsOf(const events::v1::Event& event) {
  LOYALTY_ASSIGN_OR_RETURN(const absl::Time event_time,
                           ParseTimestamp(event.occur_time(), "occur_time"));
  if (event.event_type() == pv1::PointsEarned::descriptor()->full_name()) {
    pv1::PointsEarned earned;
    LOYALTY_RETURN_IF_ERROR(events::ParsePayload(event, earned));
    const bool qualifies = earned.source() == pv1::EARN_SOURCE_PURCHASE ||
                           (earned.source() == pv1::EARN_SOURCE_ACTIVITY &&
                            earned.activity_type() != pv1::ACTIVITY_TYPE_BIRTHDAY &&
                            earned.activity_type() != pv1::ACTIVITY_TYPE_REFERRAL);
    if (!qualifies) return std::nullopt;
    absl::Time occur_time = event_time;
    if (earned.has_occur_time()) {
      LOYALTY_ASSIGN_OR_RETURN(occur_time, ParseTimestamp(earned.occur_time(), "occur_time"));
    }
    return QualifyingPoints{.program_id = earned.program(),
                            .member_id = earned.member(),
                            .points = earned.points(),
                            .occur_time = occur_time};
  }
  if (event.event_type() == pv1::PointsRefunded::descriptor()->full_name()) {
    pv1::PointsRefunded refunded;
    LOYALTY_RETURN_IF_ERROR(events::ParsePayload(event, refunded));
    return QualifyingPoints{.program_id = refunded.program(),
                            .member_id = refunded.member(),
                            .points = -refunded.points(),
                            .occur_time = event_time};
  }
  return std::nullopt;
}

}  // namespace loyalty::members
