#include "members-svc/rpc/grpc_service.h"

#include "common/rpc/unary.h"

namespace loyalty::members {

// Each method hands its request to the handler through rpc::Unary (trace context, status
// conversion, failure logging).
#define LOYALTY_MEMBERS_UNARY(Method)                                         \
  grpc::Status GrpcMembersService::Method(grpc::ServerContext* context,       \
                                          const v1::Method##Request* request, \
                                          v1::Method##Response* response) {   \
    return rpc::Unary<v1::Method##Request, v1::Method##Response>(             \
        context, #Method, kErrorDomain, *request, response,                   \
        [this](const v1::Method##Request& r) { return handler_.Method(r); }); \
  }

LOYALTY_MEMBERS_UNARY(CreateProgram)
LOYALTY_MEMBERS_UNARY(GetProgram)
LOYALTY_MEMBERS_UNARY(EnrollMember)
LOYALTY_MEMBERS_UNARY(GetMember)
LOYALTY_MEMBERS_UNARY(UpdateMember)
LOYALTY_MEMBERS_UNARY(ListMembers)
LOYALTY_MEMBERS_UNARY(SuspendMember)
LOYALTY_MEMBERS_UNARY(ReactivateMember)
LOYALTY_MEMBERS_UNARY(EraseMember)
LOYALTY_MEMBERS_UNARY(GetTierStatus)
LOYALTY_MEMBERS_UNARY(ListReferrals)
LOYALTY_MEMBERS_UNARY(RecordQualifyingActivity)

#undef LOYALTY_MEMBERS_UNARY

}  // namespace loyalty::members
