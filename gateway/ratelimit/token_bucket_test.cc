#include "gateway/ratelimit/token_bucket.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/testkit/fake_clock.h"
#include "gtest/gtest.h"

namespace loyalty::gateway {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

TEST(RateLimiter, AllowsTheBurstThenRefillsAtTheRate) {
  testkit::FakeClock clock(kStart);
  RateLimiter limiter({.rate = 2, .burst = 3, .buckets_max = 100}, clock);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Take("k").allowed) << i;
  RateLimiter::Decision refused = limiter.Take("k");
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after, absl::Milliseconds(500));
  clock.Advance(absl::Milliseconds(500));
  EXPECT_TRUE(limiter.Take("k").allowed);
  EXPECT_FALSE(limiter.Take("k").allowed);
  // A long pause refills only up to the burst.
  clock.Advance(absl::Hours(1));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Take("k").allowed) << i;
  EXPECT_FALSE(limiter.Take("k").allowed);
}

TEST(RateLimiter, KeysHaveTheirOwnBuckets) {
  testkit::FakeClock clock(kStart);
  RateLimiter limiter({.rate = 1, .burst = 1, .buckets_max = 100}, clock);
  EXPECT_TRUE(limiter.Take("a").allowed);
  EXPECT_FALSE(limiter.Take("a").allowed);
  EXPECT_TRUE(limiter.Take("b").allowed);
}

TEST(RateLimiter, ZeroRateIsNoLimit) {
  testkit::FakeClock clock(kStart);
  RateLimiter limiter({.rate = 0, .burst = 1, .buckets_max = 100}, clock);
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(limiter.Take("k").allowed);
  EXPECT_EQ(limiter.size(), 0u);
}

TEST(RateLimiter, TableStaysBoundedUnderAFloodOfCallers) {
  testkit::FakeClock clock(kStart);
  RateLimiter limiter({.rate = 1, .burst = 5, .buckets_max = 160}, clock);
  for (int i = 0; i < 10'000; ++i) limiter.Take(absl::StrCat("caller-", i));
  EXPECT_LE(limiter.size(), 160u);
  EXPECT_GT(limiter.evictions(), 0u);
}

TEST(RateLimiter, FullyRefilledBucketsAreForgottenFirst) {
  testkit::FakeClock clock(kStart);
  RateLimiter limiter({.rate = 1, .burst = 2, .buckets_max = RateLimiter::kShards}, clock);
  for (int i = 0; i < 1000; ++i) {
    limiter.Take(absl::StrCat("caller-", i));
    clock.Advance(absl::Seconds(10));
  }
  EXPECT_EQ(limiter.evictions(), 0u);
}

TEST(RateLimiter, ClockGoingBackwardsRefillsNothing) {
  testkit::FakeClock clock(kStart);
  RateLimiter limiter({.rate = 1, .burst = 1, .buckets_max = 100}, clock);
  EXPECT_TRUE(limiter.Take("k").allowed);
  clock.Advance(-absl::Hours(1));
  EXPECT_FALSE(limiter.Take("k").allowed);
}

}  // namespace
}  // namespace loyalty::gateway
