// The migration runner against the real PostgreSQL that scripts/test starts.
#include "common/pg/migrate.h"

#include "common/check.h"

#include <thread>

#include "common/testkit/status_matchers.h"
#include "common/testkit/test_schema.h"
#include "gtest/gtest.h"

namespace loyalty::pg {
namespace {

using ::loyalty::testkit::IsOk;
using ::loyalty::testkit::StatusIs;
using ::loyalty::testkit::TestSchema;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr Migration kMigrations[] = {
    {1, "0001_create_items.sql", "CREATE TABLE items (id bigint PRIMARY KEY);"},
    {2, "0002_add_name.sql", "ALTER TABLE items ADD COLUMN name text;"},
    // Counts how often it runs: applying it twice would insert two rows.
    {3, "0003_audit.sql",
     "CREATE TABLE audit (n int); INSERT INTO audit VALUES (1); SELECT pg_sleep(0.2);"},
};
constexpr Query kCountAudit{"t_count_audit", "SELECT count(*) FROM audit"};
constexpr Query kCountRecorded{"t_count_recorded", "SELECT count(*) FROM schema_migrations"};

std::unique_ptr<TestSchema> NewSchema() {
  auto schema = TestSchema::Create("migrate");
  LOYALTY_CHECK(schema.ok());
  return *std::move(schema);
}

std::unique_ptr<Connection> Connect(const TestSchema& schema) {
  auto connection = Connection::Open(schema.connection_options());
  LOYALTY_CHECK(connection.ok());
  return *std::move(connection);
}

int64_t CountOf(Connection& connection, const Query& query) {
  auto result = connection.Execute(query);
  LOYALTY_CHECK(result.ok());
  return result->Int64(0, 0);
}

TEST(ApplyMigrations, AppliesAllThenASecondRunIsANoOp) {
  auto schema = NewSchema();
  auto connection = Connect(*schema);
  auto first = ApplyMigrations(*connection, kMigrations);
  ASSERT_THAT(first, IsOk());
  EXPECT_THAT(first->applied, ElementsAre(1, 2, 3));
  EXPECT_EQ(first->current_version, 3);
  auto second = ApplyMigrations(*connection, kMigrations);
  ASSERT_THAT(second, IsOk());
  EXPECT_THAT(second->applied, IsEmpty());
  EXPECT_EQ(CountOf(*connection, kCountAudit), 1);
  EXPECT_THAT(CheckMigrationsCurrent(*connection, kMigrations), IsOk());
}

TEST(ApplyMigrations, TwoConcurrentMigratorsApplyEachFileOnce) {
  auto schema = NewSchema();
  auto connection_a = Connect(*schema);
  auto connection_b = Connect(*schema);
  absl::StatusOr<MigrationReport> report_a, report_b;
  std::thread a([&] { report_a = ApplyMigrations(*connection_a, kMigrations); });
  std::thread b([&] { report_b = ApplyMigrations(*connection_b, kMigrations); });
  a.join();
  b.join();
  ASSERT_THAT(report_a, IsOk());
  ASSERT_THAT(report_b, IsOk());
  EXPECT_EQ(report_a->applied.size() + report_b->applied.size(), 3u);
  EXPECT_EQ(CountOf(*connection_a, kCountAudit), 1);
  EXPECT_EQ(CountOf(*connection_a, kCountRecorded), 3);
}

TEST(ApplyMigrations, ChangedAppliedFileIsRejected) {
  auto schema = NewSchema();
  auto connection = Connect(*schema);
  ASSERT_THAT(ApplyMigrations(*connection, std::span(kMigrations).first(2)), IsOk());
  const Migration edited[] = {
      kMigrations[0],
      {2, "0002_add_name.sql", "ALTER TABLE items ADD COLUMN name varchar(10);"},
      kMigrations[2]};
  EXPECT_THAT(ApplyMigrations(*connection, edited),
              StatusIs(absl::StatusCode::kFailedPrecondition, "MIGRATION_CHECKSUM_MISMATCH"));
  EXPECT_THAT(CheckMigrationsCurrent(*connection, edited),
              StatusIs(absl::StatusCode::kFailedPrecondition, "MIGRATION_CHECKSUM_MISMATCH"));
}

TEST(ApplyMigrations, AppliedFileMissingFromBinaryIsRejected) {
  auto schema = NewSchema();
  auto connection = Connect(*schema);
  ASSERT_THAT(ApplyMigrations(*connection, kMigrations), IsOk());
  EXPECT_THAT(ApplyMigrations(*connection, std::span(kMigrations).first(2)),
              StatusIs(absl::StatusCode::kFailedPrecondition, "MIGRATION_MISSING"));
}

TEST(ApplyMigrations, FailingFileLeavesNothingOfItselfAndStopsThere) {
  auto schema = NewSchema();
  auto connection = Connect(*schema);
  const Migration broken[] = {
      kMigrations[0],
      {2, "0002_broken.sql", "CREATE TABLE half (id int); SELECT * FROM no_such_table;"}};
  EXPECT_THAT(ApplyMigrations(*connection, broken),
              StatusIs(absl::StatusCode::kInternal, "DATABASE_ERROR"));
  EXPECT_EQ(CountOf(*connection, kCountRecorded), 1);
  constexpr Query kHalfExists{"t_half_exists", "SELECT to_regclass('half') IS NOT NULL"};
  auto exists = connection->Execute(kHalfExists);
  ASSERT_THAT(exists, IsOk());
  EXPECT_FALSE(exists->Bool(0, 0));
  // The lock was released: another migrator proceeds with the fixed file.
  auto other = Connect(*schema);
  EXPECT_THAT(ApplyMigrations(*other, std::span(kMigrations).first(2)), IsOk());
}

// Production layout (docs/operations.md): a DBA creates the service role and its schema; the
// role has no CREATE on the database. Migrations must still run, and the role must be unable to
// write outside its schema.
TEST(ApplyMigrations, WorksForARoleThatOwnsOnlyItsPreCreatedSchema) {
  auto schema = NewSchema();
  auto admin = Connect(*schema);
  const std::string role = schema->schema() + "_role";
  ASSERT_THAT(admin->ExecuteScript("create_role", "CREATE ROLE " + role + " LOGIN; CREATE SCHEMA " +
                                                      schema->schema() + " AUTHORIZATION " + role),
              IsOk());
  ConnectionOptions options = schema->connection_options();
  options.conninfo += " user=" + role;
  auto connection = Connection::Open(options);
  ASSERT_THAT(connection, IsOk());
  EXPECT_THAT(ApplyMigrations(**connection, kMigrations), IsOk());
  EXPECT_THAT((*connection)->ExecuteScript("escape", "CREATE TABLE public.escaped (id int)"),
              StatusIs(absl::StatusCode::kInternal, "DATABASE_ERROR"));
  connection->reset();
  // The schema is dropped (by TestSchema) before the role can go; drop what the role owns now.
  ASSERT_THAT(admin->ExecuteScript(
                  "drop_role", "DROP SCHEMA " + schema->schema() + " CASCADE; DROP ROLE " + role),
              IsOk());
}

TEST(CheckMigrationsCurrent, PendingMigrationMeansSchemaNotCurrent) {
  auto schema = NewSchema();
  auto connection = Connect(*schema);
  ASSERT_THAT(ApplyMigrations(*connection, std::span(kMigrations).first(1)), IsOk());
  EXPECT_THAT(CheckMigrationsCurrent(*connection, kMigrations),
              StatusIs(absl::StatusCode::kFailedPrecondition, "SCHEMA_NOT_CURRENT"));
}

}  // namespace
}  // namespace loyalty::pg
