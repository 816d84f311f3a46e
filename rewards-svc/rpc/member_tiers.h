#pragma once

// A member's tier, for minimum-tier rewards (docs/events.md, "rewards-svc: tiers from members").
// rewards-svc keeps its own copy of each member's tier, `member_tiers`, fed by members-svc's
// MemberEnrolled, TierChanged and MemberErased events, and the program's tier ladder from
// members-svc's GetProgram, remembered for kLadderTtl.
//
// Tier() answers from the copy when the copy lets the member in, so a member who qualifies never
// waits on members-svc. It asks members-svc (GetMember) only when the copy lacks the member (the
// stream is behind, or the member was enrolled before rewards-svc consumed the stream) or would
// keep the member out: an upgrade opens its rewards at once even while its TierChanged is still
// on the way. If members-svc cannot be reached then, the copy's answer stands; a member the copy
// lacks then gets members-svc's error, as before the copy existed.

#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/pg/pool.h"
#include "common/projection_memory.h"
#include "loyalty/events/v1/events.pb.h"
#include "rewards-svc/rpc/upstream.h"

namespace loyalty::rewards {

// How long a program's tier ladder is trusted; ladders change rarely (UpdateProgram).
inline constexpr absl::Duration kLadderTtl = absl::Seconds(30);
// Programs whose ladders are remembered at most.
inline constexpr size_t kLaddersMax = 1000;

class MemberTiers {
 public:
  // `pool`, `upstream` and `clock` must outlive this.
  MemberTiers(pg::Pool& pool, Upstream& upstream, const Clock& clock);

  // The members-svc event types the copy is made of.
  static std::vector<std::string> EventTypes();
  // Applies one members-svc event to the copy within the consumer's transaction; other types
  // change nothing. INVALID_ARGUMENT for a payload that does not parse.
  absl::Status Apply(pg::Connection& connection, const events::v1::Event& event);

  // The member's tier, as described above, good for deciding the minimum tiers `wanted`.
  absl::StatusOr<MemberTier> Tier(const std::string& program_id, const std::string& member_id,
                                  std::span<const std::string> wanted);

 private:
  absl::StatusOr<TierLadder> Ladder(const std::string& program_id);

  pg::Pool& pool_;
  Upstream& upstream_;
  const Clock& clock_;
  ProjectionMemory<TierLadder> ladders_{kLadderTtl, kLaddersMax};
};

}  // namespace loyalty::rewards
