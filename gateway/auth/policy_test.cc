#include "gateway/auth/policy.h"

#include <set>
#include <string>

#include "gtest/gtest.h"

namespace loyalty::gateway {
namespace {

Principal Key(Role role) {
  Principal principal;
  principal.kind = Principal::Kind::kApiKey;
  principal.role = role;
  principal.key_id = "k";
  return principal;
}

Principal Member(const std::string& program, const std::string& member) {
  Principal principal;
  principal.kind = Principal::Kind::kMember;
  principal.program = program;
  principal.member = member;
  return principal;
}

constexpr char kGetMember[] = "loyalty.members.v1.MembersService.GetMember";
constexpr char kEnroll[] = "loyalty.members.v1.MembersService.EnrollMember";
constexpr char kList[] = "loyalty.members.v1.MembersService.ListMembers";
constexpr char kGetProgram[] = "loyalty.members.v1.MembersService.GetProgram";

TEST(Policy, AdminReachesEverythingIncludingRpcsTheTableDoesNotList) {
  for (const char* rpc : {kGetMember, kEnroll, kList, "loyalty.future.v1.Service.NewRpc"}) {
    EXPECT_TRUE(MayCall(Key(Role::kAdmin), PolicyFor(rpc))) << rpc;
  }
}

TEST(Policy, MerchantAndAppGetWhatTheTableGrantsAndNothingElse) {
  EXPECT_TRUE(MayCall(Key(Role::kMerchant), PolicyFor(kEnroll)));
  EXPECT_TRUE(MayCall(Key(Role::kMerchant), PolicyFor(kGetMember)));
  EXPECT_FALSE(MayCall(Key(Role::kMerchant), PolicyFor(kList)));
  EXPECT_FALSE(MayCall(Key(Role::kApp), PolicyFor(kEnroll)));
  EXPECT_TRUE(MayCall(Key(Role::kApp), PolicyFor(kGetMember)));
  EXPECT_TRUE(MayCall(Key(Role::kApp), PolicyFor(kWalletRpcName)));
  EXPECT_FALSE(MayCall(Key(Role::kMerchant), PolicyFor(kWalletRpcName)));
  // Default deny for what the table does not list.
  EXPECT_FALSE(MayCall(Key(Role::kMerchant), PolicyFor("loyalty.future.v1.Service.NewRpc")));
  EXPECT_FALSE(MayCall(Key(Role::kApp), PolicyFor("loyalty.future.v1.Service.NewRpc")));
}

TEST(Policy, MembersReachOnlyTheirOwnResources) {
  const Principal ada = Member("shop", "mada");
  EXPECT_TRUE(MayCall(ada, PolicyFor(kGetMember)));
  EXPECT_FALSE(MayCall(ada, PolicyFor(kList)));
  EXPECT_FALSE(MayCall(ada, PolicyFor(kEnroll)));
  EXPECT_TRUE(OwnsResource(ada, PolicyFor(kGetMember), "shop", "mada"));
  EXPECT_FALSE(OwnsResource(ada, PolicyFor(kGetMember), "shop", "mbob"));
  EXPECT_FALSE(OwnsResource(ada, PolicyFor(kGetMember), "other", "mada"));
  EXPECT_FALSE(OwnsResource(ada, PolicyFor(kGetMember), "shop", ""));
  EXPECT_TRUE(OwnsResource(ada, PolicyFor(kGetProgram), "shop", ""));
  EXPECT_FALSE(OwnsResource(ada, PolicyFor(kGetProgram), "other", ""));
  EXPECT_TRUE(OwnsResource(Key(Role::kApp), PolicyFor(kGetMember), "any", "one"));
}

TEST(Policy, WebhooksAreAdminOnly) {
  for (const char* rpc : {"CreateWebhook", "ListWebhooks", "GetWebhook", "UpdateWebhook",
                          "DeleteWebhook", "ListWebhookDeliveries", "RetryWebhookDelivery"}) {
    const std::string name = std::string("loyalty.members.v1.WebhooksService.") + rpc;
    // Listed in the table (a decision, not the default), and for admins only.
    EXPECT_EQ(PolicyFor(name).rpc, name);
    EXPECT_TRUE(MayCall(Key(Role::kAdmin), PolicyFor(name))) << rpc;
    EXPECT_FALSE(MayCall(Key(Role::kMerchant), PolicyFor(name))) << rpc;
    EXPECT_FALSE(MayCall(Key(Role::kApp), PolicyFor(name))) << rpc;
    EXPECT_FALSE(MayCall(Member("shop", "mada"), PolicyFor(name))) << rpc;
  }
  // Creating an endpoint must not happen twice on a retry: the key is the caller's.
  EXPECT_EQ(PolicyFor("loyalty.members.v1.WebhooksService.CreateWebhook").idempotency,
            IdempotencyKeyPolicy::kRequired);
}

TEST(Policy, RewardsRolesFollowTheIssue) {
  const std::string rewards = "loyalty.rewards.v1.RewardsService.";
  // Merchants check and use vouchers at the till, and nothing else of rewards-svc.
  for (const char* rpc : {"ValidateVoucher", "ConsumeVoucher"}) {
    EXPECT_TRUE(MayCall(Key(Role::kMerchant), PolicyFor(rewards + rpc))) << rpc;
    EXPECT_FALSE(MayCall(Key(Role::kApp), PolicyFor(rewards + rpc))) << rpc;
    EXPECT_FALSE(MayCall(Member("shop", "mada"), PolicyFor(rewards + rpc))) << rpc;
  }
  // The app and members read the catalog and their own redemptions and cards, and redeem.
  for (const char* rpc : {"GetReward", "ListRewards", "RedeemReward", "ListRedemptions",
                          "GetRedemption", "ListPunchCards"}) {
    EXPECT_TRUE(MayCall(Key(Role::kApp), PolicyFor(rewards + rpc))) << rpc;
    EXPECT_TRUE(MayCall(Member("shop", "mada"), PolicyFor(rewards + rpc))) << rpc;
    EXPECT_FALSE(MayCall(Key(Role::kMerchant), PolicyFor(rewards + rpc))) << rpc;
  }
  // Writing the catalog, fulfilment and cancellation are admin work.
  for (const char* rpc : {"CreateReward", "UpdateReward", "CancelRedemption", "UpdateFulfilment",
                          "CreatePunchCardDefinition", "RecordStamp", "RevokeStamp"}) {
    EXPECT_TRUE(MayCall(Key(Role::kAdmin), PolicyFor(rewards + rpc))) << rpc;
    EXPECT_FALSE(MayCall(Key(Role::kApp), PolicyFor(rewards + rpc))) << rpc;
    EXPECT_FALSE(MayCall(Key(Role::kMerchant), PolicyFor(rewards + rpc))) << rpc;
    EXPECT_FALSE(MayCall(Member("shop", "mada"), PolicyFor(rewards + rpc))) << rpc;
    EXPECT_EQ(PolicyFor(rewards + rpc).idempotency, IdempotencyKeyPolicy::kRequired) << rpc;
  }
  EXPECT_EQ(PolicyFor(rewards + "RedeemReward").idempotency, IdempotencyKeyPolicy::kRequired);
}

TEST(Policy, ACatalogReadNamingAnotherMemberIsNotTheMembersOwn) {
  const Principal ada = Member("shop", "mada");
  const RoutePolicy& list = PolicyFor("loyalty.rewards.v1.RewardsService.ListRewards");
  EXPECT_TRUE(OwnsResource(ada, list, "shop", ""));
  EXPECT_TRUE(OwnsResource(ada, list, "shop", "mada"));
  // Eligibility for another member would tell how many points that member lacks.
  EXPECT_FALSE(OwnsResource(ada, list, "shop", "mbob"));
  EXPECT_FALSE(OwnsResource(ada, list, "other", ""));
  EXPECT_TRUE(OwnsResource(Key(Role::kApp), list, "shop", "mbob"));
}

TEST(Policy, TableHasNoDuplicatesAndGeneratesKeysOnlyForEnrolmentAndPrograms) {
  std::set<std::string_view> seen;
  for (const RoutePolicy& policy : RoutePolicies()) {
    EXPECT_TRUE(seen.insert(policy.rpc).second) << policy.rpc;
    if (policy.idempotency == IdempotencyKeyPolicy::kGenerated) {
      EXPECT_TRUE(policy.rpc == kEnroll ||
                  policy.rpc == "loyalty.members.v1.MembersService.CreateProgram")
          << policy.rpc;
    }
  }
  EXPECT_EQ(PolicyFor("loyalty.points.v1.PointsService.RecordPurchase").idempotency,
            IdempotencyKeyPolicy::kRequired);
}

}  // namespace
}  // namespace loyalty::gateway
