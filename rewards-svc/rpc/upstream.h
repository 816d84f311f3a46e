#pragma once

// What rewards-svc asks other services: points-svc for balances and the saga's holds, and
// members-svc for a member's tier and the program's tier ladder. Every call has a deadline and
// carries the caller's trace; errors come back as absl::Status with the callee's ErrorInfo
// reason (FromGrpcStatus), so the saga can tell a refusal (FAILED_PRECONDITION, NOT_FOUND) from
// an outage (UNAVAILABLE, DEADLINE_EXCEEDED).

#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "loyalty/members/v1/members_service.grpc.pb.h"
#include "loyalty/points/v1/points_service.grpc.pb.h"
#include "rewards-svc/domain/redemption.h"

namespace loyalty::rewards {

struct HoldInfo {
  HoldStatus status = HoldStatus::kUnspecified;
  absl::Time expire_time;
};

// A program's tier ladder: each tier code's rank, 0 the lowest.
using TierLadder = std::shared_ptr<const std::map<std::string, int>>;

struct MemberTier {
  // Rank of the member's tier in the ladder (0 lowest).
  int tier_rank = 0;
  // Rank of a tier code in the same ladder, -1 when the program has no such tier.
  std::function<int(const std::string&)> rank_of;
};

// The member with tier `code` on `ladder` (a code the ladder lacks ranks lowest).
MemberTier TierOn(const TierLadder& ladder, const std::string& code);

class Upstream {
 public:
  Upstream(std::shared_ptr<grpc::Channel> points, std::shared_ptr<grpc::Channel> members,
           absl::Duration deadline);

  absl::StatusOr<int64_t> AvailablePoints(const std::string& program_id,
                                          const std::string& member_id);
  // members-svc's GetProgram: the program's tier ladder.
  absl::StatusOr<TierLadder> Ladder(const std::string& program_id);
  // members-svc's GetMember: the member's tier code now.
  absl::StatusOr<std::string> TierCode(const std::string& program_id, const std::string& member_id);

  // points-svc's CreateHold with `capture`: the points are spent as the hold is made, which
  // comes back CAPTURED. A hold id already used answers with that hold as it is now: OPEN, for
  // one an earlier version of this service made without capture, until it is captured.
  absl::StatusOr<HoldInfo> SpendHold(const std::string& program_id, const std::string& member_id,
                                     const std::string& hold_id, int64_t points, absl::Duration ttl,
                                     const std::string& reason);
  absl::StatusOr<HoldInfo> CaptureHold(const std::string& program_id, const std::string& hold_id);
  absl::StatusOr<HoldInfo> VoidHold(const std::string& program_id, const std::string& hold_id);
  absl::StatusOr<HoldInfo> RefundHold(const std::string& program_id, const std::string& hold_id);

  // One hold of SpendHolds.
  struct HoldRequest {
    std::string program_id;
    std::string member_id;
    std::string hold_id;
    int64_t points = 0;
    std::string reason;
  };
  // points-svc's batched CreateHolds (each as SpendHold) / CaptureHolds: one call, each hold's
  // own outcome (what its single-hold call would have returned) by position. The outer status
  // fails only when the call as a whole did (points-svc down, deadline): then no outcome is
  // known.
  absl::StatusOr<std::vector<absl::StatusOr<HoldInfo>>> SpendHolds(
      std::span<const HoldRequest> holds, absl::Duration ttl);
  absl::StatusOr<std::vector<absl::StatusOr<HoldInfo>>> CaptureHolds(
      const std::string& program_id, std::span<const std::string> hold_ids);

 private:
  std::unique_ptr<points::v1::PointsService::Stub> points_;
  std::unique_ptr<members::v1::MembersService::Stub> members_;
  absl::Duration deadline_;
};

}  // namespace loyalty::rewards
