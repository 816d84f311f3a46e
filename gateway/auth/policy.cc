#include "gateway/auth/policy.h"

#include <array>

namespace loyalty::gateway {
namespace {

using enum MemberAccess;
using enum IdempotencyKeyPolicy;

// Keep in step with the table in docs/gateway.md. Rows for services not yet linked into the
// gateway are harmless: an RPC without a route is never looked up.
constexpr std::array kPolicies = {
    // members-svc
    RoutePolicy{"loyalty.members.v1.MembersService.CreateProgram", 0, kNone, kGenerated},
    RoutePolicy{"loyalty.members.v1.MembersService.GetProgram", kMerchant | kApp, kOwnProgram},
    RoutePolicy{"loyalty.members.v1.MembersService.EnrollMember", kMerchant, kNone, kGenerated},
    RoutePolicy{"loyalty.members.v1.MembersService.GetMember", kMerchant | kApp, kOwnMember},
    RoutePolicy{"loyalty.members.v1.MembersService.UpdateMember", 0, kOwnMember},
    RoutePolicy{"loyalty.members.v1.MembersService.ListMembers", 0, kNone},
    RoutePolicy{"loyalty.members.v1.MembersService.SuspendMember", 0, kNone},
    RoutePolicy{"loyalty.members.v1.MembersService.ReactivateMember", 0, kNone},
    RoutePolicy{"loyalty.members.v1.MembersService.EraseMember", 0, kNone},
    RoutePolicy{"loyalty.members.v1.MembersService.GetTierStatus", kMerchant | kApp, kOwnMember},
    // points-svc
    RoutePolicy{"loyalty.points.v1.PointsService.RecordPurchase", kMerchant, kNone},
    RoutePolicy{"loyalty.points.v1.PointsService.RefundPurchase", kMerchant, kNone},
    RoutePolicy{"loyalty.points.v1.PointsService.RecordActivity", kMerchant, kNone},
    RoutePolicy{"loyalty.points.v1.PointsService.PreviewPurchase", kMerchant | kApp, kNone},
    RoutePolicy{"loyalty.points.v1.PointsService.GetBalance", kMerchant | kApp, kOwnMember},
    RoutePolicy{"loyalty.points.v1.PointsService.ListTransactions", kApp, kOwnMember},
    RoutePolicy{"loyalty.points.v1.PointsService.GetEarningRules", kMerchant | kApp, kOwnProgram},
    // The gateway's own wallet view.
    RoutePolicy{kWalletRpcName, kApp, kOwnMember},
};

constexpr RoutePolicy kDefaultPolicy{"", 0, kNone, kRequired};

uint32_t RoleBit(Role role) {
  switch (role) {
    case Role::kMerchant:
      return kMerchant;
    case Role::kApp:
      return kApp;
    case Role::kAdmin:
      break;
  }
  return 0;
}

}  // namespace

std::span<const RoutePolicy> RoutePolicies() { return kPolicies; }

const RoutePolicy& PolicyFor(std::string_view rpc) {
  for (const RoutePolicy& policy : kPolicies) {
    if (policy.rpc == rpc) return policy;
  }
  return kDefaultPolicy;
}

bool MayCall(const Principal& principal, const RoutePolicy& policy) {
  if (principal.kind == Principal::Kind::kMember) return policy.member != kNone;
  if (principal.role == Role::kAdmin) return true;
  return (policy.roles & RoleBit(principal.role)) != 0;
}

bool OwnsResource(const Principal& principal, const RoutePolicy& policy, std::string_view program,
                  std::string_view member) {
  if (principal.kind != Principal::Kind::kMember) return true;
  switch (policy.member) {
    case kNone:
      return false;
    case kOwnProgram:
      return program == principal.program;
    case kOwnMember:
      return program == principal.program && member == principal.member;
  }
  return false;
}

}  // namespace loyalty::gateway
