#pragma once

// gMock matchers for absl::Status and absl::StatusOr, until the toolchain's Abseil (>= 20240722)
// ships its own. Tests assert the exact code and reason, never just "not OK".
//
//   EXPECT_THAT(status, IsOk());
//   EXPECT_THAT(result, StatusIs(absl::StatusCode::kAlreadyExists, "MEMBER_ALREADY_ENROLLED"));

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/status/error.h"
#include "gmock/gmock.h"

namespace loyalty::testkit {

inline const absl::Status& GetStatus(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status& status = GetStatus(arg);
  if (!status.ok()) *result_listener << "status is " << status;
  return status.ok();
}

MATCHER_P(StatusIs, code, "has code " + absl::StatusCodeToString(code)) {
  const absl::Status& status = GetStatus(arg);
  *result_listener << "status is " << status;
  return status.code() == code;
}

MATCHER_P2(StatusIs, code, reason,
           "has code " + absl::StatusCodeToString(code) + " and reason " + std::string(reason)) {
  const absl::Status& status = GetStatus(arg);
  std::optional<std::string> actual = ErrorReason(status);
  *result_listener << "status is " << status << ", reason "
                   << (actual.has_value() ? *actual : "<none>");
  return status.code() == code && actual == std::string(reason);
}

}  // namespace loyalty::testkit
