#include "common/config/service_config.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loyalty::config {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;

const ServiceDefaults kDefaults{
    .env_prefix = "MEMBERS", .schema = "members", .grpc_port = 50051, .metrics_port = 9101};

constexpr char kUrl[] = "postgresql://loyalty@db:5432/loyalty";

// The environment with only the required variable set, plus `extra` (which may override it).
EnvReader ReaderWith(std::map<std::string, std::string> extra = {}) {
  extra.emplace("LOYALTY_MEMBERS_DATABASE_URL", kUrl);
  return EnvReader(MapEnv(std::move(extra)));
}

void ExpectError(const absl::StatusOr<ServiceConfig>& config, const std::string& message) {
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(config.status().message(), message);
}

TEST(LoadServiceConfig, AppliesDefaults) {
  EnvReader reader = ReaderWith();
  absl::StatusOr<ServiceConfig> config = LoadServiceConfig(reader, kDefaults);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen_address, "0.0.0.0");
  EXPECT_EQ(config->grpc_port, 50051);
  EXPECT_EQ(config->metrics_port, 9101);
  EXPECT_EQ(config->database_url, kUrl);
  EXPECT_EQ(config->database_schema, "members");
  EXPECT_EQ(config->db_pool_size, 8);
  EXPECT_EQ(config->db_acquire_timeout_ms, 2000);
  EXPECT_EQ(config->statement_timeout_ms, 5000);
  EXPECT_EQ(config->grpc_max_threads, 128);
  EXPECT_EQ(config->shutdown_grace_ms, 10000);
  EXPECT_EQ(config->log_level, "info");
}

TEST(LoadServiceConfig, ReadsEveryPrefixedVariable) {
  EnvReader reader = ReaderWith({{"LOYALTY_MEMBERS_LISTEN_ADDRESS", "::"},
                                 {"LOYALTY_MEMBERS_GRPC_PORT", "0"},
                                 {"LOYALTY_MEMBERS_METRICS_PORT", "0"},
                                 {"LOYALTY_MEMBERS_DATABASE_URL", "host=db dbname=loyalty"},
                                 {"LOYALTY_MEMBERS_DATABASE_SCHEMA", "members_test_1"},
                                 {"LOYALTY_MEMBERS_DB_POOL_SIZE", "100"},
                                 {"LOYALTY_MEMBERS_DB_ACQUIRE_TIMEOUT_MS", "1"},
                                 {"LOYALTY_MEMBERS_STATEMENT_TIMEOUT_MS", "600000"},
                                 {"LOYALTY_MEMBERS_GRPC_MAX_THREADS", "2"},
                                 {"LOYALTY_MEMBERS_SHUTDOWN_GRACE_MS", "0"},
                                 {"LOYALTY_LOG_LEVEL", "debug"}});
  absl::StatusOr<ServiceConfig> config = LoadServiceConfig(reader, kDefaults);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen_address, "::");
  EXPECT_EQ(config->grpc_port, 0);
  EXPECT_EQ(config->metrics_port, 0);
  EXPECT_EQ(config->database_url, "host=db dbname=loyalty");
  EXPECT_EQ(config->database_schema, "members_test_1");
  EXPECT_EQ(config->db_pool_size, 100);
  EXPECT_EQ(config->db_acquire_timeout_ms, 1);
  EXPECT_EQ(config->statement_timeout_ms, 600000);
  EXPECT_EQ(config->grpc_max_threads, 2);
  EXPECT_EQ(config->shutdown_grace_ms, 0);
  EXPECT_EQ(config->log_level, "debug");
}

TEST(LoadServiceConfig, IgnoresOtherServicesVariables) {
  EnvReader reader = ReaderWith({{"LOYALTY_POINTS_GRPC_PORT", "abc"}});
  absl::StatusOr<ServiceConfig> config = LoadServiceConfig(reader, kDefaults);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->grpc_port, 50051);
}

TEST(LoadServiceConfig, RequiresTheDatabaseUrl) {
  EnvReader reader{MapEnv({})};
  ExpectError(LoadServiceConfig(reader, kDefaults), "LOYALTY_MEMBERS_DATABASE_URL is required");
  EXPECT_EQ(reader.status().message(), "LOYALTY_MEMBERS_DATABASE_URL is required");
}

TEST(LoadServiceConfig, RejectsADatabaseUrlOfNeitherFormWithoutEchoingIt) {
  EnvReader reader = ReaderWith({{"LOYALTY_MEMBERS_DATABASE_URL", "db.internal"}});
  ExpectError(LoadServiceConfig(reader, kDefaults),
              "LOYALTY_MEMBERS_DATABASE_URL must be a libpq conninfo (key=value ...) or a "
              "postgresql:// URI");
}

TEST(LoadServiceConfig, AcceptsBothUriSchemes) {
  for (const char* url : {"postgres://db/loyalty", "postgresql://db/loyalty"}) {
    EnvReader reader = ReaderWith({{"LOYALTY_MEMBERS_DATABASE_URL", url}});
    EXPECT_TRUE(LoadServiceConfig(reader, kDefaults).ok()) << url;
  }
}

TEST(LoadServiceConfig, RejectsSchemaNamesThatAreNotPlainIdentifiers) {
  for (const char* schema : {"Members", "1members", "members-x", "members;drop", "mémbers"}) {
    EnvReader reader = ReaderWith({{"LOYALTY_MEMBERS_DATABASE_SCHEMA", schema}});
    absl::StatusOr<ServiceConfig> config = LoadServiceConfig(reader, kDefaults);
    ASSERT_FALSE(config.ok()) << schema;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(config.status().message()),
                ::testing::StartsWith("LOYALTY_MEMBERS_DATABASE_SCHEMA must match "
                                      "^[a-z_][a-z0-9_]{0,62}$, got \""));
  }
}

TEST(LoadServiceConfig, SchemaNameLengthIsBoundedByPostgres) {
  EnvReader ok = ReaderWith({{"LOYALTY_MEMBERS_DATABASE_SCHEMA", std::string(63, 'a')}});
  EXPECT_TRUE(LoadServiceConfig(ok, kDefaults).ok());

  EnvReader too_long = ReaderWith({{"LOYALTY_MEMBERS_DATABASE_SCHEMA", std::string(64, 'a')}});
  ExpectError(LoadServiceConfig(too_long, kDefaults),
              "LOYALTY_MEMBERS_DATABASE_SCHEMA must be at most 63 bytes long, got 64");
}

TEST(LoadServiceConfig, RejectsAListenAddressOver255Bytes) {
  EnvReader reader = ReaderWith({{"LOYALTY_MEMBERS_LISTEN_ADDRESS", std::string(256, 'h')}});
  ExpectError(LoadServiceConfig(reader, kDefaults),
              "LOYALTY_MEMBERS_LISTEN_ADDRESS must be at most 255 bytes long, got 256");
}

TEST(LoadServiceConfig, RejectsEqualNonZeroPorts) {
  EnvReader reader = ReaderWith({{"LOYALTY_MEMBERS_METRICS_PORT", "50051"}});
  ExpectError(LoadServiceConfig(reader, kDefaults),
              "LOYALTY_MEMBERS_METRICS_PORT must differ from LOYALTY_MEMBERS_GRPC_PORT, both are "
              "50051");
}

TEST(LoadServiceConfig, RejectsEachIntegerOutsideItsRange) {
  struct Case {
    const char* name;
    const char* value;
    const char* range;
  };
  for (const Case& c : {Case{"LOYALTY_MEMBERS_GRPC_PORT", "-1", "[0, 65535]"},
                        Case{"LOYALTY_MEMBERS_METRICS_PORT", "70000", "[0, 65535]"},
                        Case{"LOYALTY_MEMBERS_DB_POOL_SIZE", "0", "[1, 100]"},
                        Case{"LOYALTY_MEMBERS_DB_POOL_SIZE", "101", "[1, 100]"},
                        Case{"LOYALTY_MEMBERS_DB_ACQUIRE_TIMEOUT_MS", "0", "[1, 60000]"},
                        Case{"LOYALTY_MEMBERS_STATEMENT_TIMEOUT_MS", "99", "[100, 600000]"},
                        Case{"LOYALTY_MEMBERS_GRPC_MAX_THREADS", "1", "[2, 512]"},
                        Case{"LOYALTY_MEMBERS_GRPC_MAX_THREADS", "513", "[2, 512]"},
                        Case{"LOYALTY_MEMBERS_SHUTDOWN_GRACE_MS", "300001", "[0, 300000]"}}) {
    EnvReader reader = ReaderWith({{c.name, c.value}});
    ExpectError(
        LoadServiceConfig(reader, kDefaults),
        absl::StrCat(c.name, " must be an integer in ", c.range, ", got \"", c.value, "\""));
  }
}

TEST(LoadServiceConfig, RejectsAnUnknownLogLevel) {
  EnvReader reader = ReaderWith({{"LOYALTY_LOG_LEVEL", "verbose"}});
  ExpectError(LoadServiceConfig(reader, kDefaults),
              "LOYALTY_LOG_LEVEL must be one of debug, info, warning, error, got \"verbose\"");
}

TEST(LoadServiceConfig, ReportsTheFirstBadVariableInReadingOrder) {
  // The schema check is the service's, not the reader's, yet it still wins over a reader error
  // on a variable read later.
  EnvReader reader = ReaderWith({{"LOYALTY_MEMBERS_DATABASE_SCHEMA", "Bad"},
                                 {"LOYALTY_MEMBERS_DB_POOL_SIZE", "0"},
                                 {"LOYALTY_LOG_LEVEL", "loud"}});
  ExpectError(LoadServiceConfig(reader, kDefaults),
              "LOYALTY_MEMBERS_DATABASE_SCHEMA must match ^[a-z_][a-z0-9_]{0,62}$, got \"Bad\"");

  EnvReader later = ReaderWith(
      {{"LOYALTY_MEMBERS_DB_POOL_SIZE", "0"}, {"LOYALTY_MEMBERS_GRPC_MAX_THREADS", "0"}});
  ExpectError(LoadServiceConfig(later, kDefaults),
              "LOYALTY_MEMBERS_DB_POOL_SIZE must be an integer in [1, 100], got \"0\"");
}

TEST(LoadServiceConfig, ReturnsAnErrorTheReaderAlreadyHeld) {
  EnvReader reader = ReaderWith({{"LOYALTY_EARLIER", "x"}});
  reader.Int("LOYALTY_EARLIER", 0, 0, 1);
  ExpectError(LoadServiceConfig(reader, kDefaults),
              "LOYALTY_EARLIER must be an integer in [0, 1], got \"x\"");
}

TEST(DescribeServiceConfig, ListsEveryVariableInReadingOrderWithDefaults) {
  const std::vector<VariableDoc> docs = DescribeServiceConfig(kDefaults);
  using Doc = VariableDoc;
  EXPECT_THAT(docs, ElementsAre(Field(&Doc::name, "LOYALTY_MEMBERS_LISTEN_ADDRESS"),
                                Field(&Doc::name, "LOYALTY_MEMBERS_GRPC_PORT"),
                                Field(&Doc::name, "LOYALTY_MEMBERS_METRICS_PORT"),
                                Field(&Doc::name, "LOYALTY_MEMBERS_DATABASE_URL"),
                                Field(&Doc::name, "LOYALTY_MEMBERS_DATABASE_SCHEMA"),
                                Field(&Doc::name, "LOYALTY_MEMBERS_DB_POOL_SIZE"),
                                Field(&Doc::name, "LOYALTY_MEMBERS_DB_ACQUIRE_TIMEOUT_MS"),
                                Field(&Doc::name, "LOYALTY_MEMBERS_STATEMENT_TIMEOUT_MS"),
                                Field(&Doc::name, "LOYALTY_MEMBERS_GRPC_MAX_THREADS"),
                                Field(&Doc::name, "LOYALTY_MEMBERS_SHUTDOWN_GRACE_MS"),
                                Field(&Doc::name, "LOYALTY_LOG_LEVEL")));
  EXPECT_THAT(
      docs, ElementsAre(Field(&Doc::default_value, "0.0.0.0"), Field(&Doc::default_value, "50051"),
                        Field(&Doc::default_value, "9101"), Field(&Doc::default_value, "none"),
                        Field(&Doc::default_value, "members"), Field(&Doc::default_value, "8"),
                        Field(&Doc::default_value, "2000"), Field(&Doc::default_value, "5000"),
                        Field(&Doc::default_value, "128"), Field(&Doc::default_value, "10000"),
                        Field(&Doc::default_value, "info")));
  EXPECT_EQ(docs[5].description, "database connections in the pool, 1..100");
}

}  // namespace
}  // namespace loyalty::config
