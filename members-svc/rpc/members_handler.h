#pragma once

// members-svc's RPCs as transport-agnostic handlers: proto in, absl::StatusOr<proto> out.
// grpc_service.cc adapts them to gRPC; tests may call them directly.
//
// Each mutation validates its input first (INVALID_ARGUMENT with a BadRequest, nothing written),
// then runs in one database transaction together with its idempotency record
// (common/idempotency) and its event in the outbox (common/events; docs/events.md), so it is
// written whole or not at all.

#include <memory>
#include <span>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/events/outbox.h"
#include "common/paging/page_token.h"
#include "common/pg/pool.h"
#include "common/random.h"
#include "google/protobuf/message.h"
#include "loyalty/events/v1/events.pb.h"
#include "loyalty/members/v1/members_service.pb.h"
#include "members-svc/domain/member.h"
#include "members-svc/domain/tier.h"

namespace loyalty::members {

struct MembersHandlerOptions {
  // HMAC key for page tokens (>= 16 bytes).
  std::string page_token_key;
  RandomSource random = SecureRandomUint64;
};

class MembersHandler {
 public:
  // `pool` and `clock` must outlive the handler.
  MembersHandler(pg::Pool& pool, const Clock& clock, MembersHandlerOptions options);

  absl::StatusOr<v1::CreateProgramResponse> CreateProgram(const v1::CreateProgramRequest& request);
  absl::StatusOr<v1::GetProgramResponse> GetProgram(const v1::GetProgramRequest& request);
  absl::StatusOr<v1::EnrollMemberResponse> EnrollMember(const v1::EnrollMemberRequest& request);
  absl::StatusOr<v1::GetMemberResponse> GetMember(const v1::GetMemberRequest& request);
  absl::StatusOr<v1::UpdateMemberResponse> UpdateMember(const v1::UpdateMemberRequest& request);
  absl::StatusOr<v1::ListMembersResponse> ListMembers(const v1::ListMembersRequest& request);
  absl::StatusOr<v1::SuspendMemberResponse> SuspendMember(const v1::SuspendMemberRequest& request);
  absl::StatusOr<v1::ReactivateMemberResponse> ReactivateMember(
      const v1::ReactivateMemberRequest& request);
  absl::StatusOr<v1::EraseMemberResponse> EraseMember(const v1::EraseMemberRequest& request);
  absl::StatusOr<v1::GetTierStatusResponse> GetTierStatus(const v1::GetTierStatusRequest& request);
  absl::StatusOr<v1::ListReferralsResponse> ListReferrals(const v1::ListReferralsRequest& request);
  absl::StatusOr<v1::RecordQualifyingActivityResponse> RecordQualifyingActivity(
      const v1::RecordQualifyingActivityRequest& request);

  // Applies due tier renewals and downgrades for up to `limit` members whose qualification
  // period and grace have ended, longest overdue first; returns how many members it reviewed. The
  // background loop in main.cc calls it so downgrades happen even for members nobody looks at.
  absl::StatusOr<int> ApplyDueTierChanges(int limit);

  // Counts one of points-svc's events as qualifying activity (rpc/points_events.h: which points
  // qualify) inside the consumer's transaction: the same rule as RecordQualifyingActivity, keyed
  // by the event id, so the tier moves, its history and TierChanged events are written with the
  // consumer's cursor. An event about an unknown member or program is skipped (logged).
  // INVALID_ARGUMENT for a payload that does not parse; SQL errors as mapped by common/pg.
  absl::Status ApplyPointsEvent(pg::Connection& connection, const events::v1::Event& event);

  // ApplyPointsEvent for the fresh events of one stream message, in stream order, with the same
  // effects as applying them one by one (tiers, tier history, TierChanged events in the same
  // order) in a handful of statements: the programs loaded once each, the members locked in one
  // statement, their window sums read in one and the activities inserted in one; only a member
  // whose tier moves gets statements of its own. A member whose qualification period has ended
  // (a renewal or downgrade is due first) goes the per-event way. Errors as ApplyPointsEvent.
  absl::Status ApplyPointsEvents(pg::Connection& connection,
                                 std::span<const events::v1::Event* const> events);

 private:
  // RecordQualifyingActivity's effect in the caller's transaction, validated input; the
  // window's qualifying points are summed for the answer only `with_total` (the consumer of
  // points events needs no answer).
  absl::StatusOr<v1::RecordQualifyingActivityResponse> RecordQualifyingIn(
      pg::Connection& connection, const std::string& program_id, const std::string& member_id,
      const std::string& event_id, int64_t points, absl::Time occur_time, absl::Time now,
      bool with_total);
  // Brings the member's tier up to date at `now` within the caller's transaction (member row
  // locked), writing history for upgrades and downgrades and adding a TierChanged event for each
  // to `events`, which the caller appends to the outbox before it commits.
  absl::Status RefreshTier(pg::Connection& connection, const Program& program, Member& member,
                           absl::Time now, std::vector<events::OutboxEvent>& events);
  // RefreshTier's writes for an evaluation already made: the history of each upgrade and
  // downgrade, its TierChanged event added to `events`, and member.tier set to the new state.
  absl::Status ApplyTierEvaluation(pg::Connection& connection, const Program& program,
                                   Member& member, const TierEvaluation& evaluation,
                                   std::vector<events::OutboxEvent>& events);
  // Loads the member and, if its tier is stale, refreshes it in a short write transaction.
  absl::StatusOr<std::pair<Program, Member>> LoadCurrentMember(const std::string& program_id,
                                                               const std::string& member_id);
  // The shared shape of UpdateMember, Suspend, Reactivate and Erase: validate-free body run in
  // one idempotent transaction with the member row locked and its tier brought up to date; the
  // events `mutate` adds are appended to the outbox last, right before the commit.
  using Mutation = absl::FunctionRef<absl::Status(pg::Connection&, const Program&, Member&,
                                                  absl::Time, std::vector<events::OutboxEvent>&)>;
  template <typename Response>
  absl::StatusOr<Response> MutateMember(const google::protobuf::Message& request,
                                        std::string_view rpc, const std::string& request_id,
                                        const std::string& program_id, const std::string& member_id,
                                        Mutation mutate);
  std::string NewId(char prefix);
  // LoadProgram through a cache: programs never change once created (there is no update RPC),
  // so the consumer of points events loads each once per process, not once per message. Unknown
  // programs are not remembered (one may be created later).
  absl::StatusOr<std::optional<Program>> LoadProgramCached(pg::Connection& connection,
                                                           const std::string& program_id);

  pg::Pool& pool_;
  const Clock& clock_;
  MembersHandlerOptions options_;
  paging::PageTokenCodec page_tokens_;
  absl::Mutex programs_mutex_;
  // Cleared when it reaches kProgramCacheMax programs.
  absl::flat_hash_map<std::string, Program> programs_ ABSL_GUARDED_BY(programs_mutex_);
};

}  // namespace loyalty::members
