#include "common/rpc/proto_time.h"

#include "common/status/error.h"

namespace loyalty {

google::protobuf::Timestamp ToTimestamp(absl::Time time) {
  google::protobuf::Timestamp timestamp;
  const int64_t micros = absl::ToUnixMicros(time);
  int64_t seconds = micros / 1'000'000;
  int64_t remainder = micros % 1'000'000;
  if (remainder < 0) {
    remainder += 1'000'000;
    --seconds;
  }
  timestamp.set_seconds(seconds);
  timestamp.set_nanos(static_cast<int32_t>(remainder * 1000));
  return timestamp;
}

absl::StatusOr<absl::Time> ParseTimestamp(const google::protobuf::Timestamp& timestamp,
                                          std::string_view field) {
  // The range of google.protobuf.Timestamp: 0001-01-01 to 9999-12-31.
  constexpr int64_t kSecondsMin = -62135596800;
  constexpr int64_t kSecondsMax = 253402300799;
  if (timestamp.seconds() < kSecondsMin || timestamp.seconds() > kSecondsMax ||
      timestamp.nanos() < 0 || timestamp.nanos() > 999'999'999) {
    return InvalidField(field, "INVALID_TIMESTAMP", "outside the range of a Timestamp");
  }
  return absl::FromUnixSeconds(timestamp.seconds()) + absl::Nanoseconds(timestamp.nanos());
}

}  // namespace loyalty
