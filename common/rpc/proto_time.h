#pragma once

// google.protobuf.Timestamp <-> absl::Time at microsecond precision (PostgreSQL's).

#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace loyalty {

google::protobuf::Timestamp ToTimestamp(absl::Time time);

// INVALID_ARGUMENT (reason INVALID_TIMESTAMP, naming `field`) when the timestamp is outside
// 0001-01-01..9999-12-31 or its nanos are out of range.
absl::StatusOr<absl::Time> ParseTimestamp(const google::protobuf::Timestamp& timestamp,
                                          std::string_view field);

}  // namespace loyalty
