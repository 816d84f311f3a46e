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

// The hand-written reader agrees with absl::ParseTime on what PostgreSQL prints (0 to 6
// fraction digits) and refuses what ParseTime refuses.
TEST(ParseTimestamp, MatchesAbslParseTimeOnPostgresOutput) {
  const auto expected = [](std::string_view text) -> std::optional<absl::Time> {
    absl::Time time;
    std::string error;
    if (!absl::ParseTime("%Y-%m-%d %H:%M:%E*S", std::string(text.substr(0, text.size() - 3)),
                         absl::UTCTimeZone(), &time, &error)) {
      return std::nullopt;
    }
    return time;
  };
  std::mt19937_64 random(7);
  for (int i = 0; i < 20000; ++i) {
    const absl::Time time =
        absl::FromUnixMicros(static_cast<int64_t>(random() % 400'000'000'000'000) -
                             100'000'000'000'000);  // 1966 to 2094.
    std::string text = absl::FormatTime("%Y-%m-%d %H:%M:%E6S", time, absl::UTCTimeZone());
    // PostgreSQL drops trailing zeros of the fraction, and the point with them.
    while (text.back() == '0') text.pop_back();
    if (text.back() == '.') text.pop_back();
    text += "+00";
    ASSERT_EQ(ParseTimestamp(text), std::optional<absl::Time>(time)) << text;
    ASSERT_EQ(ParseTimestamp(text), expected(text)) << text;
  }
  for (std::string_view text :
       {"2026-02-30 10:00:00+00", "2026-13-01 10:00:00+00", "2026-12-01 24:00:00+00",
        "2026-12-01 10:60:00+00", "2026-12-01T10:00:00+00", "2026-12-01 10:00:00.+00",
        "2026-12-01 10:00:00.1234567+00", "2026-1a-01 10:00:00+00", "12026-12-01 10:00:00+00",
        "2024-02-29 23:59:59.5+00", "0999-12-31 23:59:59+00"}) {
    EXPECT_EQ(ParseTimestamp(text), expected(text)) << text;
  }
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
