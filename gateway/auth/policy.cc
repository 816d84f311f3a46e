#include "gateway/auth/policy.h"

#include <array>

namespace loyalty::gateway {
namespace {

using enum MemberAccess;
using enum IdempotencyKeyPolicy;

// Keep in step with the table in docs/gateway.md. Rows for services not yet linked into the
// gateway are harmless: an RPC without a route is never looked up. Rows that only restate the
// default (admin only, key required) are listed anyway, so that each RPC's access is a decision
// someone wrote down rather than an omission.
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
    RoutePolicy{"loyalty.members.v1.MembersService.ListReferrals", kApp, kOwnMember},
    // members-svc's webhooks: endpoints, their secrets and dead letters are the merchant's
    // integration settings, so admin only, like the program itself.
    RoutePolicy{"loyalty.members.v1.WebhooksService.CreateWebhook", 0, kNone},
    RoutePolicy{"loyalty.members.v1.WebhooksService.ListWebhooks", 0, kNone},
    RoutePolicy{"loyalty.members.v1.WebhooksService.GetWebhook", 0, kNone},
    RoutePolicy{"loyalty.members.v1.WebhooksService.UpdateWebhook", 0, kNone},
    RoutePolicy{"loyalty.members.v1.WebhooksService.DeleteWebhook", 0, kNone},
    RoutePolicy{"loyalty.members.v1.WebhooksService.ListWebhookDeliveries", 0, kNone},
    RoutePolicy{"loyalty.members.v1.WebhooksService.RetryWebhookDelivery", 0, kNone},
    // points-svc
    RoutePolicy{"loyalty.points.v1.PointsService.RecordPurchase", kMerchant, kNone},
    RoutePolicy{"loyalty.points.v1.PointsService.RefundPurchase", kMerchant, kNone},
    RoutePolicy{"loyalty.points.v1.PointsService.RecordActivity", kMerchant, kNone},
    RoutePolicy{"loyalty.points.v1.PointsService.PreviewPurchase", kMerchant | kApp, kNone},
    RoutePolicy{"loyalty.points.v1.PointsService.GetBalance", kMerchant | kApp, kOwnMember},
    RoutePolicy{"loyalty.points.v1.PointsService.ListTransactions", kApp, kOwnMember},
    RoutePolicy{"loyalty.points.v1.PointsService.GetEarningRules", kMerchant | kApp, kOwnProgram},
    // rewards-svc. The catalog is the one thing a member token reads outside its own member
    // (kOwnProgram); its `member` query parameter, which asks for that member's eligibility, is
    // still checked against the token, since eligibility tells how many points a member lacks.
    // Catalog and punch card definitions are written by admins only, as are fulfilment and
    // cancellation (which returns points and stock: a support decision, not the app's).
    RoutePolicy{"loyalty.rewards.v1.RewardsService.CreateReward", 0, kNone},
    RoutePolicy{"loyalty.rewards.v1.RewardsService.GetReward", kApp, kOwnProgram},
    RoutePolicy{"loyalty.rewards.v1.RewardsService.UpdateReward", 0, kNone},
    RoutePolicy{"loyalty.rewards.v1.RewardsService.ListRewards", kApp, kOwnProgram},
    RoutePolicy{"loyalty.rewards.v1.RewardsService.RedeemReward", kApp, kOwnMember},
    RoutePolicy{"loyalty.rewards.v1.RewardsService.ListRedemptions", kApp, kOwnMember},
    RoutePolicy{"loyalty.rewards.v1.RewardsService.GetRedemption", kApp, kOwnMember},
    RoutePolicy{"loyalty.rewards.v1.RewardsService.CancelRedemption", 0, kNone},
    RoutePolicy{"loyalty.rewards.v1.RewardsService.UpdateFulfilment", 0, kNone},
    RoutePolicy{"loyalty.rewards.v1.RewardsService.ValidateVoucher", kMerchant, kNone},
    RoutePolicy{"loyalty.rewards.v1.RewardsService.ConsumeVoucher", kMerchant, kNone},
    RoutePolicy{"loyalty.rewards.v1.RewardsService.CreatePunchCardDefinition", 0, kNone},
    RoutePolicy{"loyalty.rewards.v1.RewardsService.ListPunchCards", kApp, kOwnMember},
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
      // A program-wide read may still name a member (the catalog's `member` asks for that
      // member's eligibility, which tells how many points it lacks): only the token's own.
      return program == principal.program && (member.empty() || member == principal.member);
    case kOwnMember:
      return program == principal.program && member == principal.member;
  }
  return false;
}

}  // namespace loyalty::gateway
