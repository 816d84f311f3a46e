#pragma once

// RAII wrapper of a PGresult with typed accessors.
//
// Column types are fixed by our own queries, so a value that does not parse as the type asked
// for is a programmer error (LOYALTY_CHECK), not a runtime status. NULL is only legal through the
// Optional* accessors or IsNull.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/time/time.h"

struct pg_result;

namespace loyalty::pg {

class Result {
 public:
  explicit Result(pg_result* result);
  Result(Result&&) noexcept = default;
  Result& operator=(Result&&) noexcept = default;

  int rows() const;
  int columns() const;
  // Rows changed by INSERT/UPDATE/DELETE.
  int64_t affected_rows() const;
  // Index of the named column, the first of equal names (LOYALTY_CHECK that it exists): the
  // name as the result spells it, else as PQfnumber reads it (folded to lower case unless
  // double-quoted).
  int Column(std::string_view name) const;

  bool IsNull(int row, int column) const;
  std::string String(int row, int column) const;
  int64_t Int64(int row, int column) const;
  bool Bool(int row, int column) const;
  // A bytea column (hex text form decoded).
  std::string Bytes(int row, int column) const;
  // timestamptz in the session's UTC time zone.
  absl::Time Time(int row, int column) const;
  std::optional<std::string> OptionalString(int row, int column) const;
  std::optional<int64_t> OptionalInt64(int row, int column) const;
  std::optional<absl::Time> OptionalTime(int row, int column) const;

  // Name-based conveniences for readability at call sites.
  std::string String(int row, std::string_view column) const { return String(row, Column(column)); }
  int64_t Int64(int row, std::string_view column) const { return Int64(row, Column(column)); }
  bool Bool(int row, std::string_view column) const { return Bool(row, Column(column)); }
  std::string Bytes(int row, std::string_view column) const { return Bytes(row, Column(column)); }
  absl::Time Time(int row, std::string_view column) const { return Time(row, Column(column)); }
  bool IsNull(int row, std::string_view column) const { return IsNull(row, Column(column)); }
  std::optional<std::string> OptionalString(int row, std::string_view column) const {
    return OptionalString(row, Column(column));
  }
  std::optional<int64_t> OptionalInt64(int row, std::string_view column) const {
    return OptionalInt64(row, Column(column));
  }
  std::optional<absl::Time> OptionalTime(int row, std::string_view column) const {
    return OptionalTime(row, Column(column));
  }

 private:
  struct Deleter {
    void operator()(pg_result* result) const;
  };
  std::string_view Raw(int row, int column) const;
  std::unique_ptr<pg_result, Deleter> result_;
};

// Parses PostgreSQL's ISO timestamptz output in UTC ("2026-11-22 07:39:45.123456+00").
std::optional<absl::Time> ParseTimestamp(std::string_view text);
// Formats a time for a timestamptz parameter.
std::string FormatTimestamp(absl::Time time);
// Bytes in bytea's hex text form ("\\x0aff").
std::string ByteaHex(std::string_view bytes);
// Appends the lowercase hex digits of `bytes` to `out` (ByteaHex without its "\\x").
void AppendHex(std::string_view bytes, std::string& out);

}  // namespace loyalty::pg
