#pragma once

// Test helpers for the domain's INVALID_ARGUMENT errors (common/status/error.h).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/status/error.h"
#include "common/testkit/invalid_field.h"
#include "gtest/gtest.h"

namespace loyalty::members::testing {

using ::loyalty::testkit::IsInvalidField;

}  // namespace loyalty::members::testing
