#include "points-svc/rpc/member_directory.h"

#include <chrono>

#include "common/log/trace.h"
#include "common/status/grpc_status.h"
#include "common/status/macros.h"

namespace loyalty::points {
namespace {

void PrepareContext(grpc::ClientContext& context, absl::Duration deadline) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  // Calls made on behalf of a traced request carry its trace on to members-svc.
  if (const log::TraceContext* trace = log::CurrentTraceContext(); trace != nullptr) {
    context.AddMetadata("traceparent", log::FormatTraceParent(log::ChildOf(*trace)));
  }
}

}  // namespace

GrpcMemberDirectory::GrpcMemberDirectory(std::shared_ptr<grpc::Channel> channel,
                                         absl::Duration deadline)
    : stub_(members::v1::MembersService::NewStub(std::move(channel))), deadline_(deadline) {}

absl::StatusOr<ProgramInfo> GrpcMemberDirectory::GetProgram(const std::string& program_id) {
  grpc::ClientContext context;
  PrepareContext(context, deadline_);
  members::v1::GetProgramRequest request;
  request.set_program(program_id);
  members::v1::GetProgramResponse response;
  LOYALTY_RETURN_IF_ERROR(FromGrpcStatus(stub_->GetProgram(&context, request, &response)));
  ProgramInfo info{.currency_code = response.program().currency_code(),
                   .tier_multiplier_percent = {}};
  for (const members::v1::Tier& tier : response.program().tiers()) {
    info.tier_multiplier_percent[tier.code()] = tier.earn_multiplier_percent();
  }
  return info;
}

absl::StatusOr<MemberInfo> GrpcMemberDirectory::GetMember(const std::string& program_id,
                                                          const std::string& member_id) {
  LOYALTY_ASSIGN_OR_RETURN(ProgramInfo program, GetProgram(program_id));
  grpc::ClientContext context;
  PrepareContext(context, deadline_);
  members::v1::GetMemberRequest request;
  request.set_program(program_id);
  request.set_member(member_id);
  members::v1::GetMemberResponse response;
  LOYALTY_RETURN_IF_ERROR(FromGrpcStatus(stub_->GetMember(&context, request, &response)));
  MemberInfo info{.status = response.member().status(), .tier = response.member().tier()};
  if (auto it = program.tier_multiplier_percent.find(info.tier);
      it != program.tier_multiplier_percent.end()) {
    info.tier_multiplier_percent = it->second;
  }
  return info;
}

}  // namespace loyalty::points
