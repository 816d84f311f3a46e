#include "common/pg/result.h"

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
