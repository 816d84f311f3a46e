#include "gateway/openapi/openapi.h"

#include <set>
#include <string>

#include "gateway/gateway.h"
#include "gateway/services.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace loyalty::gateway {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;
using ::testing::HasSubstr;
using ::testing::Not;

class OpenApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<Router> router = BuildRouter(LinkedServices());
    ASSERT_TRUE(router.ok()) << router.status();
    absl::StatusOr<std::string> json = BuildOpenApi(*router, "1.2.3");
    ASSERT_TRUE(json.ok()) << json.status();
    json_ = *json;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json_, &document_).ok());
  }

  const Struct& At(const Struct& object, const std::string& key) {
    EXPECT_TRUE(object.fields().contains(key)) << key;
    static const Struct empty;
    if (!object.fields().contains(key)) return empty;
    return object.fields().at(key).struct_value();
  }

  std::string json_;
  Struct document_;
};

TEST_F(OpenApiTest, DescribesEveryRouteAndNothingInternal) {
  EXPECT_EQ(document_.fields().at("openapi").string_value(), "3.0.3");
  EXPECT_EQ(At(document_, "info").fields().at("version").string_value(), "1.2.3");
  const Struct& paths = At(document_, "paths");
  EXPECT_TRUE(At(paths, "/v1/programs").fields().contains("post"));
  EXPECT_TRUE(At(paths, "/v1/programs/{program}/members").fields().contains("get"));
  EXPECT_TRUE(At(paths, "/v1/programs/{program}/members").fields().contains("post"));
  const Struct& member = At(paths, "/v1/programs/{program}/members/{member}");
  EXPECT_TRUE(member.fields().contains("get"));
  EXPECT_TRUE(member.fields().contains("patch"));
  EXPECT_TRUE(
      At(paths, "/v1/programs/{program}/members/{member}:suspend").fields().contains("post"));
  EXPECT_TRUE(At(paths, "/v1/programs/{program}/members/{member}/wallet").fields().contains("get"));
  EXPECT_TRUE(paths.fields().contains("/healthz"));
  EXPECT_THAT(json_, Not(HasSubstr("RecordQualifyingActivity")));
}

TEST_F(OpenApiTest, DescribesTheWebhooksRoutes) {
  const Struct& paths = At(document_, "paths");
  const Struct& webhooks = At(paths, "/v1/programs/{program}/webhooks");
  EXPECT_TRUE(webhooks.fields().contains("get"));
  EXPECT_TRUE(webhooks.fields().contains("post"));
  const Struct& webhook = At(paths, "/v1/programs/{program}/webhooks/{webhook}");
  EXPECT_TRUE(webhook.fields().contains("delete"));
  EXPECT_TRUE(webhook.fields().contains("patch"));
  EXPECT_TRUE(
      At(paths, "/v1/programs/{program}/webhooks/{webhook}/deliveries").fields().contains("get"));
  EXPECT_TRUE(At(paths, "/v1/programs/{program}/webhooks/{webhook}/deliveries/{delivery}:retry")
                  .fields()
                  .contains("post"));
}

TEST_F(OpenApiTest, DescribesTheRewardsRoutesButNotTheInternalStampRpcs) {
  const Struct& paths = At(document_, "paths");
  EXPECT_TRUE(At(paths, "/v1/programs/{program}/rewards").fields().contains("get"));
  EXPECT_TRUE(At(paths, "/v1/programs/{program}/rewards").fields().contains("post"));
  EXPECT_TRUE(At(paths, "/v1/programs/{program}/rewards/{reward}").fields().contains("patch"));
  EXPECT_TRUE(
      At(paths, "/v1/programs/{program}/members/{member}/redemptions").fields().contains("post"));
  EXPECT_TRUE(
      At(paths, "/v1/programs/{program}/vouchers/{code}:consume").fields().contains("post"));
  EXPECT_TRUE(
      At(paths, "/v1/programs/{program}/members/{member}/punchCards").fields().contains("get"));
  EXPECT_THAT(json_, Not(HasSubstr("RecordStamp")));
  EXPECT_THAT(json_, Not(HasSubstr("RevokeStamp")));
}

TEST_F(OpenApiTest, TheWalletSchemaNamesEveryPartsKeys) {
  const Struct& wallet =
      At(At(At(document_, "paths"), "/v1/programs/{program}/members/{member}/wallet"), "get");
  const Struct& properties =
      At(At(At(At(At(At(wallet, "responses"), "200"), "content"), "application/json"), "schema"),
         "properties");
  for (const char* key :
       {"member", "tierStatus", "balance", "affordableRewards", "openVouchers", "partial"}) {
    EXPECT_TRUE(properties.fields().contains(key)) << key;
  }
  EXPECT_EQ(At(properties, "openVouchers").fields().at("type").string_value(), "array");
}

TEST_F(OpenApiTest, ListParametersComeFromTheRequestFieldsNotInThePath) {
  const Struct& list = At(At(At(document_, "paths"), "/v1/programs/{program}/members"), "get");
  std::set<std::string> names;
  for (const Value& parameter : list.fields().at("parameters").list_value().values()) {
    names.insert(parameter.struct_value().fields().at("name").string_value());
  }
  EXPECT_EQ(names, (std::set<std::string>{"program", "pageSize", "pageToken", "status", "tier"}));
}

TEST_F(OpenApiTest, MutationsDocumentTheIdempotencyKeyHeader) {
  const Struct& suspend =
      At(At(At(document_, "paths"), "/v1/programs/{program}/members/{member}:suspend"), "post");
  bool found = false;
  for (const Value& parameter : suspend.fields().at("parameters").list_value().values()) {
    const auto& fields = parameter.struct_value().fields();
    if (fields.at("name").string_value() == "Idempotency-Key") {
      found = true;
      EXPECT_EQ(fields.at("in").string_value(), "header");
      EXPECT_TRUE(fields.at("required").bool_value());
    }
  }
  EXPECT_TRUE(found);
}

TEST_F(OpenApiTest, SchemasFollowTheProto3JsonMapping) {
  const Struct& schemas = At(At(document_, "components"), "schemas");
  const Struct& member = At(At(schemas, "loyalty.members.v1.Member"), "properties");
  EXPECT_TRUE(member.fields().contains("cardNumber"));
  EXPECT_THAT(json_, HasSubstr(R"("readOnly":true)"));
  const Struct& program = At(At(schemas, "loyalty.members.v1.Program"), "properties");
  EXPECT_EQ(At(program, "pointValueMinorPerThousand").fields().at("type").string_value(), "string");
  const Struct& create_time = At(program, "createTime");
  EXPECT_EQ(create_time.fields().at("format").string_value(), "date-time");
  EXPECT_TRUE(create_time.fields().at("readOnly").bool_value());
  const Struct& status = At(member, "status");
  EXPECT_EQ(status.fields().at("type").string_value(), "string");
  EXPECT_EQ(status.fields().at("enum").list_value().values(1).string_value(),
            "MEMBER_STATUS_ACTIVE");
  EXPECT_TRUE(schemas.fields().contains("google.rpc.Status"));
  EXPECT_TRUE(schemas.fields().contains("loyalty.common.v1.Date"));
}

}  // namespace
}  // namespace loyalty::gateway
