#include "gateway/config.h"

#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/testkit/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loyalty::gateway {
namespace {

using ::loyalty::testkit::IsOk;
using ::testing::HasSubstr;
using ::testing::Not;

absl::StatusOr<GatewayConfig> Load(std::map<std::string, std::string> env) {
  config::EnvReader reader(config::MapEnv(std::move(env)));
  return LoadGatewayConfig(reader);
}

TEST(GatewayConfig, DefaultsMatchTheDocumentation) {
  absl::StatusOr<GatewayConfig> config = Load({});
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->listen_address, "0.0.0.0");
  EXPECT_EQ(config->http_port, 8080);
  EXPECT_EQ(config->metrics_port, 9104);
  EXPECT_EQ(config->upstreams.at("members"), "127.0.0.1:50051");
  EXPECT_EQ(config->upstreams.at("points"), "127.0.0.1:50052");
  EXPECT_EQ(config->upstreams.at("rewards"), "127.0.0.1:50053");
  EXPECT_EQ(config->upstream_deadline_ms, 3000);
  EXPECT_EQ(config->api_keys.size(), 0u);
  ASSERT_NE(config->jwt, nullptr);
  EXPECT_FALSE(config->jwt->has_keys());
  EXPECT_EQ(config->member_rate.rate, 10);
  EXPECT_EQ(config->api_key_rate.burst, 2000);
}

TEST(GatewayConfig, AbsentUpstreamsAreLeftOut) {
  absl::StatusOr<GatewayConfig> config =
      Load({{"LOYALTY_GATEWAY_POINTS_ADDR", "absent"},
            {"LOYALTY_GATEWAY_MEMBERS_ADDR", "dns:///members.loyalty.svc:50051"}});
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->upstreams.count("points"), 0u);
  EXPECT_EQ(config->upstreams.at("members"), "dns:///members.loyalty.svc:50051");
}

TEST(GatewayConfig, ReadsKeysAndTokensSettings) {
  absl::StatusOr<GatewayConfig> config =
      Load({{"LOYALTY_GATEWAY_API_KEYS", absl::StrCat(Sha256Hex("k1"), ":admin")},
            {"LOYALTY_GATEWAY_JWT_HS256_SECRET", std::string(40, 's')},
            {"LOYALTY_GATEWAY_JWT_ISSUER", "iss"},
            {"LOYALTY_GATEWAY_JWT_AUDIENCE", "aud"},
            {"LOYALTY_GATEWAY_RATE_LIMIT_MEMBER_PER_SECOND", "0"}});
  ASSERT_THAT(config, IsOk());
  EXPECT_TRUE(config->api_keys.Find("k1").has_value());
  EXPECT_TRUE(config->jwt->has_keys());
  EXPECT_EQ(config->member_rate.rate, 0);
}

TEST(GatewayConfig, BadValuesNameTheVariableAndNeverEchoSecrets) {
  struct Case {
    std::map<std::string, std::string> env;
    std::string variable;
  };
  const std::string secret = "short-secret-value";
  for (const Case& c : std::vector<Case>{
           {{{"LOYALTY_GATEWAY_HTTP_PORT", "80a"}}, "LOYALTY_GATEWAY_HTTP_PORT"},
           {{{"LOYALTY_GATEWAY_HTTP_PORT", "9000"}, {"LOYALTY_GATEWAY_METRICS_PORT", "9000"}},
            "LOYALTY_GATEWAY_METRICS_PORT"},
           {{{"LOYALTY_GATEWAY_MEMBERS_ADDR", "members"}}, "LOYALTY_GATEWAY_MEMBERS_ADDR"},
           {{{"LOYALTY_GATEWAY_UPSTREAM_DEADLINE_MS", "5"}},
            "LOYALTY_GATEWAY_UPSTREAM_DEADLINE_MS"},
           {{{"LOYALTY_GATEWAY_UPSTREAM_DEADLINE_MS", "20000"}},
            "LOYALTY_GATEWAY_UPSTREAM_DEADLINE_MS"},
           {{{"LOYALTY_GATEWAY_API_KEYS", "nothex:admin"}}, "LOYALTY_GATEWAY_API_KEYS"},
           {{{"LOYALTY_GATEWAY_JWT_HS256_SECRET", secret},
             {"LOYALTY_GATEWAY_JWT_ISSUER", "i"},
             {"LOYALTY_GATEWAY_JWT_AUDIENCE", "a"}},
            "LOYALTY_GATEWAY_JWT_HS256_SECRET"},
           {{{"LOYALTY_GATEWAY_JWT_HS256_SECRET", std::string(40, 's')}},
            "LOYALTY_GATEWAY_JWT_ISSUER"},
           {{{"LOYALTY_GATEWAY_JWT_PUBLIC_KEYS", "/nonexistent/keys"},
             {"LOYALTY_GATEWAY_JWT_ISSUER", "i"},
             {"LOYALTY_GATEWAY_JWT_AUDIENCE", "a"}},
            "LOYALTY_GATEWAY_JWT_PUBLIC_KEYS"},
           {{{"LOYALTY_GATEWAY_THREADS", "0"}}, "LOYALTY_GATEWAY_THREADS"},
           {{{"LOYALTY_LOG_LEVEL", "loud"}}, "LOYALTY_LOG_LEVEL"},
       }) {
    absl::StatusOr<GatewayConfig> config = Load(c.env);
    ASSERT_FALSE(config.ok()) << c.variable;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(config.status().message()), HasSubstr(c.variable));
    EXPECT_THAT(std::string(config.status().message()), Not(HasSubstr(secret)));
  }
}

TEST(GatewayConfig, HelpListsEveryVariableRead) {
  std::set<std::string> documented;
  for (const config::VariableDoc& doc : DescribeGatewayConfig()) documented.insert(doc.name);
  std::set<std::string> read;
  config::EnvReader reader([&read](const std::string& name) -> std::optional<std::string> {
    read.insert(name);
    return std::nullopt;
  });
  ASSERT_THAT(LoadGatewayConfig(reader), IsOk());
  EXPECT_EQ(documented, read);
}

}  // namespace
}  // namespace loyalty::gateway
