#include "common/pg/migrate.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/status/error.h"
#include "common/status/macros.h"
#include "openssl/evp.h"

namespace loyalty::pg {
namespace {

constexpr Query kAdvisoryLock{"migrate_advisory_lock",
                              "SELECT pg_advisory_lock(hashtextextended($1, 0))"};
constexpr Query kAdvisoryUnlock{"migrate_advisory_unlock",
                                "SELECT pg_advisory_unlock(hashtextextended($1, 0))"};
constexpr Query kSchemaTableExists{
    "migrate_table_exists",
    "SELECT to_regclass(quote_ident($1) || '.schema_migrations') IS NOT NULL"};
constexpr Query kSchemaExists{"migrate_schema_exists",
                              "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)"};
constexpr Query kListApplied{"migrate_list_applied",
                             "SELECT version, file_name, checksum FROM schema_migrations "
                             "ORDER BY version"};
constexpr Query kRecordApplied{
    "migrate_record_applied",
    "INSERT INTO schema_migrations (version, file_name, checksum) VALUES ($1, $2, $3)"};

struct Applied {
  std::string file_name;
  std::string checksum;
};

// The embedded list is produced by the build; a gap or a duplicate is a programmer error.
void CheckEmbeddedList(std::span<const Migration> migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    LOYALTY_CHECK(migrations[i].version == static_cast<int>(i) + 1);
  }
}

std::string LockKey(std::string_view schema) {
  return absl::StrCat("loyalty-migrations:", absl::string_view(schema.data(), schema.size()));
}

absl::StatusOr<std::map<int, Applied>> ReadApplied(Connection& connection,
                                                   std::string_view schema) {
  std::map<int, Applied> applied;
  LOYALTY_ASSIGN_OR_RETURN(Result exists,
                           connection.Execute(kSchemaTableExists, Params().Add(schema)));
  if (!exists.Bool(0, 0)) return applied;
  LOYALTY_ASSIGN_OR_RETURN(Result rows, connection.Execute(kListApplied));
  for (int row = 0; row < rows.rows(); ++row) {
    applied[static_cast<int>(rows.Int64(row, 0))] =
        Applied{rows.String(row, 1), rows.String(row, 2)};
  }
  return applied;
}

// Every applied version must still be embedded, unchanged.
absl::Status VerifyApplied(const std::map<int, Applied>& applied,
                           std::span<const Migration> migrations, std::string_view schema) {
  for (const auto& [version, record] : applied) {
    if (version < 1 || version > static_cast<int>(migrations.size())) {
      return ErrorWithReason(
          absl::StatusCode::kFailedPrecondition, "MIGRATION_MISSING",
          absl::StrCat("schema ", absl::string_view(schema.data(), schema.size()),
                       " has migration ", record.file_name,
                       " applied, which this binary does not contain (is the binary older?)"),
          {{"version", std::to_string(version)}, {"file", record.file_name}});
    }
    const Migration& embedded = migrations[version - 1];
    if (record.checksum != MigrationChecksum(embedded.sql) ||
        record.file_name != embedded.file_name) {
      return ErrorWithReason(
          absl::StatusCode::kFailedPrecondition, "MIGRATION_CHECKSUM_MISMATCH",
          absl::StrCat("migration ", record.file_name, " was changed after it was applied; ",
                       "applied migrations are never edited, add a new one instead"),
          {{"version", std::to_string(version)}, {"file", record.file_name}});
    }
  }
  return absl::OkStatus();
}

absl::Status ApplyOne(Connection& connection, const Migration& migration) {
  LOYALTY_RETURN_IF_ERROR(connection.ExecuteScript("migrate_begin", "BEGIN").status());
  absl::Status status = connection.ExecuteScript(migration.file_name, migration.sql).status();
  if (status.ok()) {
    status = connection
                 .Execute(kRecordApplied, Params()
                                              .Add(static_cast<int64_t>(migration.version))
                                              .Add(migration.file_name)
                                              .Add(MigrationChecksum(migration.sql)))
                 .status();
  }
  if (status.ok()) status = connection.ExecuteScript("migrate_commit", "COMMIT").status();
  if (!status.ok() && !connection.broken()) {
    (void)connection.ExecuteScript("migrate_rollback", "ROLLBACK");
  }
  return status;
}

}  // namespace

std::string MigrationChecksum(std::string_view sql) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  LOYALTY_CHECK(EVP_Digest(sql.data(), sql.size(), digest, &length, EVP_sha256(), nullptr) == 1);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xf]);
  }
  return hex;
}

absl::StatusOr<MigrationReport> ApplyMigrations(Connection& connection,
                                                std::span<const Migration> migrations) {
  CheckEmbeddedList(migrations);
  const std::string_view schema = connection.schema();
  LOYALTY_CHECK(!connection.in_transaction());
  const std::string lock_key = LockKey(schema);
  // A session lock (not a transaction lock) so it spans every file's own transaction. This needs
  // a direct connection, not a transaction-pooling proxy (docs/operations.md).
  LOYALTY_RETURN_IF_ERROR(connection.Execute(kAdvisoryLock, Params().Add(lock_key)).status());
  auto apply = [&]() -> absl::StatusOr<MigrationReport> {
    // The schema name was validated as a plain identifier when the connection was opened.
    // CREATE SCHEMA IF NOT EXISTS would still demand CREATE on the database, which a service
    // role whose schema a DBA created beforehand (docs/operations.md) does not have.
    LOYALTY_ASSIGN_OR_RETURN(Result schema_exists,
                             connection.Execute(kSchemaExists, Params().Add(schema)));
    if (!schema_exists.Bool(0, 0)) {
      LOYALTY_RETURN_IF_ERROR(
          connection
              .ExecuteScript(
                  "migrate_create_schema",
                  absl::StrCat("CREATE SCHEMA ", absl::string_view(schema.data(), schema.size())))
              .status());
    }
    LOYALTY_RETURN_IF_ERROR(
        connection
            .ExecuteScript("migrate_bootstrap",
                           absl::StrCat("CREATE TABLE IF NOT EXISTS ",
                                        absl::string_view(schema.data(), schema.size()),
                                        ".schema_migrations (version integer PRIMARY KEY, "
                                        "file_name text NOT NULL, checksum text NOT NULL, "
                                        "applied_at timestamptz NOT NULL DEFAULT now())"))
            .status());
    LOYALTY_ASSIGN_OR_RETURN(auto applied, ReadApplied(connection, schema));
    LOYALTY_RETURN_IF_ERROR(VerifyApplied(applied, migrations, schema));
    MigrationReport report;
    for (const Migration& migration : migrations) {
      if (applied.contains(migration.version)) continue;
      LOYALTY_RETURN_IF_ERROR(ApplyOne(connection, migration));
      report.applied.push_back(migration.version);
    }
    report.current_version = static_cast<int>(migrations.size());
    return report;
  };
  absl::StatusOr<MigrationReport> report = apply();
  if (!connection.broken()) {
    // Unlock even on failure; if this fails too, closing the connection releases the lock.
    (void)connection.Execute(kAdvisoryUnlock, Params().Add(lock_key));
  }
  return report;
}

absl::Status CheckMigrationsCurrent(Connection& connection, std::span<const Migration> migrations) {
  CheckEmbeddedList(migrations);
  const std::string_view schema = connection.schema();
  LOYALTY_ASSIGN_OR_RETURN(auto applied, ReadApplied(connection, schema));
  LOYALTY_RETURN_IF_ERROR(VerifyApplied(applied, migrations, schema));
  if (applied.size() != migrations.size()) {
    return ErrorWithReason(absl::StatusCode::kFailedPrecondition, "SCHEMA_NOT_CURRENT",
                           absl::StrCat("schema ", absl::string_view(schema.data(), schema.size()),
                                        " is at version ", applied.size(), ", this binary needs ",
                                        migrations.size(), "; run the service with --migrate"),
                           {{"current_version", std::to_string(applied.size())},
                            {"required_version", std::to_string(migrations.size())}});
  }
  return absl::OkStatus();
}

}  // namespace loyalty::pg
