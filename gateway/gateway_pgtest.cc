// The gateway end to end: a real members-svc, points-svc and rewards-svc (each gRPC on port 0,
// with its own migrations on a fresh schema of the PostgreSQL that scripts/test starts) behind a
// real gateway (HTTP on port 0), called over HTTP/1.1 as a client would. Time is one FakeClock
// for all four, so tokens, tiers, holds and expiries move together.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log/trace.h"
#include "common/pg/migrate.h"
#include "common/server/server.h"
#include "common/testkit/fake_clock.h"
#include "common/testkit/status_matchers.h"
#include "common/testkit/test_schema.h"
#include "gateway/auth/jwt_sign.h"
#include "gateway/config.h"
#include "gateway/gateway_server.h"
#include "gateway/testing/http_client.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "members-svc/migrations.h"
#include "members-svc/rpc/grpc_service.h"
#include "members-svc/rpc/members_handler.h"
#include "points-svc/migrations.h"
#include "points-svc/rpc/grpc_service.h"
#include "points-svc/rpc/member_directory.h"
#include "points-svc/rpc/points_handler.h"
#include "rewards-svc/migrations.h"
#include "rewards-svc/rpc/grpc_service.h"
#include "rewards-svc/rpc/rewards_handler.h"
#include "rewards-svc/rpc/upstream.h"
#include "rewards-svc/rpc/voucher_keys.h"

namespace loyalty::gateway {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;
using ::loyalty::testkit::IsOk;
using testing::ClientResponse;
using ::testing::HasSubstr;
using testing::HttpClient;
using ::testing::Not;
using Headers = std::vector<std::pair<std::string, std::string>>;

const absl::Time kStart =
    absl::FromCivil(absl::CivilSecond(2026, 1, 15, 12, 0, 0), absl::UTCTimeZone());
constexpr char kSecret[] = "gateway-pgtest-secret-0123456789abcdef";
constexpr char kIssuer[] = "https://id.test";
constexpr char kAudience[] = "loyalty-gateway-test";
constexpr char kAdminKey[] = "pgtest-admin-key";
constexpr char kMerchantKey[] = "pgtest-merchant-key";
constexpr char kAppKey[] = "pgtest-app-key";
constexpr int kMemberBurst = 20;
constexpr char kVoucherKey[] = "gateway-pgtest-voucher-key-0123456789abcdef";

Struct Json(const std::string& text) {
  Struct parsed;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(text, &parsed).ok()) << text;
  return parsed;
}

const Value& At(const Struct& object, const std::string& path) {
  static const Value* const missing = new Value();
  const Struct* current = &object;
  const Value* value = missing;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string key = path.substr(start, dot == std::string::npos ? dot : dot - start);
    const auto it = current->fields().find(key);
    if (it == current->fields().end()) return *missing;
    value = &it->second;
    if (dot == std::string::npos) return *value;
    current = &value->struct_value();
    start = dot + 1;
  }
}

std::string Reason(const ClientResponse& response) {
  const Struct body = Json(response.body);
  for (const Value& detail : At(body, "details").list_value().values()) {
    const auto& fields = detail.struct_value().fields();
    if (fields.at("@type").string_value() == "type.googleapis.com/google.rpc.ErrorInfo") {
      return fields.at("reason").string_value();
    }
  }
  return "";
}

std::string Field(const ClientResponse& response) {
  const Struct body = Json(response.body);
  for (const Value& detail : At(body, "details").list_value().values()) {
    const auto& fields = detail.struct_value().fields();
    if (fields.at("@type").string_value() == "type.googleapis.com/google.rpc.BadRequest") {
      return fields.at("fieldViolations")
          .list_value()
          .values(0)
          .struct_value()
          .fields()
          .at("field")
          .string_value();
    }
  }
  return "";
}

class GatewayPgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(MakeSchema("gateway", members::Migrations(), schema_, pool_));
    handler_ = std::make_unique<members::MembersHandler>(
        *pool_, clock_, members::MembersHandlerOptions{.page_token_key = kPageTokenKey});
    service_ = std::make_unique<members::GrpcMembersService>(*handler_);
    members_ = StartService("members-svc-test", service_.get());
    ASSERT_NE(members_, nullptr);

    ASSERT_NO_FATAL_FAILURE(
        MakeSchema("gwpoints", points::Migrations(), points_schema_, points_pool_));
    directory_ = std::make_unique<points::GrpcMemberDirectory>(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", members_->grpc_port()),
                            grpc::InsecureChannelCredentials()),
        absl::Seconds(5));
    // What points-svc learnt about a member stays trusted for the whole test (the clock moves
    // by seconds at most), so its part of the wallet answers with members-svc stopped.
    points_handler_ = std::make_unique<points::PointsHandler>(
        *points_pool_, clock_, *directory_,
        points::PointsHandlerOptions{.page_token_key = kPageTokenKey,
                                     .projection_ttl = absl::Hours(1)});
    points_service_ = std::make_unique<points::GrpcPointsService>(*points_handler_);
    points_ = StartService("points-svc-test", points_service_.get());
    ASSERT_NE(points_, nullptr);

    ASSERT_NO_FATAL_FAILURE(
        MakeSchema("gwrewards", rewards::Migrations(), rewards_schema_, rewards_pool_));
    rewards_upstream_ = std::make_unique<rewards::Upstream>(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", points_->grpc_port()),
                            grpc::InsecureChannelCredentials()),
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", members_->grpc_port()),
                            grpc::InsecureChannelCredentials()),
        absl::Seconds(5));
    absl::StatusOr<rewards::VoucherKeys> keys = rewards::VoucherKeys::Create(kVoucherKey);
    ASSERT_THAT(keys, IsOk());
    rewards_handler_ = std::make_unique<rewards::RewardsHandler>(
        *rewards_pool_, clock_, *rewards_upstream_, *std::move(keys),
        rewards::RewardsHandlerOptions{.page_token_key = kPageTokenKey});
    rewards_service_ = std::make_unique<rewards::GrpcRewardsService>(*rewards_handler_);
    rewards_ = StartService("rewards-svc-test", rewards_service_.get());
    ASSERT_NE(rewards_, nullptr);
    StartGateway();
    client_ = std::make_unique<HttpClient>("127.0.0.1", gateway_->http_port());

    ClientResponse program = Call("POST", "/v1/programs", Admin(),
                                  R"({"program":{"id":"shop","displayName":"Shop Rewards",)"
                                  R"("currencyCode":"EUR","pointValueMinorPerThousand":"1000"}})");
    ASSERT_EQ(program.status, 200) << program.body;
  }

  static constexpr char kPageTokenKey[] = "gateway-test-page-key";

  // A fresh schema named after `prefix`, with `migrations` applied, and a pool on it.
  static void MakeSchema(std::string_view prefix, std::span<const pg::Migration> migrations,
                         std::unique_ptr<testkit::TestSchema>& schema,
                         std::unique_ptr<pg::Pool>& pool) {
    auto created = testkit::TestSchema::Create(prefix);
    ASSERT_THAT(created, IsOk());
    schema = *std::move(created);
    pool = schema->MakePool(4);
    auto connection = pool->Acquire();
    ASSERT_THAT(connection, IsOk());
    ASSERT_THAT(pg::ApplyMigrations(**connection, migrations), IsOk());
  }

  static std::unique_ptr<server::GrpcServer> StartService(const std::string& name,
                                                          grpc::Service* service) {
    auto server = server::GrpcServer::Start(
        {.service_name = name, .listen_address = "127.0.0.1", .grpc_port = 0, .metrics_port = -1},
        {service});
    EXPECT_THAT(server, IsOk());
    return server.ok() ? *std::move(server) : nullptr;
  }

  // Replaces the running gateway (and its client) with one started with `hooks` and the
  // variables in `env` on top of the test's own.
  void RestartGateway(GatewayServerHooks hooks, std::map<std::string, std::string> env = {}) {
    client_.reset();
    gateway_.reset();
    StartGateway(std::move(hooks), std::move(env));
    client_ = std::make_unique<HttpClient>("127.0.0.1", gateway_->http_port());
  }

  void StartGateway(GatewayServerHooks hooks = {}, std::map<std::string, std::string> env = {}) {
    env.insert({
        {"LOYALTY_GATEWAY_LISTEN_ADDRESS", "127.0.0.1"},
        {"LOYALTY_GATEWAY_HTTP_PORT", "0"},
        {"LOYALTY_GATEWAY_METRICS_PORT", "0"},
        {"LOYALTY_GATEWAY_MEMBERS_ADDR", absl::StrCat("127.0.0.1:", members_->grpc_port())},
        {"LOYALTY_GATEWAY_POINTS_ADDR", absl::StrCat("127.0.0.1:", points_->grpc_port())},
        {"LOYALTY_GATEWAY_REWARDS_ADDR", absl::StrCat("127.0.0.1:", rewards_->grpc_port())},
        {"LOYALTY_GATEWAY_UPSTREAM_DEADLINE_MS", "5000"},
        {"LOYALTY_GATEWAY_THREADS", "2"},
        {"LOYALTY_GATEWAY_API_KEYS",
         absl::StrCat(Sha256Hex(kAdminKey), ":admin,", Sha256Hex(kMerchantKey), ":merchant,",
                      Sha256Hex(kAppKey), ":app")},
        {"LOYALTY_GATEWAY_JWT_HS256_SECRET", kSecret},
        {"LOYALTY_GATEWAY_JWT_ISSUER", kIssuer},
        {"LOYALTY_GATEWAY_JWT_AUDIENCE", kAudience},
        {"LOYALTY_GATEWAY_RATE_LIMIT_MEMBER_PER_SECOND", "1"},
        {"LOYALTY_GATEWAY_RATE_LIMIT_MEMBER_BURST", absl::StrCat(kMemberBurst)},
        {"LOYALTY_GATEWAY_ACCESS_LOG", "false"},
        {"LOYALTY_GATEWAY_SHUTDOWN_GRACE_MS", "1000"},
    });
    config::EnvReader reader(config::MapEnv(std::move(env)));
    absl::StatusOr<GatewayConfig> config = LoadGatewayConfig(reader);
    ASSERT_THAT(config, IsOk());
    hooks.clock = &clock_;
    hooks.serve_metrics = false;
    auto gateway = GatewayServer::Start(*std::move(config), std::move(hooks));
    ASSERT_THAT(gateway, IsOk());
    gateway_ = *std::move(gateway);
  }

  ClientResponse Call(const std::string& method, const std::string& target, Headers headers = {},
                      const std::string& body = "") {
    absl::StatusOr<ClientResponse> response = client_->Send(method, target, headers, body);
    EXPECT_THAT(response, IsOk()) << method << " " << target;
    return response.value_or(ClientResponse{});
  }

  static Headers Admin(std::string key = "") {
    Headers headers = {{"x-api-key", kAdminKey}};
    if (!key.empty()) headers.emplace_back("Idempotency-Key", key);
    return headers;
  }
  static Headers Key(const char* key) { return {{"x-api-key", key}}; }

  std::string Token(const std::string& member, const std::string& program = "shop") {
    MemberTokenSpec spec;
    spec.program = program;
    spec.member = member;
    spec.issuer = kIssuer;
    spec.audience = kAudience;
    spec.issue_time = clock_.Now();
    return *MintMemberToken(spec, JwsAlgorithm::kHs256, kSecret);
  }
  Headers AsMember(const std::string& member) {
    return {{"Authorization", absl::StrCat("Bearer ", Token(member))}};
  }

  // Enrols through the gateway; returns the member JSON.
  Struct Enroll(const std::string& email, const std::string& key = "") {
    ClientResponse response =
        Call("POST", "/v1/programs/shop/members", Admin(key.empty() ? "enrol-" + email : key),
             absl::StrCat(R"({"profile":{"email":")", email, R"(","displayName":"Ada"}})"));
    EXPECT_EQ(response.status, 200) << response.body;
    return At(Json(response.body), "member").struct_value();
  }

  // Gives `member` points with a purchase through the gateway (1 point per euro).
  void Buy(const std::string& member, int64_t euros, const std::string& order) {
    ClientResponse purchase =
        Call("POST", absl::StrCat("/v1/programs/shop/members/", member, "/purchases"),
             {{"x-api-key", kMerchantKey}, {"Idempotency-Key", "buy-" + order}},
             absl::StrCat(R"({"orderId":")", order, R"(","currencyCode":"EUR","totalMinor":")",
                          euros * 100, R"("})"));
    ASSERT_EQ(purchase.status, 200) << purchase.body;
  }

  // Adds a reward to the catalog as an admin; `details` is its kind's JSON member. Returns its id.
  std::string CreateReward(const std::string& title, int64_t cost, const std::string& details) {
    ClientResponse created = Call(
        "POST", "/v1/programs/shop/rewards", Admin("reward-" + title),
        absl::StrCat(R"({"title":")", title, R"(","pointsCost":")", cost, R"(",)", details, "}"));
    EXPECT_EQ(created.status, 200) << created.body;
    return At(Json(created.body), "reward.id").string_value();
  }
  std::string CreateTenPercentOff(int64_t cost) {
    return CreateReward(absl::StrCat("ten-", cost), cost, R"("discountPercent":{"percent":10})");
  }

  // Redeems `reward` for `member` with the member's own token and `key`.
  ClientResponse Redeem(const std::string& member, const std::string& reward,
                        const std::string& key) {
    Headers headers = AsMember(member);
    headers.emplace_back("Idempotency-Key", key);
    return Call("POST", absl::StrCat("/v1/programs/shop/members/", member, "/redemptions"), headers,
                absl::StrCat(R"({"reward":")", reward, R"("})"));
  }

  // The wallet of `member`, complete, then again after `service` stopped: returns the second.
  Struct WalletAfterStopping(std::unique_ptr<server::GrpcServer>& service,
                             const std::string& member) {
    const std::string target = absl::StrCat("/v1/programs/shop/members/", member, "/wallet");
    ClientResponse complete = Call("GET", target, AsMember(member));
    EXPECT_EQ(complete.status, 200) << complete.body;
    EXPECT_THAT(complete.body, HasSubstr(R"("partial":[])"));
    service->Shutdown();
    service.reset();
    ClientResponse partial = Call("GET", target, AsMember(member));
    EXPECT_EQ(partial.status, 200) << partial.body;
    return Json(partial.body);
  }

  static Headers Merchant(const std::string& key = "") {
    Headers headers = {{"x-api-key", kMerchantKey}};
    if (!key.empty()) headers.emplace_back("Idempotency-Key", key);
    return headers;
  }

  testkit::FakeClock clock_{kStart};
  std::unique_ptr<testkit::TestSchema> schema_;
  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<members::MembersHandler> handler_;
  std::unique_ptr<members::GrpcMembersService> service_;
  std::unique_ptr<server::GrpcServer> members_;
  std::unique_ptr<testkit::TestSchema> points_schema_;
  std::unique_ptr<pg::Pool> points_pool_;
  std::unique_ptr<points::GrpcMemberDirectory> directory_;
  std::unique_ptr<points::PointsHandler> points_handler_;
  std::unique_ptr<points::GrpcPointsService> points_service_;
  std::unique_ptr<server::GrpcServer> points_;
  std::unique_ptr<testkit::TestSchema> rewards_schema_;
  std::unique_ptr<pg::Pool> rewards_pool_;
  std::unique_ptr<rewards::Upstream> rewards_upstream_;
  std::unique_ptr<rewards::RewardsHandler> rewards_handler_;
  std::unique_ptr<rewards::GrpcRewardsService> rewards_service_;
  std::unique_ptr<server::GrpcServer> rewards_;
  std::unique_ptr<GatewayServer> gateway_;
  std::unique_ptr<HttpClient> client_;
};

TEST_F(GatewayPgTest, EveryMembersRouteAnswersThroughTheGateway) {
  ClientResponse program = Call("GET", "/v1/programs/shop", Admin());
  ASSERT_EQ(program.status, 200) << program.body;
  EXPECT_EQ(At(Json(program.body), "program.name").string_value(), "programs/shop");

  const Struct member = Enroll("ada@example.com");
  const std::string id = At(member, "id").string_value();
  const std::string base = absl::StrCat("/v1/programs/shop/members/", id);
  EXPECT_EQ(At(member, "status").string_value(), "MEMBER_STATUS_ACTIVE");

  ClientResponse got = Call("GET", base, Admin());
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(At(Json(got.body), "member.profile.email").string_value(), "ada@example.com");

  ClientResponse updated = Call("PATCH", base + "?updateMask=displayName", Admin("upd-1"),
                                R"({"displayName":"Ada L.","email":"ignored@example.com"})");
  ASSERT_EQ(updated.status, 200) << updated.body;
  EXPECT_EQ(At(Json(updated.body), "member.profile.displayName").string_value(), "Ada L.");
  EXPECT_EQ(At(Json(updated.body), "member.profile.email").string_value(), "ada@example.com");

  ClientResponse list =
      Call("GET", "/v1/programs/shop/members?pageSize=10&status=MEMBER_STATUS_ACTIVE", Admin());
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(At(Json(list.body), "members").list_value().values_size(), 1);

  ClientResponse tier = Call("GET", base + "/tierStatus", Admin());
  ASSERT_EQ(tier.status, 200) << tier.body;
  EXPECT_EQ(At(Json(tier.body), "currentTier.code").string_value(), "bronze");

  ClientResponse suspended =
      Call("POST", base + ":suspend", Admin("sus-1"), R"({"reason":"review"})");
  ASSERT_EQ(suspended.status, 200) << suspended.body;
  EXPECT_EQ(At(Json(suspended.body), "member.status").string_value(), "MEMBER_STATUS_SUSPENDED");
  ClientResponse reactivated = Call("POST", base + ":reactivate", Admin("rea-1"));
  ASSERT_EQ(reactivated.status, 200) << reactivated.body;
  EXPECT_EQ(At(Json(reactivated.body), "member.status").string_value(), "MEMBER_STATUS_ACTIVE");
  ClientResponse erased = Call("POST", base + ":erase", Admin("era-1"));
  ASSERT_EQ(erased.status, 200) << erased.body;
  EXPECT_EQ(At(Json(erased.body), "member.status").string_value(), "MEMBER_STATUS_ERASED");

  // The internal RPC has no route.
  ClientResponse internal = Call("POST", base + ":recordQualifyingActivity", Admin("q-1"), "{}");
  EXPECT_EQ(internal.status, 404);
  EXPECT_EQ(Reason(internal), "ROUTE_NOT_FOUND");
}

TEST_F(GatewayPgTest, JsonRoundTripsEveryFieldType) {
  ClientResponse created =
      Call("POST", "/v1/programs", Admin("prog-types"),
           R"({"program":{"id":"types","displayName":"Types","currencyCode":"USD",)"
           R"("pointValueMinorPerThousand":1250,"tierWindowMonths":6,"downgradeGraceDays":10,)"
           R"("tiers":[{"code":"base","displayName":"Base","thresholdPoints":"0",)"
           R"("earnMultiplierPercent":100,"benefits":[{"code":"WELCOME","description":"Hi"}]},)"
           R"({"code":"top","displayName":"Top","thresholdPoints":"1000000000000",)"
           R"("earnMultiplierPercent":200}]}})");
  ASSERT_EQ(created.status, 200) << created.body;
  const Struct program = At(Json(created.body), "program").struct_value();
  // int64 comes back as a string; int32 as a number.
  EXPECT_EQ(At(program, "pointValueMinorPerThousand").string_value(), "1250");
  EXPECT_EQ(At(program, "tierWindowMonths").number_value(), 6);
  const auto& tiers = At(program, "tiers").list_value();
  ASSERT_EQ(tiers.values_size(), 2);
  EXPECT_EQ(At(tiers.values(1).struct_value(), "thresholdPoints").string_value(), "1000000000000");
  EXPECT_EQ(At(tiers.values(0).struct_value(), "benefits").list_value().values_size(), 1);
  // Timestamps in RFC 3339.
  EXPECT_EQ(At(program, "createTime").string_value(), "2026-01-15T12:00:00Z");

  ClientResponse enrolled =
      Call("POST", "/v1/programs/types/members", Admin("enrol-types"),
           R"({"profile":{"email":"t@example.com","phone":"+4915112345678",)"
           R"("birthday":{"year":1990,"month":12,"day":10},"marketingConsent":true}})");
  ASSERT_EQ(enrolled.status, 200) << enrolled.body;
  const Struct member = At(Json(enrolled.body), "member").struct_value();
  EXPECT_EQ(At(member, "profile.birthday.month").number_value(), 12);
  EXPECT_TRUE(At(member, "profile.marketingConsent").bool_value());
  EXPECT_EQ(At(member, "status").string_value(), "MEMBER_STATUS_ACTIVE");
  EXPECT_EQ(At(member, "cardNumber").string_value().size(), 16u);
  // Defaults are printed: an empty referral code, not a missing key.
  EXPECT_EQ(At(member, "referredByCode").kind_case(), Value::kStringValue);

  const std::string base =
      absl::StrCat("/v1/programs/types/members/", At(member, "id").string_value());
  // A field mask in the query (JSON names), a bool turned off.
  ClientResponse updated = Call("PATCH", base + "?updateMask=marketingConsent,birthday",
                                Admin("upd-types"), R"({"marketingConsent":false})");
  ASSERT_EQ(updated.status, 200) << updated.body;
  EXPECT_FALSE(At(Json(updated.body), "member.profile.marketingConsent").bool_value());
  EXPECT_EQ(At(Json(updated.body), "member.profile.birthday").kind_case(), Value::KIND_NOT_SET);

  // An enum in the query, by name and by number; a double in the answer.
  EXPECT_EQ(Call("GET", "/v1/programs/types/members?status=MEMBER_STATUS_ACTIVE", Admin()).status,
            200);
  EXPECT_EQ(Call("GET", "/v1/programs/types/members?status=1", Admin()).status, 200);
  ClientResponse tier = Call("GET", base + "/tierStatus", Admin());
  ASSERT_EQ(tier.status, 200);
  EXPECT_EQ(At(Json(tier.body), "progressPercent").kind_case(), Value::kNumberValue);
}

TEST_F(GatewayPgTest, ServiceErrorsKeepTheirReasonAndMapToHttp) {
  const Struct ada = Enroll("ada@example.com");
  const std::string base = absl::StrCat("/v1/programs/shop/members/", At(ada, "id").string_value());

  ClientResponse invalid = Call("POST", "/v1/programs/shop/members", Admin("bad-email"),
                                R"({"profile":{"email":"not-an-email"}})");
  EXPECT_EQ(invalid.status, 400);
  EXPECT_EQ(Reason(invalid), "INVALID_EMAIL");
  EXPECT_EQ(Field(invalid), "profile.email");
  EXPECT_THAT(invalid.body, HasSubstr(R"("domain":"members.loyalty")"));

  ClientResponse missing = Call("GET", "/v1/programs/shop/members/mnotthere12345", Admin());
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(Reason(missing), "MEMBER_NOT_FOUND");
  EXPECT_EQ(Call("GET", "/v1/programs/nope", Admin()).status, 404);

  ClientResponse duplicate = Call("POST", "/v1/programs/shop/members", Admin("dup-2"),
                                  R"({"profile":{"email":"ada@example.com"}})");
  EXPECT_EQ(duplicate.status, 409);
  EXPECT_EQ(Reason(duplicate), "MEMBER_ALREADY_ENROLLED");
  ClientResponse program =
      Call("POST", "/v1/programs", Admin("prog-again"),
           R"({"program":{"id":"shop","displayName":"X","currencyCode":"EUR"}})");
  EXPECT_EQ(program.status, 409);
  EXPECT_EQ(Reason(program), "PROGRAM_ALREADY_EXISTS");

  ClientResponse precondition = Call("POST", base + ":reactivate", Admin("rea-active"));
  EXPECT_EQ(precondition.status, 400);
  EXPECT_EQ(Reason(precondition), "MEMBER_NOT_SUSPENDED");

  ClientResponse page = Call("GET", "/v1/programs/shop/members?pageSize=-1", Admin());
  EXPECT_EQ(page.status, 400);
  EXPECT_EQ(Reason(page), "INVALID_PAGE_SIZE");

  // The gateway's own 400s name the field too.
  ClientResponse unknown = Call("POST", "/v1/programs/shop/members", Admin("unk"),
                                R"({"profile":{"emial":"x@example.com"}})");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(Reason(unknown), "UNKNOWN_FIELD");
  EXPECT_EQ(Field(unknown), "profile.emial");
  ClientResponse type =
      Call("POST", "/v1/programs/shop/members", Admin("typ"), R"({"profile":{"email":42}})");
  EXPECT_EQ(type.status, 400);
  EXPECT_EQ(Reason(type), "INVALID_FIELD_VALUE");
  EXPECT_EQ(Field(type), "profile.email");
  ClientResponse malformed = Call("POST", "/v1/programs/shop/members", Admin("mal"),
                                  R"({"profile":{"email":"x@example.com")");
  EXPECT_EQ(malformed.status, 400);
  EXPECT_EQ(Reason(malformed), "MALFORMED_JSON");
  ClientResponse query = Call("GET", "/v1/programs/shop/members?pageSize=ten", Admin());
  EXPECT_EQ(query.status, 400);
  EXPECT_EQ(Field(query), "page_size");
}

TEST_F(GatewayPgTest, UnavailableMembersIs503AndReadinessFollows) {
  EXPECT_EQ(Call("GET", "/readyz").status, 200);
  members_->Shutdown();
  members_.reset();
  ClientResponse down = Call("GET", "/v1/programs/shop", Admin());
  EXPECT_EQ(down.status, 503);
  EXPECT_EQ(Reason(down), "UPSTREAM_UNAVAILABLE");
  EXPECT_THAT(down.body, Not(HasSubstr("127.0.0.1")));
  ClientResponse ready = Call("GET", "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_THAT(ready.body, HasSubstr(R"("members":"UNREACHABLE")"));
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
}

TEST_F(GatewayPgTest, CredentialsAreRequired) {
  ClientResponse none = Call("GET", "/v1/programs/shop");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(Reason(none), "UNAUTHENTICATED");
  EXPECT_EQ(Call("GET", "/v1/programs/shop", Key("not-a-key")).status, 401);
  EXPECT_EQ(Call("GET", "/v1/programs/shop", {{"Authorization", "Bearer e30.e30.e30"}}).status,
            401);
  MemberTokenSpec spec;
  spec.program = "shop";
  spec.member = "mx";
  spec.issuer = kIssuer;
  spec.audience = kAudience;
  spec.issue_time = clock_.Now();
  const std::string forged =
      *MintMemberToken(spec, JwsAlgorithm::kHs256, "another-secret-of-enough-length-000000");
  EXPECT_EQ(Call("GET", "/v1/programs/shop", {{"Authorization", "Bearer " + forged}}).status, 401);
}

TEST_F(GatewayPgTest, ApiKeyRolesReachTheirRoutesOnly) {
  ClientResponse enrolled = Call("POST", "/v1/programs/shop/members",
                                 {{"x-api-key", kMerchantKey}, {"Idempotency-Key", "m-enrol"}},
                                 R"({"profile":{"email":"m@example.com"}})");
  ASSERT_EQ(enrolled.status, 200) << enrolled.body;
  const std::string id = At(Json(enrolled.body), "member.id").string_value();
  const std::string base = absl::StrCat("/v1/programs/shop/members/", id);
  EXPECT_EQ(Call("GET", base, Key(kMerchantKey)).status, 200);
  EXPECT_EQ(Call("GET", "/v1/programs/shop/members", Key(kMerchantKey)).status, 403);
  EXPECT_EQ(Call("POST", base + ":suspend", {{"x-api-key", kMerchantKey}, {"Idempotency-Key", "s"}})
                .status,
            403);
  EXPECT_EQ(Call("GET", base, Key(kAppKey)).status, 200);
  EXPECT_EQ(Call("GET", base + "/tierStatus", Key(kAppKey)).status, 200);
  EXPECT_EQ(Call("GET", base + "/wallet", Key(kAppKey)).status, 200);
  ClientResponse app_enrol = Call("POST", "/v1/programs/shop/members", Key(kAppKey),
                                  R"({"profile":{"email":"a@example.com"}})");
  EXPECT_EQ(app_enrol.status, 403);
  EXPECT_EQ(Reason(app_enrol), "PERMISSION_DENIED");
  EXPECT_EQ(Call("POST", "/v1/programs", Key(kMerchantKey), R"({"program":{"id":"x"}})").status,
            403);
  EXPECT_EQ(Call("GET", "/v1/programs/shop/members", Admin()).status, 200);
}

TEST_F(GatewayPgTest, AMemberTokenReachesOnlyItsOwnMemberAndNoByteOfAnotherComesBack) {
  const Struct ada = Enroll("ada@example.com");
  const Struct bob = Enroll("bob@example.com");
  const std::string ada_id = At(ada, "id").string_value();
  const std::string bob_id = At(bob, "id").string_value();
  const std::string bob_card = At(bob, "cardNumber").string_value();
  const std::string bob_referral = At(bob, "referralCode").string_value();
  const Headers as_ada = AsMember(ada_id);

  ClientResponse own = Call("GET", absl::StrCat("/v1/programs/shop/members/", ada_id), as_ada);
  ASSERT_EQ(own.status, 200) << own.body;
  EXPECT_EQ(At(Json(own.body), "member.profile.email").string_value(), "ada@example.com");
  EXPECT_EQ(
      Call("GET", absl::StrCat("/v1/programs/shop/members/", ada_id, "/wallet"), as_ada).status,
      200);

  const std::string bob_base = absl::StrCat("/v1/programs/shop/members/", bob_id);
  struct Attempt {
    std::string method;
    std::string target;
    std::string body;
  };
  for (const Attempt& attempt : std::vector<Attempt>{
           {"GET", bob_base, ""},
           {"PATCH", bob_base + "?updateMask=displayName", R"({"displayName":"pwned"})"},
           {"GET", bob_base + "/tierStatus", ""},
           {"GET", bob_base + "/wallet", ""},
           {"POST", bob_base + ":suspend", "{}"},
           {"POST", bob_base + ":reactivate", "{}"},
           {"POST", bob_base + ":erase", "{}"},
           {"GET", "/v1/programs/shop/members", ""},
           {"GET", "/v1/programs/other/members/" + ada_id, ""}}) {
    Headers headers = as_ada;
    headers.emplace_back("Idempotency-Key", "bola-" + attempt.method);
    ClientResponse response = Call(attempt.method, attempt.target, headers, attempt.body);
    if (attempt.target == "/v1/programs/shop/members") {
      EXPECT_EQ(response.status, 403) << attempt.target;
    } else {
      EXPECT_EQ(response.status, 404) << attempt.method << " " << attempt.target;
      EXPECT_EQ(Reason(response), "RESOURCE_NOT_FOUND");
    }
    for (const std::string& secret : {std::string("bob@example.com"), bob_card, bob_referral}) {
      EXPECT_THAT(response.body, Not(HasSubstr(secret))) << attempt.target;
    }
  }
  // Bob is untouched.
  ClientResponse check = Call("GET", bob_base, Admin());
  EXPECT_EQ(At(Json(check.body), "member.profile.displayName").string_value(), "Ada");
  EXPECT_EQ(At(Json(check.body), "member.status").string_value(), "MEMBER_STATUS_ACTIVE");
}

TEST_F(GatewayPgTest, BodyLimitContentTypeAndRateLimit) {
  const std::string big =
      absl::StrCat(R"({"profile":{"displayName":")", std::string(kBodyBytesMax, 'x'), R"("}})");
  ClientResponse too_large = Call("POST", "/v1/programs/shop/members", Admin("big"), big);
  EXPECT_EQ(too_large.status, 413);
  EXPECT_EQ(Reason(too_large), "BODY_TOO_LARGE");

  ClientResponse text = Call("POST", "/v1/programs/shop/members",
                             {{"x-api-key", kAdminKey}, {"content-type", "text/plain"}}, "{}");
  EXPECT_EQ(text.status, 415);
  EXPECT_EQ(Reason(text), "UNSUPPORTED_MEDIA_TYPE");

  const std::string id = At(Enroll("rate@example.com"), "id").string_value();
  const std::string target = absl::StrCat("/v1/programs/shop/members/", id);
  const Headers as_member = AsMember(id);
  for (int i = 0; i < kMemberBurst; ++i) {
    ASSERT_EQ(Call("GET", target, as_member).status, 200) << i;
  }
  ClientResponse limited = Call("GET", target, as_member);
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(Reason(limited), "RATE_LIMITED");
  EXPECT_EQ(limited.Header("retry-after"), "1");
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(Call("GET", target, as_member).status, 200);
}

TEST_F(GatewayPgTest, IdempotencyKeyHeaderReplaysTheFirstAnswer) {
  const std::string body = R"({"profile":{"email":"once@example.com"}})";
  ClientResponse first = Call("POST", "/v1/programs/shop/members", Admin("same-key"), body);
  ClientResponse again = Call("POST", "/v1/programs/shop/members", Admin("same-key"), body);
  ASSERT_EQ(first.status, 200) << first.body;
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(At(Json(first.body), "member.id").string_value(),
            At(Json(again.body), "member.id").string_value());
  ClientResponse reused = Call("POST", "/v1/programs/shop/members", Admin("same-key"),
                               R"({"profile":{"email":"other@example.com"}})");
  EXPECT_EQ(reused.status, 400);
  EXPECT_EQ(Reason(reused), "IDEMPOTENCY_KEY_REUSED");

  const std::string base =
      absl::StrCat("/v1/programs/shop/members/", At(Json(first.body), "member.id").string_value());
  ClientResponse suspended = Call("POST", base + ":suspend", Admin("suspend-once"));
  ClientResponse replayed = Call("POST", base + ":suspend", Admin("suspend-once"));
  EXPECT_EQ(suspended.status, 200);
  EXPECT_EQ(replayed.status, 200);
  EXPECT_EQ(suspended.body, replayed.body);
  ClientResponse keyless = Call("POST", base + ":reactivate", Admin());
  EXPECT_EQ(keyless.status, 400);
  EXPECT_EQ(Reason(keyless), "IDEMPOTENCY_KEY_REQUIRED");

  // Enrolment without a key gets one, returned so that the client can retry with it.
  ClientResponse generated = Call("POST", "/v1/programs/shop/members", Admin(),
                                  R"({"profile":{"email":"gen@example.com"}})");
  ASSERT_EQ(generated.status, 200);
  const std::string key = generated.Header("idempotency-key");
  ASSERT_FALSE(key.empty());
  ClientResponse retried = Call("POST", "/v1/programs/shop/members", Admin(key),
                                R"({"profile":{"email":"gen@example.com"}})");
  EXPECT_EQ(retried.status, 200);
  EXPECT_EQ(At(Json(retried.body), "member.id").string_value(),
            At(Json(generated.body), "member.id").string_value());
}

TEST_F(GatewayPgTest, TraceparentIsContinuedAndReturned) {
  Headers headers = Admin();
  headers.emplace_back("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  ClientResponse response = Call("GET", "/v1/programs/shop", headers);
  ASSERT_EQ(response.status, 200);
  std::optional<log::TraceContext> trace = log::ParseTraceParent(response.Header("traceparent"));
  ASSERT_TRUE(trace.has_value());
  EXPECT_EQ(trace->trace_id, "0af7651916cd43dd8448eb211c80319c");
}

TEST_F(GatewayPgTest, WalletWithPointsAndRewardsAbsentListsThemAsPartial) {
  RestartGateway(
      {}, {{"LOYALTY_GATEWAY_POINTS_ADDR", "absent"}, {"LOYALTY_GATEWAY_REWARDS_ADDR", "absent"}});
  const std::string id = At(Enroll("wallet@example.com"), "id").string_value();
  ClientResponse wallet =
      Call("GET", absl::StrCat("/v1/programs/shop/members/", id, "/wallet"), AsMember(id));
  ASSERT_EQ(wallet.status, 200) << wallet.body;
  const Struct body = Json(wallet.body);
  EXPECT_EQ(At(body, "member.id").string_value(), id);
  EXPECT_EQ(At(body, "tierStatus.currentTier.code").string_value(), "bronze");
  EXPECT_EQ(At(body, "balance").kind_case(), Value::KIND_NOT_SET);
  ASSERT_EQ(At(body, "partial").list_value().values_size(), 2);
  EXPECT_EQ(At(body, "partial").list_value().values(0).string_value(), "points");
  EXPECT_EQ(At(body, "partial").list_value().values(1).string_value(), "rewards");

  ClientResponse unknown = Call("GET", "/v1/programs/shop/members/mnotthere12345/wallet", Admin());
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(Reason(unknown), "MEMBER_NOT_FOUND");
}

TEST_F(GatewayPgTest, WalletShowsTheBalanceAfterAPurchase) {
  const std::string id = At(Enroll("buyer@example.com"), "id").string_value();
  const std::string base = absl::StrCat("/v1/programs/shop/members/", id);
  ClientResponse before = Call("GET", base + "/wallet", AsMember(id));
  ASSERT_EQ(before.status, 200) << before.body;
  EXPECT_EQ(At(Json(before.body), "balance.available").string_value(), "0");
  EXPECT_EQ(At(Json(before.body), "balance.nextExpiries").list_value().values_size(), 0);

  // 123.45 EUR at the default 1 point per euro; the points expire after 12 months.
  ClientResponse purchase =
      Call("POST", base + "/purchases", {{"x-api-key", kMerchantKey}, {"Idempotency-Key", "buy-1"}},
           R"({"orderId":"order-1","currencyCode":"EUR","totalMinor":"12345"})");
  ASSERT_EQ(purchase.status, 200) << purchase.body;
  ASSERT_EQ(At(Json(purchase.body), "points").string_value(), "123");

  ClientResponse wallet = Call("GET", base + "/wallet", AsMember(id));
  ASSERT_EQ(wallet.status, 200) << wallet.body;
  const Struct body = Json(wallet.body);
  EXPECT_EQ(At(body, "member.id").string_value(), id);
  EXPECT_EQ(At(body, "tierStatus.currentTier.code").string_value(), "bronze");
  EXPECT_EQ(At(body, "balance.available").string_value(), "123");
  EXPECT_EQ(At(body, "balance.pending").string_value(), "0");
  EXPECT_EQ(At(body, "balance.held").string_value(), "0");
  EXPECT_EQ(At(body, "balance.lifetimeEarned").string_value(), "123");
  const auto& expiries = At(body, "balance.nextExpiries").list_value();
  ASSERT_EQ(expiries.values_size(), 1);
  EXPECT_EQ(At(expiries.values(0).struct_value(), "points").string_value(), "123");
  EXPECT_EQ(At(expiries.values(0).struct_value(), "time").string_value(), "2027-01-15T12:00:00Z");
  EXPECT_EQ(At(body, "affordableRewards").list_value().values_size(), 0);
  EXPECT_EQ(At(body, "openVouchers").list_value().values_size(), 0);
  EXPECT_EQ(At(body, "partial").list_value().values_size(), 0);

  // An unknown member is not a partial wallet, whichever service says so first.
  ClientResponse unknown = Call("GET", "/v1/programs/shop/members/mnotthere12345/wallet", Admin());
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(Reason(unknown), "MEMBER_NOT_FOUND");

  // The same numbers as the balance route itself.
  ClientResponse balance = Call("GET", base + "/balance", AsMember(id));
  ASSERT_EQ(balance.status, 200) << balance.body;
  Struct wallet_balance;
  *wallet_balance.mutable_fields() = At(body, "balance").struct_value().fields();
  EXPECT_EQ(At(Json(balance.body), "balance").struct_value().DebugString(),
            wallet_balance.DebugString());
}

TEST_F(GatewayPgTest, WalletWithPointsStoppedIsPartialNamingPointsAndHasTheRest) {
  const std::string id = At(Enroll("nopoints@example.com"), "id").string_value();
  const std::string target = absl::StrCat("/v1/programs/shop/members/", id, "/wallet");
  ASSERT_EQ(Call("GET", target, AsMember(id)).status, 200);

  points_->Shutdown();
  points_.reset();
  ClientResponse partial = Call("GET", target, AsMember(id));
  ASSERT_EQ(partial.status, 200) << partial.body;
  const Struct body = Json(partial.body);
  EXPECT_EQ(At(body, "member.id").string_value(), id);
  EXPECT_EQ(At(body, "member.profile.email").string_value(), "nopoints@example.com");
  EXPECT_EQ(At(body, "tierStatus.currentTier.code").string_value(), "bronze");
  EXPECT_EQ(At(body, "balance").kind_case(), Value::KIND_NOT_SET);
  // rewards-svc needs the balance for eligibility, so its part is missing too.
  ASSERT_EQ(At(body, "partial").list_value().values_size(), 2);
  EXPECT_EQ(At(body, "partial").list_value().values(0).string_value(), "points");
  EXPECT_EQ(At(body, "partial").list_value().values(1).string_value(), "rewards");
  // The points route itself is down, and says so.
  ClientResponse balance =
      Call("GET", absl::StrCat("/v1/programs/shop/members/", id, "/balance"), AsMember(id));
  EXPECT_EQ(balance.status, 503);
  EXPECT_EQ(Reason(balance), "UPSTREAM_UNAVAILABLE");
}

TEST_F(GatewayPgTest, WalletWithMembersStoppedStillAnswersWithTheRest) {
  const std::string id = At(Enroll("stopped@example.com"), "id").string_value();
  // points-svc learns the member with the purchase, and keeps it in its projection.
  ASSERT_NO_FATAL_FAILURE(Buy(id, 50, "order-s"));
  const Struct body = WalletAfterStopping(members_, id);
  EXPECT_EQ(At(body, "balance.available").string_value(), "50");
  EXPECT_EQ(At(body, "member").kind_case(), Value::KIND_NOT_SET);
  EXPECT_EQ(At(body, "tierStatus").kind_case(), Value::KIND_NOT_SET);
  // rewards-svc asks members-svc only about rewards with a minimum tier: none here.
  EXPECT_EQ(At(body, "openVouchers").list_value().values_size(), 0);
  ASSERT_EQ(At(body, "partial").list_value().values_size(), 1);
  EXPECT_EQ(At(body, "partial").list_value().values(0).string_value(), "members");
}

TEST_F(GatewayPgTest, WalletWithEveryServiceDownIs503) {
  const std::string id = At(Enroll("alldown@example.com"), "id").string_value();
  members_->Shutdown();
  members_.reset();
  points_->Shutdown();
  points_.reset();
  rewards_->Shutdown();
  rewards_.reset();
  ClientResponse down =
      Call("GET", absl::StrCat("/v1/programs/shop/members/", id, "/wallet"), AsMember(id));
  EXPECT_EQ(down.status, 503);
  EXPECT_THAT(down.body, Not(HasSubstr("127.0.0.1")));
}

TEST_F(GatewayPgTest, EveryRewardsRouteAnswersThroughTheGateway) {
  const std::string ada = At(Enroll("ada@example.com"), "id").string_value();
  const std::string base = absl::StrCat("/v1/programs/shop/members/", ada);
  ASSERT_NO_FATAL_FAILURE(Buy(ada, 500, "r-order-1"));

  // The catalog: create and change as admin, read as the app and as the member.
  const std::string reward = CreateTenPercentOff(100);
  ASSERT_FALSE(reward.empty());
  ClientResponse got = Call("GET", "/v1/programs/shop/rewards/" + reward, Key(kAppKey));
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(At(Json(got.body), "reward.kind").string_value(), "REWARD_KIND_DISCOUNT_PERCENT");
  // The body is `reward_patch`; the mask comes from the query.
  ClientResponse updated =
      Call("PATCH", absl::StrCat("/v1/programs/shop/rewards/", reward, "?updateMask=title"),
           Admin("reward-update"), R"({"title":"Ten percent off"})");
  ASSERT_EQ(updated.status, 200) << updated.body;
  EXPECT_EQ(At(Json(updated.body), "reward.title").string_value(), "Ten percent off");
  ClientResponse list =
      Call("GET", absl::StrCat("/v1/programs/shop/rewards?member=", ada), AsMember(ada));
  ASSERT_EQ(list.status, 200) << list.body;
  const Struct listed = Json(list.body);
  const auto& rewards = At(listed, "rewards").list_value();
  ASSERT_EQ(rewards.values_size(), 1);
  EXPECT_TRUE(At(rewards.values(0).struct_value(), "eligibility.redeemable").bool_value());

  // Redeem as the member, then read the redemption back.
  ClientResponse redeemed = Redeem(ada, reward, "redeem-1");
  ASSERT_EQ(redeemed.status, 200) << redeemed.body;
  const Struct redemption = At(Json(redeemed.body), "redemption").struct_value();
  EXPECT_EQ(At(redemption, "status").string_value(), "REDEMPTION_STATUS_COMPLETED");
  const std::string id = At(redemption, "id").string_value();
  const std::string code = At(redemption, "voucher.code").string_value();
  ASSERT_EQ(code.size(), 15u) << code;  // XXXX-XXXX-XXXXX
  ClientResponse one = Call("GET", absl::StrCat(base, "/redemptions/", id), AsMember(ada));
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(At(Json(one.body), "redemption.voucher.code").string_value(), code);
  ClientResponse all = Call("GET", base + "/redemptions?pageSize=10", Key(kAppKey));
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_EQ(At(Json(all.body), "redemptions").list_value().values_size(), 1);
  ClientResponse balance = Call("GET", base + "/balance", AsMember(ada));
  EXPECT_EQ(At(Json(balance.body), "balance.available").string_value(), "400");

  // The merchant values and uses the voucher at the till; the code goes in the path as shown.
  const std::string voucher = absl::StrCat("/v1/programs/shop/vouchers/", code);
  ClientResponse valued = Call("POST", voucher + ":validate", Merchant(),
                               R"({"orderTotalMinor":"2000","currencyCode":"EUR"})");
  ASSERT_EQ(valued.status, 200) << valued.body;
  EXPECT_EQ(At(Json(valued.body), "value.discountMinor").string_value(), "200");
  ClientResponse consumed =
      Call("POST", voucher + ":consume", Merchant("consume-1"),
           R"({"orderId":"till-1","orderTotalMinor":"2000","currencyCode":"EUR"})");
  ASSERT_EQ(consumed.status, 200) << consumed.body;
  ClientResponse twice =
      Call("POST", voucher + ":consume", Merchant("consume-2"),
           R"({"orderId":"till-2","orderTotalMinor":"2000","currencyCode":"EUR"})");
  EXPECT_EQ(twice.status, 400);
  EXPECT_EQ(Reason(twice), "VOUCHER_ALREADY_USED");
  EXPECT_THAT(twice.body, HasSubstr(R"("domain":"rewards.loyalty")"));

  // A second redemption, cancelled by an admin: the points come back.
  ClientResponse second = Redeem(ada, reward, "redeem-2");
  ASSERT_EQ(second.status, 200) << second.body;
  const std::string second_id = At(Json(second.body), "redemption.id").string_value();
  ClientResponse cancelled =
      Call("POST", absl::StrCat(base, "/redemptions/", second_id, ":cancel"), Admin("cancel-1"));
  ASSERT_EQ(cancelled.status, 200) << cancelled.body;
  EXPECT_EQ(At(Json(cancelled.body), "redemption.status").string_value(),
            "REDEMPTION_STATUS_CANCELLED");
  EXPECT_EQ(At(Json(Call("GET", base + "/balance", AsMember(ada)).body), "balance.available")
                .string_value(),
            "400");

  // An experience, moved along by an admin.
  const std::string tour =
      CreateReward("tour", 50, R"("experience":{"type":"EXPERIENCE_TYPE_EVENT"})");
  ClientResponse booked = Redeem(ada, tour, "redeem-tour");
  ASSERT_EQ(booked.status, 200) << booked.body;
  ClientResponse shipped =
      Call("POST",
           absl::StrCat(base, "/redemptions/",
                        At(Json(booked.body), "redemption.id").string_value(), ":fulfil"),
           Admin("fulfil-1"), R"({"status":"FULFILMENT_STATUS_SHIPPED"})");
  ASSERT_EQ(shipped.status, 200) << shipped.body;
  EXPECT_EQ(At(Json(shipped.body), "redemption.fulfilmentStatus").string_value(),
            "FULFILMENT_STATUS_SHIPPED");

  // Punch cards: defined by an admin, listed by the member.
  ClientResponse card =
      Call("POST", "/v1/programs/shop/punchCardDefinitions", Admin("card-1"),
           absl::StrCat(R"({"title":"Coffee","sku":"coffee","stampsNeeded":5,"reward":")", reward,
                        R"("})"));
  ASSERT_EQ(card.status, 200) << card.body;
  ClientResponse cards = Call("GET", base + "/punchCards", AsMember(ada));
  EXPECT_EQ(cards.status, 200) << cards.body;

  // A refusal keeps the service's reason and domain.
  const std::string dear = CreateTenPercentOff(100000);
  ClientResponse short_of_points = Redeem(ada, dear, "redeem-dear");
  EXPECT_EQ(short_of_points.status, 400);
  EXPECT_EQ(Reason(short_of_points), "INSUFFICIENT_POINTS");
  EXPECT_THAT(short_of_points.body, HasSubstr(R"("domain":"rewards.loyalty")"));

  // The internal RPCs have no route.
  for (const char* verb : {":recordStamp", ":revokeStamp", "/stamps"}) {
    ClientResponse internal = Call("POST", base + verb, Admin("stamp"), "{}");
    EXPECT_EQ(internal.status, 404) << verb;
    EXPECT_EQ(Reason(internal), "ROUTE_NOT_FOUND") << verb;
  }
}

TEST_F(GatewayPgTest, RewardsRolesFollowThePolicyTable) {
  const std::string ada = At(Enroll("ada@example.com"), "id").string_value();
  const std::string base = absl::StrCat("/v1/programs/shop/members/", ada);
  ASSERT_NO_FATAL_FAILURE(Buy(ada, 500, "roles-1"));
  const std::string reward = CreateTenPercentOff(100);
  ClientResponse redeemed =
      Call("POST", base + "/redemptions", {{"x-api-key", kAppKey}, {"Idempotency-Key", "app-1"}},
           absl::StrCat(R"({"reward":")", reward, R"("})"));
  ASSERT_EQ(redeemed.status, 200) << redeemed.body;
  const std::string id = At(Json(redeemed.body), "redemption.id").string_value();
  const std::string code = At(Json(redeemed.body), "redemption.voucher.code").string_value();
  const std::string validate = absl::StrCat("/v1/programs/shop/vouchers/", code, ":validate");
  const std::string body = R"({"orderTotalMinor":"1000","currencyCode":"EUR"})";

  struct Denied {
    Headers headers;
    std::string method;
    std::string target;
    std::string body;
  };
  Headers app = {{"x-api-key", kAppKey}, {"Idempotency-Key", "deny"}};
  Headers merchant = Merchant("deny");
  Headers member = AsMember(ada);
  member.emplace_back("Idempotency-Key", "deny");
  for (const Denied& denied : std::vector<Denied>{
           {app, "POST", validate, body},
           {member, "POST", validate, body},
           {merchant, "GET", "/v1/programs/shop/rewards", ""},
           {merchant, "POST", base + "/redemptions",
            absl::StrCat(R"({"reward":")", reward, R"("})")},
           {merchant, "GET", base + "/redemptions", ""},
           {app, "POST", "/v1/programs/shop/rewards", R"({"title":"x","pointsCost":"1"})"},
           {member, "POST", "/v1/programs/shop/rewards", R"({"title":"x","pointsCost":"1"})"},
           {app, "POST", absl::StrCat(base, "/redemptions/", id, ":cancel"), ""},
           {member, "POST", absl::StrCat(base, "/redemptions/", id, ":cancel"), ""}}) {
    ClientResponse response = Call(denied.method, denied.target, denied.headers, denied.body);
    EXPECT_EQ(response.status, 403) << denied.method << " " << denied.target;
    EXPECT_EQ(Reason(response), "PERMISSION_DENIED") << denied.target;
  }
  EXPECT_EQ(Call("POST", validate, Merchant(), body).status, 200);
  EXPECT_EQ(Call("GET", "/v1/programs/shop/rewards", Key(kAppKey)).status, 200);
  EXPECT_EQ(Call("GET", "/v1/programs/shop/rewards/" + reward, AsMember(ada)).status, 200);
  EXPECT_EQ(Call("GET", base + "/punchCards", Key(kAppKey)).status, 200);
  // A redemption needs a key, whoever asks.
  ClientResponse keyless = Call("POST", base + "/redemptions", Key(kAppKey),
                                absl::StrCat(R"({"reward":")", reward, R"("})"));
  EXPECT_EQ(keyless.status, 400);
  EXPECT_EQ(Reason(keyless), "IDEMPOTENCY_KEY_REQUIRED");
}

TEST_F(GatewayPgTest, RedeemReplaysTheFirstRedemptionForTheSameIdempotencyKey) {
  const std::string ada = At(Enroll("ada@example.com"), "id").string_value();
  ASSERT_NO_FATAL_FAILURE(Buy(ada, 500, "replay-1"));
  const std::string reward = CreateTenPercentOff(100);
  ClientResponse first = Redeem(ada, reward, "redeem-once");
  ClientResponse again = Redeem(ada, reward, "redeem-once");
  ASSERT_EQ(first.status, 200) << first.body;
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(At(Json(first.body), "redemption.id").string_value(),
            At(Json(again.body), "redemption.id").string_value());
  EXPECT_EQ(At(Json(first.body), "redemption.voucher.code").string_value(),
            At(Json(again.body), "redemption.voucher.code").string_value());
  // The points were spent once.
  ClientResponse balance =
      Call("GET", absl::StrCat("/v1/programs/shop/members/", ada, "/balance"), AsMember(ada));
  EXPECT_EQ(At(Json(balance.body), "balance.available").string_value(), "400");
  ClientResponse list =
      Call("GET", absl::StrCat("/v1/programs/shop/members/", ada, "/redemptions"), AsMember(ada));
  EXPECT_EQ(At(Json(list.body), "redemptions").list_value().values_size(), 1);
  // The same key for another reward is refused.
  const std::string other = CreateTenPercentOff(50);
  ClientResponse reused = Redeem(ada, other, "redeem-once");
  EXPECT_EQ(reused.status, 400);
  EXPECT_EQ(Reason(reused), "IDEMPOTENCY_KEY_REUSED");
}

TEST_F(GatewayPgTest, AMemberTokenNeverSeesAnotherMembersRedemptions) {
  const std::string ada = At(Enroll("ada@example.com"), "id").string_value();
  const std::string bob = At(Enroll("bob@example.com"), "id").string_value();
  ASSERT_NO_FATAL_FAILURE(Buy(ada, 500, "bola-ada"));
  ASSERT_NO_FATAL_FAILURE(Buy(bob, 500, "bola-bob"));
  const std::string reward = CreateTenPercentOff(100);
  ClientResponse bobs = Redeem(bob, reward, "bob-redeem");
  ASSERT_EQ(bobs.status, 200) << bobs.body;
  const std::string bob_redemption = At(Json(bobs.body), "redemption.id").string_value();
  const std::string bob_code = At(Json(bobs.body), "redemption.voucher.code").string_value();
  ASSERT_FALSE(bob_code.empty());
  const std::string bob_base = absl::StrCat("/v1/programs/shop/members/", bob);
  const std::string ada_base = absl::StrCat("/v1/programs/shop/members/", ada);

  struct Attempt {
    std::string method;
    std::string target;
    std::string body;
    std::string reason = "RESOURCE_NOT_FOUND";
  };
  for (const Attempt& attempt : std::vector<Attempt>{
           {"GET", absl::StrCat(bob_base, "/redemptions/", bob_redemption), ""},
           {"GET", bob_base + "/redemptions", ""},
           {"POST", bob_base + "/redemptions", absl::StrCat(R"({"reward":")", reward, R"("})")},
           {"POST", absl::StrCat(bob_base, "/redemptions/", bob_redemption, ":cancel"), ""},
           {"GET", bob_base + "/punchCards", ""},
           // Bob's redemption under Ada's own path: rewards-svc scopes it by member.
           {"GET", absl::StrCat(ada_base, "/redemptions/", bob_redemption), "",
            "REDEMPTION_NOT_FOUND"},
           // The catalog with Bob's eligibility would tell how many points Bob lacks.
           {"GET", "/v1/programs/shop/rewards?member=" + bob, ""},
           {"GET", absl::StrCat("/v1/programs/shop/rewards/", reward, "?member=", bob), ""},
           {"GET", "/v1/programs/other/rewards", ""}}) {
    Headers headers = AsMember(ada);
    headers.emplace_back("Idempotency-Key", "bola-" + attempt.method);
    ClientResponse response = Call(attempt.method, attempt.target, headers, attempt.body);
    EXPECT_EQ(response.status, 404) << attempt.method << " " << attempt.target << response.body;
    EXPECT_EQ(Reason(response), attempt.reason) << attempt.target;
    // Nothing of Bob's beyond what the path itself named: no voucher, no redemption, no email.
    for (const std::string& secret :
         {bob_code, std::string("bob@example.com"), std::string(R"("redemption")"),
          std::string(R"("voucher")"), std::string(R"("eligibility")")}) {
      EXPECT_THAT(response.body, Not(HasSubstr(secret))) << attempt.target;
    }
  }
  // Bob still has exactly his one redemption, and his points.
  ClientResponse list = Call("GET", bob_base + "/redemptions", Admin());
  EXPECT_EQ(At(Json(list.body), "redemptions").list_value().values_size(), 1);
  EXPECT_EQ(At(Json(Call("GET", bob_base + "/balance", Admin()).body), "balance.available")
                .string_value(),
            "400");
  // Ada's own catalog view works, with or without naming herself.
  EXPECT_EQ(Call("GET", "/v1/programs/shop/rewards", AsMember(ada)).status, 200);
  EXPECT_EQ(Call("GET", "/v1/programs/shop/rewards?member=" + ada, AsMember(ada)).status, 200);
}

TEST_F(GatewayPgTest, WalletListsAffordableRewardsAndOpenVouchers) {
  const std::string ada = At(Enroll("ada@example.com"), "id").string_value();
  const std::string base = absl::StrCat("/v1/programs/shop/members/", ada);
  ASSERT_NO_FATAL_FAILURE(Buy(ada, 500, "wallet-r"));
  const std::string cheap = CreateTenPercentOff(100);
  const std::string dear = CreateTenPercentOff(450);
  ClientResponse used = Redeem(ada, cheap, "wallet-used");
  ClientResponse kept = Redeem(ada, cheap, "wallet-kept");
  ASSERT_EQ(used.status, 200) << used.body;
  ASSERT_EQ(kept.status, 200) << kept.body;
  const std::string used_code = At(Json(used.body), "redemption.voucher.code").string_value();
  ASSERT_EQ(Call("POST", absl::StrCat("/v1/programs/shop/vouchers/", used_code, ":consume"),
                 Merchant("wallet-consume"),
                 R"({"orderId":"w-1","orderTotalMinor":"1000","currencyCode":"EUR"})")
                .status,
            200);

  ClientResponse wallet = Call("GET", base + "/wallet", AsMember(ada));
  ASSERT_EQ(wallet.status, 200) << wallet.body;
  const Struct body = Json(wallet.body);
  EXPECT_EQ(At(body, "balance.available").string_value(), "300");
  // 300 points: the 100-point reward, not the 450-point one.
  const auto& affordable = At(body, "affordableRewards").list_value();
  ASSERT_EQ(affordable.values_size(), 1);
  EXPECT_EQ(At(affordable.values(0).struct_value(), "id").string_value(), cheap);
  EXPECT_THAT(wallet.body, Not(HasSubstr(dear)));
  // The used voucher is gone; the kept one is there with its code.
  const auto& open = At(body, "openVouchers").list_value();
  ASSERT_EQ(open.values_size(), 1);
  EXPECT_EQ(At(open.values(0).struct_value(), "id").string_value(),
            At(Json(kept.body), "redemption.id").string_value());
  EXPECT_EQ(At(open.values(0).struct_value(), "voucher.code").string_value(),
            At(Json(kept.body), "redemption.voucher.code").string_value());
  EXPECT_EQ(At(body, "partial").list_value().values_size(), 0);

  // Past the voucher's validity (30 days by default) it is no longer open.
  clock_.Advance(absl::Hours(24 * 31));
  ClientResponse later = Call("GET", base + "/wallet", Key(kAppKey));
  ASSERT_EQ(later.status, 200) << later.body;
  EXPECT_EQ(At(Json(later.body), "openVouchers").list_value().values_size(), 0);
}

TEST_F(GatewayPgTest, WalletWithRewardsStoppedIsPartialNamingRewards) {
  const std::string id = At(Enroll("norewards@example.com"), "id").string_value();
  ASSERT_NO_FATAL_FAILURE(Buy(id, 20, "norewards-1"));
  const Struct body = WalletAfterStopping(rewards_, id);
  EXPECT_EQ(At(body, "member.id").string_value(), id);
  EXPECT_EQ(At(body, "balance.available").string_value(), "20");
  EXPECT_EQ(At(body, "affordableRewards").kind_case(), Value::KIND_NOT_SET);
  EXPECT_EQ(At(body, "openVouchers").kind_case(), Value::KIND_NOT_SET);
  ASSERT_EQ(At(body, "partial").list_value().values_size(), 1);
  EXPECT_EQ(At(body, "partial").list_value().values(0).string_value(), "rewards");
  // The rewards routes themselves say it is down.
  ClientResponse catalog = Call("GET", "/v1/programs/shop/rewards", AsMember(id));
  EXPECT_EQ(catalog.status, 503);
  EXPECT_EQ(Reason(catalog), "UPSTREAM_UNAVAILABLE");
}

TEST_F(GatewayPgTest, ServesItsOpenApiDocument) {
  ClientResponse document = Call("GET", "/openapi.json");
  ASSERT_EQ(document.status, 200);
  EXPECT_EQ(At(Json(document.body), "openapi").string_value(), "3.0.3");
  EXPECT_THAT(document.body, HasSubstr("/v1/programs/{program}/members/{member}:suspend"));
}

}  // namespace
}  // namespace loyalty::gateway
