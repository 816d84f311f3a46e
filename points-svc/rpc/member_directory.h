#pragma once

// What points-svc needs to know about members and programs, which members-svc owns.
//
// MemberDirectory is the seam: GrpcMemberDirectory asks members-svc (GetMember, GetProgram) with
// a deadline. points-svc keeps what it learns in its own projection tables (member_projection,
// program_projection) and asks again only after a TTL, so members-svc being slow or down does not
// stop earning for members already known (the events issue will feed the projection instead).

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "loyalty/members/v1/members_service.grpc.pb.h"

namespace loyalty::points {

struct MemberInfo {
  int status = 0;  // loyalty.members.v1.MemberStatus
  std::string tier;
  int32_t tier_multiplier_percent = 100;
};

struct ProgramInfo {
  std::string currency_code;
  std::map<std::string, int32_t> tier_multiplier_percent;  // by tier code
};

class MemberDirectory {
 public:
  virtual ~MemberDirectory() = default;
  // NOT_FOUND (MEMBER_NOT_FOUND) for an unknown member; UNAVAILABLE when members-svc is.
  virtual absl::StatusOr<MemberInfo> GetMember(const std::string& program_id,
                                               const std::string& member_id) = 0;
  // NOT_FOUND (PROGRAM_NOT_FOUND) for an unknown program.
  virtual absl::StatusOr<ProgramInfo> GetProgram(const std::string& program_id) = 0;
};

class GrpcMemberDirectory final : public MemberDirectory {
 public:
  GrpcMemberDirectory(std::shared_ptr<grpc::Channel> channel, absl::Duration deadline);
  absl::StatusOr<MemberInfo> GetMember(const std::string& program_id,
                                       const std::string& member_id) override;
  absl::StatusOr<ProgramInfo> GetProgram(const std::string& program_id) override;

 private:
  std::unique_ptr<members::v1::MembersService::Stub> stub_;
  absl::Duration deadline_;
};

}  // namespace loyalty::points
