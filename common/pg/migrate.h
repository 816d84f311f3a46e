#pragma once

// Forward-only schema migrations embedded in each service binary.
//
// Files are `<service>/migrations/NNNN_description.sql`, numbered 1, 2, 3... without gaps, and
// embedded at build time (cmake/EmbedMigrations.cmake). ApplyMigrations, under a session advisory
// lock keyed by the schema (so concurrent migrators serialize), records each applied file in
// `<schema>.schema_migrations` with a SHA-256 checksum, in the same transaction as the file's
// own statements. An applied file whose checksum changed, or one the binary no longer has, is
// an error (FAILED_PRECONDITION): history is never rewritten.

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "common/pg/connection.h"

namespace loyalty::pg {

struct Migration {
  int version;
  std::string_view file_name;
  std::string_view sql;
};

struct MigrationReport {
  std::vector<int> applied;  // Versions applied by this call.
  int current_version = 0;   // Highest version recorded afterwards.
};

// Hex SHA-256 of the file's text.
std::string MigrationChecksum(std::string_view sql);

// Creates the schema if needed, then applies every pending migration in order. Errors:
// FAILED_PRECONDITION with reason MIGRATION_CHECKSUM_MISMATCH or MIGRATION_MISSING, or the
// mapped SQL error of a failing file (nothing of that file is kept).
// The schema is the connection's own (its search_path).
absl::StatusOr<MigrationReport> ApplyMigrations(Connection& connection,
                                                std::span<const Migration> migrations);

// For service start-up: OK when every embedded migration is applied with a matching checksum;
// FAILED_PRECONDITION with reason SCHEMA_NOT_CURRENT (run `<service> --migrate`) otherwise.
absl::Status CheckMigrationsCurrent(Connection& connection, std::span<const Migration> migrations);

}  // namespace loyalty::pg
