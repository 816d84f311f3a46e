#pragma once

// The one mapping from PostgreSQL SQLSTATE codes to absl::Status (see docs/errors.md).
//
//   23505 unique_violation                  ALREADY_EXISTS      UNIQUE_VIOLATION
//   23503 foreign_key, 23514 check, 23502   FAILED_PRECONDITION  CONSTRAINT_VIOLATION
//   40001 serialization_failure             ABORTED             SERIALIZATION_FAILURE (retried)
//   40P01 deadlock_detected                 ABORTED             DEADLOCK_DETECTED (retried)
//   57014 query_canceled (statement_timeout) DEADLINE_EXCEEDED   STATEMENT_TIMEOUT
//   08*, 53*, 57P01-57P03, connection lost  UNAVAILABLE         DATABASE_UNAVAILABLE
//   22* data exception                      INVALID_ARGUMENT    INVALID_DATA
//   anything else (42* etc.: our bug)       INTERNAL            DATABASE_ERROR
//
// Messages name the query and the SQLSTATE, never parameter values.

#include <string_view>

#include "absl/status/status.h"

namespace loyalty::pg {

// `constraint` (may be empty) is added to the ErrorInfo metadata, so callers can tell which
// unique key was hit (constraint names are schema facts, not personal data).
absl::Status SqlStateToStatus(std::string_view sqlstate, std::string_view query_name,
                              std::string_view constraint = {});

// A status for a connection that broke before or during a statement.
absl::Status ConnectionLostStatus(std::string_view query_name);

// True for the statuses that a whole-transaction retry may cure (serialization failure and
// deadlock), which pg::Pool::InTransaction retries a bounded number of times.
bool IsRetryableTransactionError(const absl::Status& status);

}  // namespace loyalty::pg
