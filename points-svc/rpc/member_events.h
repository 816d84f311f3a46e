#pragma once

// points-svc as a consumer of members-svc's events (docs/events.md): MemberEnrolled,
// MemberSuspended, MemberReactivated, MemberErased and TierChanged keep `member_projection`
// current, so a suspension or a new tier takes effect without waiting for the projection's TTL.
// The synchronous GetMember (PointsHandler::ResolveMember) stays the fallback for a member the
// stream has not brought yet.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/pg/connection.h"
#include "loyalty/events/v1/events.pb.h"

namespace loyalty::points {

// The event types points-svc subscribes to on members-svc's stream.
std::vector<std::string> MemberEventTypes();

// Applies `event` to member_projection with `connection` (the consumer's transaction), the row
// refreshed at `now`. Returns the member's name ("programs/p/members/m") when its row changed,
// nullopt when nothing did: an event of another type, a MemberEnrolled for a member already
// projected (by GetMember, which is never older than the enrolment), or a change to a member not
// projected yet (GetMember projects it when it is first needed). INVALID_ARGUMENT for a payload
// that does not parse; SQL errors as mapped by common/pg.
absl::StatusOr<std::optional<std::string>> ApplyMemberEvent(pg::Connection& connection,
                                                            const events::v1::Event& event,
                                                            absl::Time now);

}  // namespace loyalty::points
