#pragma once

// Status propagation macros. Abseil 20220623 (Debian 12) has neither ABSL_RETURN_IF_ERROR nor
// ABSL_ASSIGN_OR_RETURN; the LOYALTY_ prefix keeps us clear of their names when we upgrade.

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define LOYALTY_STATUS_CONCAT_INNER_(a, b) a##b
#define LOYALTY_STATUS_CONCAT_(a, b) LOYALTY_STATUS_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function when `expr` is not OK.
#define LOYALTY_RETURN_IF_ERROR(expr)                                                \
  do {                                                                               \
    if (absl::Status loyalty_status_ = (expr); !loyalty_status_.ok()) [[unlikely]] { \
      return loyalty_status_;                                                        \
    }                                                                                \
  } while (false)

// `LOYALTY_ASSIGN_OR_RETURN(T value, MakeT());` declares (or assigns) `value` from a StatusOr,
// returning its status from the enclosing function when it is not OK.
#define LOYALTY_ASSIGN_OR_RETURN(lhs, rexpr) \
  LOYALTY_ASSIGN_OR_RETURN_IMPL_(LOYALTY_STATUS_CONCAT_(loyalty_statusor_, __LINE__), lhs, rexpr)
#define LOYALTY_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                   \
  if (!statusor.ok()) [[unlikely]] {                         \
    return std::move(statusor).status();                     \
  }                                                          \
  lhs = *std::move(statusor)
