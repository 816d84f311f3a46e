#pragma once

// The gRPC face of members-svc: each method is three lines around MembersHandler, and this is
// the only file of the service that sees grpc::.

#include "loyalty/members/v1/members_service.grpc.pb.h"
#include "members-svc/rpc/members_handler.h"

namespace loyalty::members {

// ErrorInfo domain of every error this service returns.
inline constexpr std::string_view kErrorDomain = "members.loyalty";

class GrpcMembersService final : public v1::MembersService::Service {
 public:
  explicit GrpcMembersService(MembersHandler& handler) : handler_(handler) {}

  // v1::MembersService::Service
  grpc::Status CreateProgram(grpc::ServerContext* context, const v1::CreateProgramRequest* request,
                             v1::CreateProgramResponse* response) override;
  grpc::Status GetProgram(grpc::ServerContext* context, const v1::GetProgramRequest* request,
                          v1::GetProgramResponse* response) override;
  grpc::Status EnrollMember(grpc::ServerContext* context, const v1::EnrollMemberRequest* request,
                            v1::EnrollMemberResponse* response) override;
  grpc::Status GetMember(grpc::ServerContext* context, const v1::GetMemberRequest* request,
                         v1::GetMemberResponse* response) override;
  grpc::Status UpdateMember(grpc::ServerContext* context, const v1::UpdateMemberRequest* request,
                            v1::UpdateMemberResponse* response) override;
  grpc::Status ListMembers(grpc::ServerContext* context, const v1::ListMembersRequest* request,
                           v1::ListMembersResponse* response) override;
  grpc::Status SuspendMember(grpc::ServerContext* context, const v1::SuspendMemberRequest* request,
                             v1::SuspendMemberResponse* response) override;
  grpc::Status ReactivateMember(grpc::ServerContext* context,
                                const v1::ReactivateMemberRequest* request,
                                v1::ReactivateMemberResponse* response) override;
  grpc::Status EraseMember(grpc::ServerContext* context, const v1::EraseMemberRequest* request,
                           v1::EraseMemberResponse* response) override;
  grpc::Status GetTierStatus(grpc::ServerContext* context, const v1::GetTierStatusRequest* request,
                             v1::GetTierStatusResponse* response) override;
  grpc::Status ListReferrals(grpc::ServerContext* context, const v1::ListReferralsRequest* request,
                             v1::ListReferralsResponse* response) override;
  grpc::Status RecordQualifyingActivity(grpc::ServerContext* context,
                                        const v1::RecordQualifyingActivityRequest* request,
                                        v1::RecordQualifyingActivityResponse* response) override;

 private:
  MembersHandler& handler_;
};

}  // namespace loyalty::members
