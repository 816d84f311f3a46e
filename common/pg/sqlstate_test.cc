#include "common/pg/sqlstate.h"

#include "common/testkit/status_matchers.h"
#include "gtest/gtest.h"

namespace loyalty::pg {
namespace {

using ::loyalty::testkit::StatusIs;
using C = absl::StatusCode;

TEST(SqlStateToStatus, MapsEachClassToItsCanonicalCodeAndReason) {
  struct Case {
    const char* sqlstate;
    C code;
    const char* reason;
  };
  const Case cases[] = {
      {"23505", C::kAlreadyExists, "UNIQUE_VIOLATION"},
      {"23503", C::kFailedPrecondition, "CONSTRAINT_VIOLATION"},
      {"23514", C::kFailedPrecondition, "CONSTRAINT_VIOLATION"},
      {"40001", C::kAborted, "SERIALIZATION_FAILURE"},
      {"40P01", C::kAborted, "DEADLOCK_DETECTED"},
      {"57014", C::kDeadlineExceeded, "STATEMENT_TIMEOUT"},
      {"57P01", C::kUnavailable, "DATABASE_UNAVAILABLE"},
      {"08006", C::kUnavailable, "DATABASE_UNAVAILABLE"},
      {"53300", C::kUnavailable, "DATABASE_UNAVAILABLE"},
      {"22001", C::kInvalidArgument, "INVALID_DATA"},
      {"42P01", C::kInternal, "DATABASE_ERROR"},
      {"XX000", C::kInternal, "DATABASE_ERROR"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(SqlStateToStatus(c.sqlstate, "q"), StatusIs(c.code, c.reason)) << c.sqlstate;
  }
}

TEST(SqlStateToStatus, MessageNamesQueryAndStateAndMetadataTheConstraint) {
  absl::Status status = SqlStateToStatus("23505", "members_insert", "identifiers_pkey");
  EXPECT_EQ(status.message(), "query members_insert failed with SQLSTATE 23505");
  EXPECT_EQ(ErrorMetadataOf(status).at("constraint"), "identifiers_pkey");
  EXPECT_EQ(ErrorMetadataOf(status).at("query"), "members_insert");
}

TEST(IsRetryableTransactionError, OnlySerializationFailureAndDeadlock) {
  EXPECT_TRUE(IsRetryableTransactionError(SqlStateToStatus("40001", "q")));
  EXPECT_TRUE(IsRetryableTransactionError(SqlStateToStatus("40P01", "q")));
  EXPECT_FALSE(IsRetryableTransactionError(SqlStateToStatus("23505", "q")));
  // An ABORTED the application raised itself (e.g. an etag mismatch) is not retried.
  EXPECT_FALSE(IsRetryableTransactionError(absl::AbortedError("etag mismatch")));
  EXPECT_FALSE(IsRetryableTransactionError(ConnectionLostStatus("q")));
}

TEST(ConnectionLostStatus, IsUnavailable) {
  EXPECT_THAT(ConnectionLostStatus("q"), StatusIs(C::kUnavailable, "DATABASE_UNAVAILABLE"));
}

}  // namespace
}  // namespace loyalty::pg
