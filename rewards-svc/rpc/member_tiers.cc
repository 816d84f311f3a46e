#include "rewards-svc/rpc/member_tiers.h"

#include <algorithm>
#include <optional>

#include "common/events/consumer.h"
#include "common/status/macros.h"
#include "loyalty/members/v1/member_events.pb.h"
#include "rewards-svc/storage/queries.h"

namespace loyalty::rewards {
namespace {

namespace mv1 = ::loyalty::members::v1;

template <typename Payload>
const std::string& TypeOf() {
  return Payload::descriptor()->full_name();
}

absl::Status SetTier(pg::Connection& connection, const std::string& program_id,
                     const std::string& member_id, const std::string& tier, absl::Time now) {
  return connection
      .Execute(queries::kSetMemberTier,
               pg::Params().Add(program_id).Add(member_id).Add(tier).Add(now))
      .status();
}

}  // namespace

MemberTiers::MemberTiers(pg::Pool& pool, Upstream& upstream, const Clock& clock)
    : pool_(pool), upstream_(upstream), clock_(clock) {}

std::vector<std::string> MemberTiers::EventTypes() {
  return {TypeOf<mv1::MemberEnrolled>(), TypeOf<mv1::TierChanged>(), TypeOf<mv1::MemberErased>()};
}

absl::Status MemberTiers::Apply(pg::Connection& connection, const events::v1::Event& event) {
  // The stream brings a member's events in order, so the latest applied is the tier now.
  const std::string& type = event.event_type();
  if (type == TypeOf<mv1::MemberEnrolled>()) {
    mv1::MemberEnrolled enrolled;
    LOYALTY_RETURN_IF_ERROR(events::ParsePayload(event, enrolled));
    return SetTier(connection, enrolled.program(), enrolled.member(), enrolled.tier(),
                   clock_.Now());
  }
  if (type == TypeOf<mv1::TierChanged>()) {
    mv1::TierChanged changed;
    LOYALTY_RETURN_IF_ERROR(events::ParsePayload(event, changed));
    return SetTier(connection, changed.program(), changed.member(), changed.to_tier(),
                   clock_.Now());
  }
  if (type == TypeOf<mv1::MemberErased>()) {
    mv1::MemberErased erased;
    LOYALTY_RETURN_IF_ERROR(events::ParsePayload(event, erased));
    return connection
        .Execute(queries::kDeleteMemberTier,
                 pg::Params().Add(erased.program()).Add(erased.member()))
        .status();
  }
  return absl::OkStatus();
}

absl::StatusOr<TierLadder> MemberTiers::Ladder(const std::string& program_id) {
  const absl::Time now = clock_.Now();
  if (std::optional<TierLadder> remembered = ladders_.Fresh(program_id, now)) return *remembered;
  LOYALTY_ASSIGN_OR_RETURN(TierLadder ladder, upstream_.Ladder(program_id));
  ladders_.Remember(program_id, ladder, now);
  return ladder;
}

absl::StatusOr<MemberTier> MemberTiers::Tier(const std::string& program_id,
                                             const std::string& member_id,
                                             std::span<const std::string> wanted) {
  LOYALTY_ASSIGN_OR_RETURN(TierLadder ladder, Ladder(program_id));
  std::optional<std::string> copied;
  {
    LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
    LOYALTY_ASSIGN_OR_RETURN(pg::Result rows,
                             connection->Execute(queries::kSelectMemberTier,
                                                 pg::Params().Add(program_id).Add(member_id)));
    if (rows.rows() == 1) copied = rows.String(0, "tier");
  }
  if (copied.has_value()) {
    MemberTier tier = TierOn(ladder, *copied);
    const bool enough = std::all_of(wanted.begin(), wanted.end(), [&](const std::string& code) {
      const int rank = tier.rank_of(code);
      return rank >= 0 && tier.tier_rank >= rank;
    });
    if (enough) return tier;
  }
  absl::StatusOr<std::string> current = upstream_.TierCode(program_id, member_id);
  if (!current.ok()) {
    const bool outage = current.status().code() == absl::StatusCode::kUnavailable ||
                        current.status().code() == absl::StatusCode::kDeadlineExceeded;
    if (copied.has_value() && outage) return TierOn(ladder, *copied);
    return current.status();
  }
  return TierOn(ladder, *current);
}

}  // namespace loyalty::rewards
