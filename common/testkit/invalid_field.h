#pragma once

// Test helper for INVALID_ARGUMENT errors built with InvalidField (common/status/error.h).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/status/error.h"
#include "gtest/gtest.h"

namespace loyalty::testkit {

// Succeeds when `status` is INVALID_ARGUMENT with ErrorInfo `reason` and exactly one field
// violation, for `field`.
inline ::testing::AssertionResult IsInvalidField(const absl::Status& status, std::string_view field,
                                                 std::string_view reason) {
  if (status.code() != absl::StatusCode::kInvalidArgument) {
    return ::testing::AssertionFailure() << "status is " << status << ", not INVALID_ARGUMENT";
  }
  const std::optional<std::string> actual_reason = ErrorReason(status);
  if (actual_reason != std::string(reason)) {
    return ::testing::AssertionFailure() << "reason is " << actual_reason.value_or("<none>")
                                         << ", not " << reason << " (status " << status << ")";
  }
  const std::vector<FieldViolation> violations = FieldViolations(status);
  if (violations.size() != 1 || violations[0].field != field) {
    ::testing::AssertionResult failure = ::testing::AssertionFailure();
    failure << "violations are [";
    for (const FieldViolation& v : violations) failure << " " << v.field;
    return failure << " ], not [ " << field << " ]";
  }
  return ::testing::AssertionSuccess();
}

template <typename T>
::testing::AssertionResult IsInvalidField(const absl::StatusOr<T>& result, std::string_view field,
                                          std::string_view reason) {
  if (result.ok()) return ::testing::AssertionFailure() << "result is OK";
  return IsInvalidField(result.status(), field, reason);
}

}  // namespace loyalty::testkit
