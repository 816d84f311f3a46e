#include "common/pg/result.h"

#include <random>

#include "common/pg/params.h"
#include "gtest/gtest.h"

namespace loyalty::pg {
namespace {

TEST(ParseTimestamp, ReadsPostgresIsoOutputInUtc) {
  std::optional<absl::Time> time = ParseTimestamp("2026-11-22 07:39:45.123456+00");
  ASSERT_TRUE(time.has_value());
  EXPECT_EQ(*time,
            absl::FromCivil(absl::CivilSecond(2026, 11, 22, 7, 39, 45), absl::UTCTimeZone()) +
                absl::Microseconds(123456));
  EXPECT_EQ(ParseTimestamp("2026-11-22 07:39:45+00"),
            absl::FromCivil(absl::CivilSecond(2026, 11, 22, 7, 39, 45), absl::UTCTimeZone()));
}

TEST(ParseTimestamp, RejectsOtherZonesAndGarbage) {
  EXPECT_EQ(ParseTimestamp("2026-11-22 07:39:45+02"), std::nullopt);
  EXPECT_EQ(ParseTimestamp("yesterday"), std::nullopt);
  EXPECT_EQ(ParseTimestamp(""), std::nullopt);
}

// The hand-written digits agree with absl::FormatTime everywhere: sub-microseconds truncated,
// before 1970 too, and outside four-digit years (FormatTime writes those itself).
TEST(FormatTimestamp, MatchesAbslFormatTimeAcrossTheRange) {
  const auto expected = [](absl::Time time) {
    return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", time, absl::UTCTimeZone());
  };
  std::mt19937_64 random(20261207);
  const absl::Time first =
      absl::FromCivil(absl::CivilSecond(1, 1, 1, 0, 0, 0), absl::UTCTimeZone());
  const absl::Time last =
      absl::FromCivil(absl::CivilSecond(9999, 12, 31, 23, 59, 59), absl::UTCTimeZone());
  const int64_t span_seconds = absl::ToInt64Seconds(last - first);
  for (int i = 0; i < 20000; ++i) {
    const absl::Time time = first + absl::Seconds(static_cast<int64_t>(random() % span_seconds)) +
                            absl::Nanoseconds(static_cast<int64_t>(random() % 1'000'000'000));
    ASSERT_EQ(FormatTimestamp(time), expected(time));
  }
  for (absl::Time time :
       {absl::UnixEpoch(), absl::UnixEpoch() - absl::Nanoseconds(1), first, last,
        last + absl::Milliseconds(999), first - absl::Nanoseconds(1),
        last + absl::Seconds(1) + absl::Microseconds(7), absl::FromUnixMicros(-123456789012345)}) {
    EXPECT_EQ(FormatTimestamp(time), expected(time));
  }
  EXPECT_EQ(FormatTimestamp(absl::UnixEpoch() - absl::Nanoseconds(1)),
            "1969-12-31T23:59:59.999999Z");
}

TEST(FormatTimestamp, RoundTripsThroughParseAtMicrosecondPrecision) {
  const absl::Time time = absl::FromUnixMicros(1795000000123456);
  EXPECT_EQ(FormatTimestamp(time), "2026-11-18T11:06:40.123456Z");
  Params params;
  params.Add(time).AddNull().Add(int64_t{-5}).Add(true);
  ASSERT_EQ(params.size(), 4);
  EXPECT_EQ(*params.values()[0], "2026-11-18T11:06:40.123456Z");
  EXPECT_FALSE(params.values()[1].has_value());
  EXPECT_EQ(*params.values()[2], "-5");
  EXPECT_EQ(*params.values()[3], "t");
}

}  // namespace
}  // namespace loyalty::pg
