#include "common/rpc/proto_time.h"

#include "common/testkit/status_matchers.h"
#include "gtest/gtest.h"

namespace loyalty {
namespace {

using ::loyalty::testkit::IsOk;
using ::loyalty::testkit::StatusIs;

TEST(ProtoTime, RoundTripsAtMicrosecondsIncludingBeforeTheEpoch) {
  for (int64_t micros : {int64_t{0}, int64_t{1795000000123456}, int64_t{-1500001}}) {
    const absl::Time time = absl::FromUnixMicros(micros);
    auto back = ParseTimestamp(ToTimestamp(time), "t");
    ASSERT_THAT(back, IsOk());
    EXPECT_EQ(*back, time) << micros;
  }
  EXPECT_EQ(ToTimestamp(absl::FromUnixMicros(-1500001)).nanos(), 499999000);
}

TEST(ProtoTime, OutOfRangeTimestampsAreInvalidArgument) {
  google::protobuf::Timestamp bad;
  bad.set_seconds(253402300800);  // 10000-01-01
  EXPECT_THAT(ParseTimestamp(bad, "occur_time"),
              StatusIs(absl::StatusCode::kInvalidArgument, "INVALID_TIMESTAMP"));
  bad.set_seconds(0);
  bad.set_nanos(-1);
  EXPECT_THAT(ParseTimestamp(bad, "occur_time"),
              StatusIs(absl::StatusCode::kInvalidArgument, "INVALID_TIMESTAMP"));
}

}  // namespace
}  // namespace loyalty
