#include "points-svc/rpc/member_events.h"

#include "common/events/consumer.h"
#include "common/status/macros.h"
#include "common/validation/ids.h"
#include "loyalty/members/v1/member_events.pb.h"
#include "loyalty/members/v1/members_service.pb.h"
#include "points-svc/storage/queries.h"

namespace loyalty::points {
namespace {

namespace mv1 = ::loyalty::members::v1;

// Sets the status of a projected member; returns whether there was a row.
absl::StatusOr<bool> SetStatus(pg::Connection& connection, const std::string& program_id,
                               const std::string& member_id, mv1::MemberStatus status,
                               absl::Time now) {
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result rows,
      connection.Execute(
          queries::kSetProjectedMemberStatus,
          pg::Params().Add(program_id).Add(member_id).Add(static_cast<int64_t>(status)).Add(now)));
  return rows.affected_rows() > 0;
}

// The program and member of a payload with both, for the status events.
template <typename Payload>
absl::StatusOr<std::pair<std::string, std::string>> MemberOf(const events::v1::Event& event) {
  Payload payload;
  LOYALTY_RETURN_IF_ERROR(events::ParsePayload(event, payload));
  return std::make_pair(payload.program(), payload.member());
}

}  // namespace

std::vector<std::string> MemberEventTypes() {
  return {mv1::MemberEnrolled::descriptor()->full_name(),
          mv1::MemberSuspended::descriptor()->full_name(),
          mv1::MemberReactivated::descriptor()->full_name(),
          mv1::MemberErased::descriptor()->full_name(),
          mv1::TierChanged::descriptor()->full_name()};
}

absl::StatusOr<std::optional<std::string>> ApplyMemberEvent(pg::Connection& connection,
                                                            const events::v1::Event& event,
                                                            absl::Time now) {
  const std::string& type = event.event_type();
  std::string program_id, member_id;
  bool changed = false;
  if (type == mv1::MemberEnrolled::descriptor()->full_name()) {
    mv1::MemberEnrolled enrolled;
    LOYALTY_RETURN_IF_ERROR(events::ParsePayload(event, enrolled));
    program_id = enrolled.program();
    member_id = enrolled.member();
    LOYALTY_ASSIGN_OR_RETURN(
        pg::Result rows,
        connection.Execute(queries::kInsertProjectedMember,
                           pg::Params()
                               .Add(program_id)
                               .Add(member_id)
                               .Add(static_cast<int64_t>(mv1::MEMBER_STATUS_ACTIVE))
                               .Add(enrolled.tier())
                               .Add(static_cast<int64_t>(enrolled.earn_multiplier_percent()))
                               .Add(now)));
    changed = rows.affected_rows() > 0;
  } else if (type == mv1::TierChanged::descriptor()->full_name()) {
    mv1::TierChanged tier;
    LOYALTY_RETURN_IF_ERROR(events::ParsePayload(event, tier));
    program_id = tier.program();
    member_id = tier.member();
    LOYALTY_ASSIGN_OR_RETURN(
        pg::Result rows,
        connection.Execute(queries::kSetProjectedMemberTier,
                           pg::Params()
                               .Add(program_id)
                               .Add(member_id)
                               .Add(tier.to_tier())
                               .Add(static_cast<int64_t>(tier.earn_multiplier_percent()))
                               .Add(now)));
    changed = rows.affected_rows() > 0;
  } else {
    absl::StatusOr<std::pair<std::string, std::string>> member;
    mv1::MemberStatus status = mv1::MEMBER_STATUS_UNSPECIFIED;
    if (type == mv1::MemberSuspended::descriptor()->full_name()) {
      member = MemberOf<mv1::MemberSuspended>(event);
      status = mv1::MEMBER_STATUS_SUSPENDED;
    } else if (type == mv1::MemberReactivated::descriptor()->full_name()) {
      member = MemberOf<mv1::MemberReactivated>(event);
      status = mv1::MEMBER_STATUS_ACTIVE;
    } else if (type == mv1::MemberErased::descriptor()->full_name()) {
      member = MemberOf<mv1::MemberErased>(event);
      status = mv1::MEMBER_STATUS_ERASED;
    } else {
      return std::nullopt;
    }
    if (!member.ok()) return member.status();
    program_id = member->first;
    member_id = member->second;
    LOYALTY_ASSIGN_OR_RETURN(changed, SetStatus(connection, program_id, member_id, status, now));
  }
  if (!changed) return std::nullopt;
  return MemberName(program_id, member_id);
}

}  // namespace loyalty::points
