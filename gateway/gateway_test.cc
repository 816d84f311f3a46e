// The request pipeline against fake upstreams: authentication, authorisation, limits,
// idempotency keys, tracing and error mapping, without sockets or services.

#include "gateway/gateway.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log/trace.h"
#include "common/status/error.h"
#include "common/status/grpc_status.h"
#include "common/testkit/fake_clock.h"
#include "gateway/auth/jwt_sign.h"
#include "gateway/testing/fake_upstreams.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "loyalty/members/v1/members_service.pb.h"
#include "prometheus/registry.h"

namespace loyalty::gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);
constexpr char kSecret[] = "gateway-test-secret-0123456789abcdef";
constexpr char kAdminKey[] = "admin-key-1";
constexpr char kMerchantKey[] = "merchant-key-1";
constexpr char kAppKey[] = "app-key-1";

std::string Header(const HttpResponse& response, const std::string& name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return "";
}

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override { Build(); }

  void Build(RateLimitOptions member_rate = {.rate = 100, .burst = 100, .buckets_max = 1000},
             std::vector<std::unique_ptr<WalletPart>> parts = {}) {
    GatewayOptions options;
    options.api_keys =
        *ApiKeyTable::Parse(absl::StrCat(Sha256Hex(kAdminKey), ":admin,", Sha256Hex(kMerchantKey),
                                         ":merchant,", Sha256Hex(kAppKey), ":app"));
    auto jwt = std::make_shared<JwtVerifier>(
        JwtVerifierOptions{.issuer = "test-issuer", .audience = "test-audience"});
    EXPECT_TRUE(jwt->AddHmacKey("", kSecret).ok());
    options.jwt = jwt;
    options.api_key_rate = {.rate = 1000, .burst = 1000, .buckets_max = 1000};
    options.member_rate = member_rate;
    options.ready_services = {"members", "points"};
    options.openapi_json = R"({"openapi":"3.0.3"})";
    options.access_log = false;
    absl::StatusOr<Router> router = BuildRouter(LinkedServices());
    ASSERT_TRUE(router.ok()) << router.status();
    if (metrics_ == nullptr) metrics_ = std::make_unique<GatewayMetrics>(registry_);
    if (parts.empty()) parts = DefaultParts();
    gateway_ = std::make_unique<Gateway>(
        std::move(options), *std::move(router), upstreams_, std::move(parts), clock_,
        [](std::function<void()> work) { work(); }, metrics_.get(), [] { return uint64_t{42}; });
  }

  std::vector<std::unique_ptr<WalletPart>> DefaultParts() {
    std::vector<std::unique_ptr<WalletPart>> parts;
    parts.push_back(std::make_unique<MembersWalletPart>(upstreams_));
    parts.push_back(std::make_unique<AbsentWalletPart>("points"));
    return parts;
  }

  HttpResponse Send(const std::string& method, const std::string& target, HttpHeaders headers = {},
                    const std::string& body = "") {
    HttpRequest request;
    request.method = method;
    request.target = target;
    request.headers = std::move(headers);
    if (!body.empty()) request.headers.emplace_back("content-type", "application/json");
    request.body = body;
    HttpResponse captured;
    bool answered = false;
    gateway_->Handle(std::move(request), [&](HttpResponse response) {
      captured = std::move(response);
      answered = true;
    });
    EXPECT_TRUE(answered) << method << " " << target;
    return captured;
  }

  std::string MemberToken(const std::string& member, const std::string& program = "shop") {
    MemberTokenSpec spec;
    spec.program = program;
    spec.member = member;
    spec.issuer = "test-issuer";
    spec.audience = "test-audience";
    spec.issue_time = kNow;
    return *MintMemberToken(spec, JwsAlgorithm::kHs256, kSecret);
  }

  HttpHeaders AsMember(const std::string& member) {
    return {{"authorization", absl::StrCat("Bearer ", MemberToken(member))}};
  }
  static HttpHeaders WithKey(const char* key) { return {{"x-api-key", key}}; }

  testkit::FakeClock clock_{kNow};
  testing::FakeUpstreams upstreams_{{"members"}};
  prometheus::Registry registry_;
  std::unique_ptr<GatewayMetrics> metrics_;
  std::unique_ptr<Gateway> gateway_;
};

TEST_F(GatewayTest, HealthReadinessAndOpenApiNeedNoCredentials) {
  EXPECT_EQ(Send("GET", "/healthz").status, 200);
  upstreams_.SetHealth({{"members", "SERVING"}});
  HttpResponse ready = Send("GET", "/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body,
            R"({"status":"SERVING","services":{"members":"SERVING","points":"ABSENT"}})");
  upstreams_.SetHealth({{"members", "UNREACHABLE"}});
  EXPECT_EQ(Send("GET", "/readyz").status, 503);
  EXPECT_EQ(Send("GET", "/openapi.json").body, R"({"openapi":"3.0.3"})");
  EXPECT_EQ(Send("POST", "/healthz").status, 405);
  upstreams_.SetHealth({{"members", "SERVING"}});
  gateway_->SetDraining();
  EXPECT_EQ(Send("GET", "/readyz").status, 503);
  EXPECT_EQ(Send("GET", "/healthz").status, 200);
}

TEST_F(GatewayTest, UnknownRoutesAre404AndWrongMethods405) {
  HttpResponse missing = Send("GET", "/v1/nothing", WithKey(kAdminKey));
  EXPECT_EQ(missing.status, 404);
  EXPECT_THAT(missing.body, HasSubstr(R"("reason":"ROUTE_NOT_FOUND")"));
  EXPECT_THAT(missing.body, HasSubstr(R"("domain":"gateway.loyalty")"));
  HttpResponse wrong = Send("DELETE", "/v1/programs/shop", WithKey(kAdminKey));
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(Header(wrong, "allow"), "GET");
  // Internal RPCs have no route at all.
  EXPECT_EQ(Send("POST", "/v1/programs/shop/members/m1:recordQualifyingActivity",
                 WithKey(kAdminKey), "{}")
                .status,
            404);
  EXPECT_TRUE(upstreams_.calls().empty());
}

TEST_F(GatewayTest, CredentialsAreRequiredAndChecked) {
  HttpResponse none = Send("GET", "/v1/programs/shop");
  EXPECT_EQ(none.status, 401);
  EXPECT_THAT(none.body, HasSubstr(R"("reason":"UNAUTHENTICATED")"));
  EXPECT_THAT(Header(none, "www-authenticate"), StartsWith("Bearer"));
  EXPECT_EQ(Send("GET", "/v1/programs/shop", WithKey("wrong-key")).status, 401);
  HttpHeaders both = WithKey(kAdminKey);
  both.emplace_back("authorization", absl::StrCat("Bearer ", MemberToken("mada")));
  EXPECT_EQ(Send("GET", "/v1/programs/shop", both).status, 401);
  EXPECT_EQ(Send("GET", "/v1/programs/shop", {{"authorization", "Basic abc"}}).status, 401);
  HttpResponse garbage = Send("GET", "/v1/programs/shop", {{"authorization", "Bearer a.b.c"}});
  EXPECT_EQ(garbage.status, 401);
  EXPECT_THAT(Header(garbage, "www-authenticate"), HasSubstr("invalid_token"));
  const std::string token = MemberToken("mada");
  clock_.Advance(absl::Hours(2));
  HttpResponse expired = Send("GET", "/v1/programs/shop/members/mada",
                              {{"authorization", absl::StrCat("Bearer ", token)}});
  EXPECT_EQ(expired.status, 401);
  EXPECT_THAT(expired.body, HasSubstr("token expired"));
  EXPECT_TRUE(upstreams_.calls().empty());
}

TEST_F(GatewayTest, RolesReachOnlyTheirRoutes) {
  EXPECT_EQ(Send("GET", "/v1/programs/shop/members", WithKey(kAdminKey)).status, 200);
  HttpResponse merchant = Send("GET", "/v1/programs/shop/members", WithKey(kMerchantKey));
  EXPECT_EQ(merchant.status, 403);
  EXPECT_THAT(merchant.body, HasSubstr(R"("reason":"PERMISSION_DENIED")"));
  EXPECT_EQ(Send("GET", "/v1/programs/shop/members/m1", WithKey(kMerchantKey)).status, 200);
  EXPECT_EQ(Send("POST", "/v1/programs/shop/members", WithKey(kMerchantKey),
                 R"({"profile":{"email":"a@example.com"}})")
                .status,
            200);
  EXPECT_EQ(Send("POST", "/v1/programs/shop/members", WithKey(kAppKey), "{}").status, 403);
  EXPECT_EQ(Send("GET", "/v1/programs/shop/members/m1/tierStatus", WithKey(kAppKey)).status, 200);
  EXPECT_EQ(Send("POST", "/v1/programs/shop/members/m1:suspend", WithKey(kAppKey), "{}").status,
            403);
  EXPECT_EQ(Send("GET", "/v1/programs/shop/members", AsMember("mada")).status, 403);
}

TEST_F(GatewayTest, MemberTokensReachOnlyTheirOwnMemberAnd404OtherwiseWithoutAnUpstreamCall) {
  HttpResponse own = Send("GET", "/v1/programs/shop/members/mada", AsMember("mada"));
  EXPECT_EQ(own.status, 200);
  ASSERT_EQ(upstreams_.calls().size(), 1u);
  EXPECT_THAT(upstreams_.calls()[0].request->ShortDebugString(),
              HasSubstr(R"(program: "shop" member: "mada")"));

  for (const auto& [method, target] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/v1/programs/shop/members/mbob"},
           {"GET", "/v1/programs/shop/members/mbob/tierStatus"},
           {"GET", "/v1/programs/shop/members/mbob/wallet"},
           {"GET", "/v1/programs/other/members/mada"},
           {"PATCH", "/v1/programs/shop/members/mbob"}}) {
    HttpResponse other =
        Send(method, target, AsMember("mada"), method == "PATCH" ? R"({"displayName":"x"})" : "");
    EXPECT_EQ(other.status, 404) << target;
    EXPECT_THAT(other.body, HasSubstr(R"("reason":"RESOURCE_NOT_FOUND")")) << target;
  }
  // Routes a member may not call at all still answer 404 for another member's resources, and
  // 403 only for its own.
  EXPECT_EQ(Send("POST", "/v1/programs/shop/members/mbob:suspend", AsMember("mada"), "{}").status,
            404);
  EXPECT_EQ(Send("POST", "/v1/programs/shop/members/mada:suspend", AsMember("mada"), "{}").status,
            403);
  EXPECT_EQ(Send("GET", "/v1/programs/other/members", AsMember("mada")).status, 404);
  EXPECT_EQ(upstreams_.calls().size(), 1u);
  // Naming the member again in the query does not get around the path.
  EXPECT_EQ(Send("GET", "/v1/programs/shop/members/mada?member=mbob", AsMember("mada")).status,
            400);
  EXPECT_EQ(Send("GET", "/v1/programs/shop", AsMember("mada")).status, 200);
  EXPECT_EQ(Send("GET", "/v1/programs/other", AsMember("mada")).status, 404);
}

TEST_F(GatewayTest, BodiesMustBeJson) {
  HttpResponse text = [&] {
    HttpResponse captured;
    HttpRequest r;
    r.method = "POST";
    r.target = "/v1/programs/shop/members";
    r.headers = {{"x-api-key", kAdminKey}, {"content-type", "text/plain"}};
    r.body = "{}";
    gateway_->Handle(std::move(r), [&](HttpResponse response) { captured = std::move(response); });
    return captured;
  }();
  EXPECT_EQ(text.status, 415);
  EXPECT_THAT(text.body, HasSubstr(R"("reason":"UNSUPPORTED_MEDIA_TYPE")"));
  for (const char* type : {"application/json; charset=utf-8", "Application/JSON",
                           "application/json;charset=\"UTF-8\""}) {
    HttpResponse captured;
    HttpRequest r;
    r.method = "POST";
    r.target = "/v1/programs/shop/members";
    r.headers = {{"x-api-key", kAdminKey}, {"content-type", type}};
    r.body = R"({"profile":{"email":"a@example.com"}})";
    gateway_->Handle(std::move(r), [&](HttpResponse response) { captured = std::move(response); });
    EXPECT_EQ(captured.status, 200) << type;
  }
  HttpResponse latin;
  HttpRequest r;
  r.method = "POST";
  r.target = "/v1/programs/shop/members";
  r.headers = {{"x-api-key", kAdminKey}, {"content-type", "application/json; charset=latin1"}};
  r.body = "{}";
  gateway_->Handle(std::move(r), [&](HttpResponse response) { latin = std::move(response); });
  EXPECT_EQ(latin.status, 415);
}

TEST_F(GatewayTest, IdempotencyKeysComeFromTheHeaderOrAreGeneratedWhereAllowed) {
  HttpHeaders keyed = WithKey(kAdminKey);
  keyed.emplace_back("idempotency-key", "suspend-1");
  ASSERT_EQ(Send("POST", "/v1/programs/shop/members/m1:suspend", keyed, "{}").status, 200);
  EXPECT_THAT(upstreams_.calls().back().request->ShortDebugString(),
              HasSubstr(R"(request_id: "suspend-1")"));

  HttpResponse missing = Send("POST", "/v1/programs/shop/members/m1:suspend", WithKey(kAdminKey));
  EXPECT_EQ(missing.status, 400);
  EXPECT_THAT(missing.body, HasSubstr(R"("reason":"IDEMPOTENCY_KEY_REQUIRED")"));

  HttpResponse enrolled = Send("POST", "/v1/programs/shop/members", WithKey(kMerchantKey),
                               R"({"profile":{"email":"a@example.com"}})");
  EXPECT_EQ(enrolled.status, 200);
  EXPECT_EQ(Header(enrolled, "idempotency-key"), "gw-000000000000002a000000000000002a");
  EXPECT_THAT(upstreams_.calls().back().request->ShortDebugString(),
              HasSubstr(R"(request_id: "gw-000000000000002a000000000000002a")"));

  // A key in the body counts; a different one in the header is a conflict.
  EXPECT_EQ(Send("POST", "/v1/programs/shop/members/m1:suspend", WithKey(kAdminKey),
                 R"({"requestId":"body-key"})")
                .status,
            200);
  HttpResponse conflict =
      Send("POST", "/v1/programs/shop/members/m1:suspend", keyed, R"({"requestId":"body-key"})");
  EXPECT_EQ(conflict.status, 400);
  HttpHeaders bad = WithKey(kAdminKey);
  bad.emplace_back("idempotency-key", std::string(129, 'k'));
  HttpResponse too_long = Send("POST", "/v1/programs/shop/members/m1:suspend", bad);
  EXPECT_EQ(too_long.status, 400);
  EXPECT_THAT(too_long.body, HasSubstr(R"("reason":"INVALID_REQUEST_ID")"));
  // Reads never need one.
  EXPECT_EQ(Send("GET", "/v1/programs/shop/members/m1", WithKey(kAdminKey)).status, 200);
}

TEST_F(GatewayTest, MembersAreRateLimitedWithRetryAfter) {
  Build({.rate = 1, .burst = 2, .buckets_max = 100});
  EXPECT_EQ(Send("GET", "/v1/programs/shop/members/mada", AsMember("mada")).status, 200);
  EXPECT_EQ(Send("GET", "/v1/programs/shop/members/mada", AsMember("mada")).status, 200);
  HttpResponse limited = Send("GET", "/v1/programs/shop/members/mada", AsMember("mada"));
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(Header(limited, "retry-after"), "1");
  EXPECT_THAT(limited.body, HasSubstr(R"("reason":"RATE_LIMITED")"));
  // Another member has a bucket of its own.
  EXPECT_EQ(Send("GET", "/v1/programs/shop/members/mbob", AsMember("mbob")).status, 200);
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(Send("GET", "/v1/programs/shop/members/mada", AsMember("mada")).status, 200);
}

TEST_F(GatewayTest, TraceparentIsContinuedForwardedAndReturned) {
  const std::string incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  HttpHeaders headers = WithKey(kAdminKey);
  headers.emplace_back("traceparent", incoming);
  headers.emplace_back("tracestate", "vendor=1");
  HttpResponse response = Send("GET", "/v1/programs/shop", headers);
  const std::optional<log::TraceContext> returned =
      log::ParseTraceParent(Header(response, "traceparent"));
  ASSERT_TRUE(returned.has_value());
  EXPECT_EQ(returned->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_NE(returned->span_id, "00f067aa0ba902b7");
  ASSERT_EQ(upstreams_.calls().size(), 1u);
  EXPECT_EQ(upstreams_.calls()[0].options.traceparent, Header(response, "traceparent"));
  EXPECT_EQ(upstreams_.calls()[0].options.tracestate, "vendor=1");

  HttpHeaders bad = WithKey(kAdminKey);
  bad.emplace_back("traceparent", "garbage");
  HttpResponse fresh = Send("GET", "/v1/programs/shop", bad);
  const std::optional<log::TraceContext> started =
      log::ParseTraceParent(Header(fresh, "traceparent"));
  ASSERT_TRUE(started.has_value());
  EXPECT_NE(started->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(upstreams_.calls()[1].options.tracestate, "");
}

TEST_F(GatewayTest, UpstreamErrorsAreMappedAndInternalOnesHidden) {
  upstreams_.SetAnswer(
      [](const std::string&, const google::protobuf::Message&, google::protobuf::Message&) {
        return ToGrpcStatus(ErrorWithReason(absl::StatusCode::kNotFound, "MEMBER_NOT_FOUND",
                                            "member programs/shop/members/m9 not found"),
                            "members.loyalty");
      });
  HttpResponse missing = Send("GET", "/v1/programs/shop/members/m9", WithKey(kAdminKey));
  EXPECT_EQ(missing.status, 404);
  EXPECT_THAT(missing.body, HasSubstr(R"("reason":"MEMBER_NOT_FOUND")"));
  EXPECT_THAT(missing.body, HasSubstr(R"("domain":"members.loyalty")"));

  upstreams_.SetAnswer(
      [](const std::string&, const google::protobuf::Message&, google::protobuf::Message&) {
        return ToGrpcStatus(ErrorWithReason(absl::StatusCode::kInternal, "DATABASE_ERROR",
                                            "query get_member failed: SQLSTATE XX000"),
                            "members.loyalty");
      });
  HttpResponse internal = Send("GET", "/v1/programs/shop/members/m9", WithKey(kAdminKey));
  EXPECT_EQ(internal.status, 500);
  EXPECT_THAT(internal.body, Not(HasSubstr("SQLSTATE")));
  EXPECT_THAT(internal.body, HasSubstr(R"("reason":"INTERNAL")"));
}

TEST_F(GatewayTest, AnswersAreCanonicalJsonWithDefaultsPrinted) {
  upstreams_.SetAnswer([](const std::string& path, const google::protobuf::Message&,
                          google::protobuf::Message& response) {
    if (path == "/loyalty.members.v1.MembersService/GetTierStatus") {
      auto& status = static_cast<members::v1::GetTierStatusResponse&>(response);
      status.set_qualifying_points(1500);
      status.mutable_current_tier()->set_code("silver");
    }
    return grpc::Status::OK;
  });
  HttpResponse response =
      Send("GET", "/v1/programs/shop/members/m1/tierStatus", WithKey(kAdminKey));
  EXPECT_EQ(response.status, 200);
  EXPECT_THAT(response.body, HasSubstr(R"("qualifyingPoints":"1500")"));
  EXPECT_THAT(response.body, HasSubstr(R"("pointsToNextTier":"0")"));
  EXPECT_THAT(response.body, HasSubstr(R"("code":"silver")"));
  EXPECT_THAT(response.body, Not(HasSubstr("nextTier")));
  EXPECT_EQ(Header(response, "content-type"), "application/json");
  EXPECT_EQ(Header(response, "cache-control"), "no-store");
}

TEST_F(GatewayTest, RoutesOfServicesNotDeployedAre503) {
  testing::FakeUpstreams nothing({});
  GatewayOptions options;
  options.api_keys = *ApiKeyTable::Parse(absl::StrCat(Sha256Hex(kAdminKey), ":admin"));
  options.access_log = false;
  Gateway gateway(
      std::move(options), *BuildRouter(LinkedServices()), nothing, {}, clock_,
      [](std::function<void()> work) { work(); }, nullptr, [] { return uint64_t{1}; });
  HttpRequest request;
  request.method = "GET";
  request.target = "/v1/programs/shop";
  request.headers = WithKey(kAdminKey);
  HttpResponse captured;
  gateway.Handle(std::move(request),
                 [&](HttpResponse response) { captured = std::move(response); });
  EXPECT_EQ(captured.status, 503);
  EXPECT_THAT(captured.body, HasSubstr(R"("reason":"UPSTREAM_NOT_CONFIGURED")"));
}

TEST_F(GatewayTest, WalletListsAbsentServicesAsPartial) {
  HttpResponse wallet = Send("GET", "/v1/programs/shop/members/mada/wallet", AsMember("mada"));
  EXPECT_EQ(wallet.status, 200);
  EXPECT_THAT(wallet.body, HasSubstr(R"("partial":["points"])"));
  EXPECT_THAT(wallet.body, HasSubstr(R"("member":{)"));
  EXPECT_THAT(wallet.body, HasSubstr(R"("tierStatus":{)"));
  EXPECT_EQ(upstreams_.calls().size(), 2u);
}

TEST_F(GatewayTest, MetricsCountRequestsByRouteTemplate) {
  Send("GET", "/v1/programs/shop/members/m1", WithKey(kAdminKey));
  Send("GET", "/v1/programs/shop/members/m2", WithKey(kAdminKey));
  Send("GET", "/nothing/at/all", WithKey(kAdminKey));
  bool found = false;
  for (const prometheus::MetricFamily& family : registry_.Collect()) {
    if (family.name != "gateway_http_requests_total") continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      std::map<std::string, std::string> labels;
      for (const auto& label : metric.label) labels[label.name] = label.value;
      if (labels["route"] == "GET /v1/programs/{program}/members/{member}") {
        EXPECT_EQ(labels["code"], "200");
        EXPECT_EQ(metric.counter.value, 2);
        found = true;
      }
      EXPECT_THAT(labels["route"], Not(HasSubstr("m1")));
    }
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace loyalty::gateway
