#include "rewards-svc/rpc/upstream.h"

#include <algorithm>
#include <map>

#include "common/log/trace.h"
#include "common/status/grpc_status.h"
#include "common/status/macros.h"

namespace loyalty::rewards {
namespace {

namespace pv1 = ::loyalty::points::v1;
namespace mv1 = ::loyalty::members::v1;

// One unary call with the deadline and the current trace.
template <typename Stub, typename Request, typename Response>
absl::StatusOr<Response> Call(Stub& stub,
                              grpc::Status (Stub::*rpc)(grpc::ClientContext*, const Request&,
                                                        Response*),
                              const Request& request, absl::Duration deadline) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  if (const log::TraceContext* trace = log::CurrentTraceContext(); trace != nullptr) {
    context.AddMetadata("traceparent", log::FormatTraceParent(log::ChildOf(*trace)));
  }
  Response response;
  LOYALTY_RETURN_IF_ERROR(FromGrpcStatus((stub.*rpc)(&context, request, &response)));
  return response;
}

HoldInfo InfoOf(const pv1::Hold& hold) {
  return {.status = static_cast<HoldStatus>(hold.status()),
          .expire_time = absl::FromUnixSeconds(hold.expire_time().seconds()) +
                         absl::Nanoseconds(hold.expire_time().nanos())};
}

template <typename Request>
Request HoldRef(const std::string& program_id, const std::string& hold_id) {
  Request request;
  request.set_program(program_id);
  request.set_hold_id(hold_id);
  return request;
}

// The outcomes of a batched hold call, by position.
template <typename Response>
absl::StatusOr<std::vector<absl::StatusOr<HoldInfo>>> Outcomes(const Response& response,
                                                               size_t expected) {
  if (static_cast<size_t>(response.outcomes_size()) != expected) {
    return absl::InternalError("points-svc answered a hold batch with a wrong number of outcomes");
  }
  std::vector<absl::StatusOr<HoldInfo>> outcomes;
  for (const pv1::HoldOutcome& outcome : response.outcomes()) {
    if (outcome.has_error()) {
      outcomes.push_back(FromRpcStatus(outcome.error()));
    } else {
      outcomes.push_back(InfoOf(outcome.hold()));
    }
  }
  return outcomes;
}

}  // namespace

MemberTier TierOn(const TierLadder& ladder, const std::string& code) {
  MemberTier tier;
  tier.rank_of = [ladder](const std::string& wanted) {
    auto it = ladder->find(wanted);
    return it == ladder->end() ? -1 : it->second;
  };
  tier.tier_rank = std::max(0, tier.rank_of(code));
  return tier;
}

Upstream::Upstream(std::shared_ptr<grpc::Channel> points, std::shared_ptr<grpc::Channel> members,
                   absl::Duration deadline)
    : points_(pv1::PointsService::NewStub(std::move(points))),
      members_(mv1::MembersService::NewStub(std::move(members))),
      deadline_(deadline) {}

absl::StatusOr<int64_t> Upstream::AvailablePoints(const std::string& program_id,
                                                  const std::string& member_id) {
  pv1::GetBalanceRequest request;
  request.set_program(program_id);
  request.set_member(member_id);
  LOYALTY_ASSIGN_OR_RETURN(
      pv1::GetBalanceResponse response,
      Call(*points_, &pv1::PointsService::Stub::GetBalance, request, deadline_));
  return response.balance().available();
}

absl::StatusOr<TierLadder> Upstream::Ladder(const std::string& program_id) {
  mv1::GetProgramRequest request;
  request.set_program(program_id);
  LOYALTY_ASSIGN_OR_RETURN(
      mv1::GetProgramResponse response,
      Call(*members_, &mv1::MembersService::Stub::GetProgram, request, deadline_));
  auto ranks = std::make_shared<std::map<std::string, int>>();
  for (int i = 0; i < response.program().tiers_size(); ++i) {
    (*ranks)[response.program().tiers(i).code()] = i;
  }
  return ranks;
}

absl::StatusOr<std::string> Upstream::TierCode(const std::string& program_id,
                                               const std::string& member_id) {
  mv1::GetMemberRequest request;
  request.set_program(program_id);
  request.set_member(member_id);
  LOYALTY_ASSIGN_OR_RETURN(
      mv1::GetMemberResponse response,
      Call(*members_, &mv1::MembersService::Stub::GetMember, request, deadline_));
  return response.member().tier();
}

namespace {

pv1::CreateHoldRequest SpendRequest(const std::string& program_id, const std::string& member_id,
                                    const std::string& hold_id, int64_t points, absl::Duration ttl,
                                    const std::string& reason) {
  pv1::CreateHoldRequest request;
  request.set_program(program_id);
  request.set_member(member_id);
  request.set_hold_id(hold_id);
  request.set_points(points);
  request.mutable_ttl()->set_seconds(absl::ToInt64Seconds(ttl));
  request.set_reason(reason);
  request.set_capture(true);
  return request;
}

}  // namespace

absl::StatusOr<HoldInfo> Upstream::SpendHold(const std::string& program_id,
                                             const std::string& member_id,
                                             const std::string& hold_id, int64_t points,
                                             absl::Duration ttl, const std::string& reason) {
  const pv1::CreateHoldRequest request =
      SpendRequest(program_id, member_id, hold_id, points, ttl, reason);
  LOYALTY_ASSIGN_OR_RETURN(
      pv1::CreateHoldResponse response,
      Call(*points_, &pv1::PointsService::Stub::CreateHold, request, deadline_));
  return InfoOf(response.hold());
}

absl::StatusOr<HoldInfo> Upstream::CaptureHold(const std::string& program_id,
                                               const std::string& hold_id) {
  LOYALTY_ASSIGN_OR_RETURN(pv1::CaptureHoldResponse response,
                           Call(*points_, &pv1::PointsService::Stub::CaptureHold,
                                HoldRef<pv1::CaptureHoldRequest>(program_id, hold_id), deadline_));
  return InfoOf(response.hold());
}

absl::StatusOr<HoldInfo> Upstream::VoidHold(const std::string& program_id,
                                            const std::string& hold_id) {
  LOYALTY_ASSIGN_OR_RETURN(pv1::VoidHoldResponse response,
                           Call(*points_, &pv1::PointsService::Stub::VoidHold,
                                HoldRef<pv1::VoidHoldRequest>(program_id, hold_id), deadline_));
  return InfoOf(response.hold());
}

absl::StatusOr<HoldInfo> Upstream::RefundHold(const std::string& program_id,
                                              const std::string& hold_id) {
  LOYALTY_ASSIGN_OR_RETURN(pv1::RefundHoldResponse response,
                           Call(*points_, &pv1::PointsService::Stub::RefundHold,
                                HoldRef<pv1::RefundHoldRequest>(program_id, hold_id), deadline_));
  return InfoOf(response.hold());
}

absl::StatusOr<std::vector<absl::StatusOr<HoldInfo>>> Upstream::SpendHolds(
    std::span<const HoldRequest> holds, absl::Duration ttl) {
  pv1::CreateHoldsRequest request;
  for (const HoldRequest& hold : holds) {
    *request.add_holds() =
        SpendRequest(hold.program_id, hold.member_id, hold.hold_id, hold.points, ttl, hold.reason);
  }
  LOYALTY_ASSIGN_OR_RETURN(
      pv1::CreateHoldsResponse response,
      Call(*points_, &pv1::PointsService::Stub::CreateHolds, request, deadline_));
  return Outcomes(response, holds.size());
}

absl::StatusOr<std::vector<absl::StatusOr<HoldInfo>>> Upstream::CaptureHolds(
    const std::string& program_id, std::span<const std::string> hold_ids) {
  pv1::CaptureHoldsRequest request;
  request.set_program(program_id);
  for (const std::string& hold_id : hold_ids) request.add_hold_ids(hold_id);
  LOYALTY_ASSIGN_OR_RETURN(
      pv1::CaptureHoldsResponse response,
      Call(*points_, &pv1::PointsService::Stub::CaptureHolds, request, deadline_));
  return Outcomes(response, hold_ids.size());
}

}  // namespace loyalty::rewards
