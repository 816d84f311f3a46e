#include "members-svc/rpc/points_bonus.h"

#include "common/rpc/proto_time.h"
#include "common/status/error.h"
#include "common/status/grpc_status.h"
#include "grpcpp/client_context.h"

namespace loyalty::members {

absl::StatusOr<BonusAnswer> RequestBonus(points::v1::PointsService::Stub& points,
                                         absl::Duration deadline, const BonusActivity& bonus) {
  points::v1::RecordActivityRequest request;
  request.set_program(bonus.program_id);
  request.set_member(bonus.member_id);
  request.set_request_id(bonus.request_id);
  request.set_type(bonus.type);
  request.set_reference(bonus.reference);
  *request.mutable_occur_time() = ToTimestamp(bonus.occur_time);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  points::v1::RecordActivityResponse response;
  const absl::Status status = FromGrpcStatus(points.RecordActivity(&context, request, &response));
  if (status.ok()) return BonusAnswer::kPaid;
  const std::string reason = ErrorReason(status).value_or("");
  if (reason == "ACTIVITY_ALREADY_AWARDED") return BonusAnswer::kAlreadyPaid;
  if (reason == "ACTIVITY_LIMIT_REACHED") return BonusAnswer::kLimitReached;
  if (reason == "ACTIVITY_NOT_CONFIGURED") return BonusAnswer::kNotConfigured;
  if (status.code() == absl::StatusCode::kNotFound || reason == "MEMBER_SUSPENDED") {
    return BonusAnswer::kNotEligible;
  }
  return status;
}

}  // namespace loyalty::members
