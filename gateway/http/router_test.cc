#include "gateway/http/router.h"

#include "absl/strings/str_cat.h"

#include <set>
#include <string>

#include "gateway/gateway.h"
#include "gateway/services.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "loyalty/gatewaytest/v1/test_service.pb.h"

namespace loyalty::gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

const google::protobuf::ServiceDescriptor& TestService() {
  return *gatewaytest::v1::ThingRequest::descriptor()->file()->FindServiceByName("ThingService");
}

Router TestRouter() {
  Router router;
  absl::Status status = router.AddService(TestService(), "things");
  EXPECT_TRUE(status.ok()) << status;
  return router;
}

TEST(Router, BuildsOneRoutePerRuleAndAdditionalBindingButNoneForUnannotatedMethods) {
  Router router = TestRouter();
  std::set<std::string> labels;
  for (const auto& route : router.routes()) labels.insert(route->label);
  EXPECT_THAT(labels, UnorderedElementsAre("GET /v1/shelves/{shelf}/things/{name}",
                                           "GET /v1/{name=things/*/parts/*}",
                                           "POST /v1/shelves/{shelf}/things",
                                           "PATCH /v1/shelves/{shelf}/things/{name}",
                                           "POST /v1/shelves/{shelf}/things/{name}:archive",
                                           "GET /v1/shelves/{shelf}/things",
                                           "GET /v1/deep/{inner.id}", "PURGE /v1/shelves/{shelf}"));
  for (const auto& route : router.routes()) {
    EXPECT_NE(route->rpc_name, "loyalty.gatewaytest.v1.ThingService.InternalThing");
    EXPECT_EQ(route->upstream, "things");
  }
}

TEST(Router, MatchesPathVariablesVerbsAndCustomMethods) {
  Router router = TestRouter();
  Router::Result get = router.Match("GET", "/v1/shelves/s1/things/t1");
  ASSERT_EQ(get.outcome, Router::Outcome::kMatched);
  EXPECT_EQ(get.match.route->rpc_name, "loyalty.gatewaytest.v1.ThingService.GetThing");
  EXPECT_EQ(get.match.route->grpc_path, "/loyalty.gatewaytest.v1.ThingService/GetThing");
  EXPECT_THAT(get.match.values, ElementsAre("s1", "t1"));

  Router::Result archive = router.Match("POST", "/v1/shelves/s1/things/t1:archive");
  ASSERT_EQ(archive.outcome, Router::Outcome::kMatched);
  EXPECT_EQ(archive.match.route->method->name(), "ArchiveThing");
  EXPECT_EQ(archive.match.route->body, BodyKind::kWhole);
  ASSERT_NE(archive.match.route->response_field, nullptr);
  EXPECT_EQ(archive.match.route->response_field->name(), "thing");

  Router::Result binding = router.Match("GET", "/v1/things/a/parts/b");
  ASSERT_EQ(binding.outcome, Router::Outcome::kMatched);
  EXPECT_THAT(binding.match.values, ElementsAre("things/a/parts/b"));

  Router::Result purge = router.Match("PURGE", "/v1/shelves/s1");
  ASSERT_EQ(purge.outcome, Router::Outcome::kMatched);
  EXPECT_EQ(purge.match.route->method->name(), "CustomThing");

  Router::Result update = router.Match("PATCH", "/v1/shelves/s1/things/t1");
  ASSERT_EQ(update.outcome, Router::Outcome::kMatched);
  EXPECT_EQ(update.match.route->body, BodyKind::kField);
  EXPECT_EQ(update.match.route->body_field->name(), "inner");

  Router::Result deep = router.Match("GET", "/v1/deep/x");
  ASSERT_EQ(deep.outcome, Router::Outcome::kMatched);
  ASSERT_EQ(deep.match.route->variable_fields.size(), 1u);
  EXPECT_EQ(FieldPathName(deep.match.route->variable_fields[0]), "inner.id");
}

TEST(Router, TellsUnknownPathsFromWrongMethodsAndBadPaths) {
  Router router = TestRouter();
  EXPECT_EQ(router.Match("GET", "/v1/nothing").outcome, Router::Outcome::kNotFound);
  Router::Result wrong = router.Match("DELETE", "/v1/shelves/s1/things/t1");
  EXPECT_EQ(wrong.outcome, Router::Outcome::kMethodNotAllowed);
  EXPECT_THAT(wrong.allowed_methods, UnorderedElementsAre("GET", "PATCH"));
  EXPECT_EQ(router.Match("GET", "/v1/shelves/%zz").outcome, Router::Outcome::kBadPath);
}

TEST(Router, RefusesTwoRulesWithTheSameShape) {
  Router router = TestRouter();
  EXPECT_EQ(router.AddService(TestService(), "again").code(), absl::StatusCode::kAlreadyExists);
}

TEST(Router, MembersServiceRoutesComeFromItsAnnotationsAndKeepInternalRpcsOut) {
  absl::StatusOr<Router> router = BuildRouter(LinkedServices());
  ASSERT_TRUE(router.ok()) << router.status();
  std::set<std::string> rpcs;
  for (const auto& route : router->routes()) rpcs.insert(route->rpc_name);
  EXPECT_EQ(rpcs.count("loyalty.members.v1.MembersService.RecordQualifyingActivity"), 0u);
  EXPECT_EQ(rpcs.count("loyalty.members.v1.MembersService.GetTierStatus"), 1u);
  EXPECT_EQ(rpcs.count(std::string(kWalletRpcName)), 1u);
  // Internal points RPCs (the redemption saga's holds, the expiry run) stay unreachable too.
  for (const char* internal : {"CreateHold", "CaptureHold", "VoidHold", "RunExpiry"}) {
    EXPECT_EQ(rpcs.count(absl::StrCat("loyalty.points.v1.PointsService.", internal)), 0u)
        << internal;
  }
  EXPECT_EQ(rpcs.count("loyalty.points.v1.PointsService.RecordPurchase"), 1u);
  // rewards-svc's stamps arrive from purchases and refunds, never from outside.
  for (const char* internal : {"RecordStamp", "RevokeStamp"}) {
    EXPECT_EQ(rpcs.count(absl::StrCat("loyalty.rewards.v1.RewardsService.", internal)), 0u)
        << internal;
  }
  EXPECT_EQ(rpcs.count("loyalty.rewards.v1.RewardsService.RedeemReward"), 1u);
  // Eleven annotated members RPCs, seven webhooks RPCs, eleven points RPCs, thirteen rewards RPCs
  // and the wallet.
  EXPECT_EQ(router->routes().size(), 43u);
  for (const char* webhooks : {"CreateWebhook", "ListWebhooks", "GetWebhook", "UpdateWebhook",
                               "DeleteWebhook", "ListWebhookDeliveries", "RetryWebhookDelivery"}) {
    EXPECT_EQ(rpcs.count(absl::StrCat("loyalty.members.v1.WebhooksService.", webhooks)), 1u)
        << webhooks;
  }
  Router::Result retry =
      router->Match("POST", "/v1/programs/shop/webhooks/wabc/deliveries/42:retry");
  ASSERT_EQ(retry.outcome, Router::Outcome::kMatched);
  EXPECT_EQ(retry.match.route->method->name(), "RetryWebhookDelivery");
  EXPECT_EQ(retry.match.route->upstream, "members");
  EXPECT_EQ(rpcs.count("loyalty.members.v1.MembersService.ListReferrals"), 1u);
  // A voucher code as shown (XXXX-XXXX-XXXXX) is one path segment.
  Router::Result consume =
      router->Match("POST", "/v1/programs/demo/vouchers/7K3M-Q9XD-2HVNC:consume");
  ASSERT_EQ(consume.outcome, Router::Outcome::kMatched);
  EXPECT_EQ(consume.match.route->method->name(), "ConsumeVoucher");
  EXPECT_EQ(consume.match.values, std::vector<std::string>({"demo", "7K3M-Q9XD-2HVNC"}));

  Router::Result suspend = router->Match("POST", "/v1/programs/demo/members/m1:suspend");
  ASSERT_EQ(suspend.outcome, Router::Outcome::kMatched);
  EXPECT_EQ(suspend.match.route->method->name(), "SuspendMember");
  Router::Result wallet = router->Match("GET", "/v1/programs/demo/members/m1/wallet");
  ASSERT_EQ(wallet.outcome, Router::Outcome::kMatched);
  EXPECT_EQ(wallet.match.route->kind, RouteKind::kWallet);
  EXPECT_EQ(router->Match("POST", "/v1/programs/demo/members/m1:recordQualifyingActivity").outcome,
            Router::Outcome::kNotFound);
}

TEST(ResolveFieldPath, AcceptsProtoAndJsonNamesAndRefusesRepeatedIntermediates) {
  const google::protobuf::Descriptor& request = *gatewaytest::v1::ThingRequest::descriptor();
  absl::StatusOr<FieldPath> by_json = ResolveFieldPath(request, "inner.innermost.note", true);
  ASSERT_TRUE(by_json.ok());
  EXPECT_EQ(FieldPathName(*by_json), "inner.innermost.note");
  EXPECT_TRUE(ResolveFieldPath(request, "bigNumber", true).ok());
  EXPECT_FALSE(ResolveFieldPath(request, "bigNumber", false).ok());
  EXPECT_EQ(ResolveFieldPath(request, "nope", true).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ResolveFieldPath(request, "tags.x", true).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveFieldPath(request, "shelf.x", true).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace loyalty::gateway
