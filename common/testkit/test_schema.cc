#include "common/testkit/test_schema.h"

#include <cstdlib>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/check.h"

namespace loyalty::testkit {

absl::StatusOr<std::unique_ptr<TestSchema>> TestSchema::Create(std::string_view prefix) {
  const char* url = std::getenv("LOYALTY_TEST_DATABASE_URL");
  if (url == nullptr || *url == '\0') {
    return absl::FailedPreconditionError(
        "LOYALTY_TEST_DATABASE_URL is not set: run database tests through scripts/test");
  }
  absl::BitGen random;
  std::string schema =
      absl::StrCat(absl::AsciiStrToLower(absl::string_view(prefix.data(), prefix.size())), "_t",
                   absl::Uniform<uint64_t>(random));
  auto test_schema = std::unique_ptr<TestSchema>(new TestSchema(url, schema));
  // Opening a connection proves the database is reachable before the test starts.
  absl::StatusOr<std::unique_ptr<pg::Connection>> connection =
      pg::Connection::Open(test_schema->connection_options());
  if (!connection.ok()) return connection.status();
  return test_schema;
}

TestSchema::~TestSchema() {
  absl::StatusOr<std::unique_ptr<pg::Connection>> connection =
      pg::Connection::Open(connection_options());
  if (connection.ok()) {
    (void)(*connection)
        ->ExecuteScript("drop_test_schema",
                        absl::StrCat("DROP SCHEMA IF EXISTS ", schema_, " CASCADE"));
  }
}

pg::ConnectionOptions TestSchema::connection_options() const {
  return pg::ConnectionOptions{.conninfo = conninfo_,
                               .schema = schema_,
                               .statement_timeout_ms = 30000,
                               .application_name = "loyalty-test"};
}

std::unique_ptr<pg::Pool> TestSchema::MakePool(int size) const {
  absl::StatusOr<std::unique_ptr<pg::Pool>> pool = pg::Pool::Create(
      {.connection = connection_options(), .size = size, .acquire_timeout = absl::Seconds(10)});
  LOYALTY_CHECK(pool.ok());
  return *std::move(pool);
}

}  // namespace loyalty::testkit
