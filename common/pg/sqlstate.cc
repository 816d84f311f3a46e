#include "common/pg/sqlstate.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status/error.h"

namespace loyalty::pg {
namespace {

struct Mapping {
  absl::StatusCode code;
  std::string_view reason;
};

Mapping MapSqlState(std::string_view state) {
  using C = absl::StatusCode;
  if (state == "23505") return {C::kAlreadyExists, "UNIQUE_VIOLATION"};
  if (state == "40001") return {C::kAborted, "SERIALIZATION_FAILURE"};
  if (state == "40P01") return {C::kAborted, "DEADLOCK_DETECTED"};
  if (state == "57014") return {C::kDeadlineExceeded, "STATEMENT_TIMEOUT"};
  if (state == "57P01" || state == "57P02" || state == "57P03") {
    return {C::kUnavailable, "DATABASE_UNAVAILABLE"};
  }
  std::string_view sqlclass = state.substr(0, 2);
  if (sqlclass == "23") return {C::kFailedPrecondition, "CONSTRAINT_VIOLATION"};
  if (sqlclass == "08" || sqlclass == "53") return {C::kUnavailable, "DATABASE_UNAVAILABLE"};
  if (sqlclass == "22") return {C::kInvalidArgument, "INVALID_DATA"};
  return {C::kInternal, "DATABASE_ERROR"};
}

}  // namespace

absl::Status SqlStateToStatus(std::string_view sqlstate, std::string_view query_name,
                              std::string_view constraint) {
  const Mapping mapping = MapSqlState(sqlstate);
  ErrorMetadata metadata{{"query", std::string(query_name)}, {"sqlstate", std::string(sqlstate)}};
  if (!constraint.empty()) metadata["constraint"] = std::string(constraint);
  return ErrorWithReason(
      mapping.code, mapping.reason,
      absl::StrCat("query ", absl::string_view(query_name.data(), query_name.size()),
                   " failed with SQLSTATE ", absl::string_view(sqlstate.data(), sqlstate.size())),
      metadata);
}

absl::Status ConnectionLostStatus(std::string_view query_name) {
  return ErrorWithReason(absl::StatusCode::kUnavailable, "DATABASE_UNAVAILABLE",
                         absl::StrCat("database connection lost during ",
                                      absl::string_view(query_name.data(), query_name.size())),
                         {{"query", std::string(query_name)}});
}

bool IsRetryableTransactionError(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kAborted) return false;
  std::optional<std::string> reason = ErrorReason(status);
  return reason == "SERIALIZATION_FAILURE" || reason == "DEADLOCK_DETECTED";
}

}  // namespace loyalty::pg
