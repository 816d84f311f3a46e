#include "common/projection_memory.h"

#include "gtest/gtest.h"

namespace loyalty {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'700'000'000);

TEST(ProjectionMemory, RemembersUntilTheTtlFromTheRowsRefreshTime) {
  ProjectionMemory<int> memory(absl::Seconds(60), 10);
  memory.Remember("m", 1, kStart);
  EXPECT_EQ(memory.Fresh("m", kStart + absl::Seconds(59)), 1);
  EXPECT_EQ(memory.Fresh("m", kStart + absl::Seconds(60)), std::nullopt);
}

TEST(ProjectionMemory, InvalidateForgetsAndRefusesValuesRefreshedBeforeIt) {
  ProjectionMemory<int> memory(absl::Seconds(60), 10);
  memory.Remember("m", 1, kStart);
  memory.Invalidate("m", kStart + absl::Seconds(5));
  EXPECT_EQ(memory.Fresh("m", kStart + absl::Seconds(6)), std::nullopt);
  // A reader that loaded the old row (or asked members-svc) before the event cannot put it back.
  memory.Remember("m", 1, kStart + absl::Seconds(4));
  EXPECT_EQ(memory.Fresh("m", kStart + absl::Seconds(6)), std::nullopt);
  // The row the event wrote, refreshed at the invalidation, is remembered.
  memory.Remember("m", 2, kStart + absl::Seconds(5));
  EXPECT_EQ(memory.Fresh("m", kStart + absl::Seconds(6)), 2);
  // Other keys are untouched.
  memory.Remember("n", 3, kStart);
  EXPECT_EQ(memory.Fresh("n", kStart + absl::Seconds(6)), 3);
}

// The event's row comes back from PostgreSQL with its refresh_time cut to microseconds; it was
// once refused for being "older" than the invalidation by the nanoseconds lost, so every purchase
// of a member with an applied event read the projection table again.
TEST(ProjectionMemory, TheRowAnEventWroteIsRememberedAtTheDatabasesPrecision) {
  ProjectionMemory<int> memory(absl::Seconds(60), 10);
  const absl::Time applied = kStart + absl::Nanoseconds(1'234'567);
  memory.Invalidate("m", applied);
  memory.Remember("m", 2, kStart + absl::Microseconds(1'234));  // As read back.
  EXPECT_EQ(memory.Fresh("m", kStart + absl::Seconds(1)), 2);
  memory.Invalidate("m", applied + absl::Microseconds(1));
  memory.Remember("m", 3, kStart + absl::Microseconds(1'234));  // Older than that: refused.
  EXPECT_EQ(memory.Fresh("m", kStart + absl::Seconds(1)), std::nullopt);
}

TEST(ProjectionMemory, InvalidationsAreBoundedLikeTheEntries) {
  ProjectionMemory<int> memory(absl::Seconds(60), 2);
  memory.Invalidate("a", kStart + absl::Seconds(5));
  memory.Invalidate("b", kStart + absl::Seconds(5));
  memory.Invalidate("c", kStart + absl::Seconds(5));  // Full: the older two are forgotten.
  memory.Remember("a", 1, kStart);
  EXPECT_EQ(memory.Fresh("a", kStart + absl::Seconds(6)), 1);
  memory.Remember("c", 1, kStart);
  EXPECT_EQ(memory.Fresh("c", kStart + absl::Seconds(6)), std::nullopt);
}

}  // namespace
}  // namespace loyalty
