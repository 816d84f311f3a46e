#include "gateway/ratelimit/token_bucket.h"

#include <algorithm>
#include <functional>

namespace loyalty::gateway {

RateLimiter::RateLimiter(RateLimitOptions options, const Clock& clock)
    : options_(options),
      shard_capacity_(std::max<size_t>(1, options.buckets_max / kShards)),
      clock_(clock),
      shards_(new Shard[kShards]) {}

RateLimiter::~RateLimiter() = default;

double RateLimiter::Refilled(const Bucket& bucket, absl::Time now) const {
  // A clock that went backwards refills nothing rather than draining the bucket.
  const double elapsed = std::max(0.0, absl::ToDoubleSeconds(now - bucket.updated));
  return std::min(options_.burst, bucket.tokens + elapsed * options_.rate);
}

void RateLimiter::MakeRoom(Shard& shard, absl::Time now) {
  absl::erase_if(shard.buckets,
                 [&](const auto& entry) { return Refilled(entry.second, now) >= options_.burst; });
  if (shard.buckets.size() < shard_capacity_) return;
  auto oldest = std::min_element(
      shard.buckets.begin(), shard.buckets.end(),
      [](const auto& a, const auto& b) { return a.second.updated < b.second.updated; });
  shard.buckets.erase(oldest);
  evictions_.fetch_add(1, std::memory_order_relaxed);
}

RateLimiter::Decision RateLimiter::Take(std::string_view key) {
  if (!enabled()) return {};
  const absl::Time now = clock_.Now();
  Shard& shard = shards_[std::hash<std::string_view>()(key) % kShards];
  absl::MutexLock lock(&shard.mu);
  auto it = shard.buckets.find(absl::string_view(key.data(), key.size()));
  if (it == shard.buckets.end()) {
    if (shard.buckets.size() >= shard_capacity_) MakeRoom(shard, now);
    it = shard.buckets.emplace(std::string(key), Bucket{options_.burst, now}).first;
  }
  Bucket& bucket = it->second;
  bucket.tokens = Refilled(bucket, now);
  // Never move backwards: a clock step back must not make the next refill count time twice.
  bucket.updated = std::max(bucket.updated, now);
  if (bucket.tokens >= 1.0) {
    bucket.tokens -= 1.0;
    return {};
  }
  return {false, absl::Seconds((1.0 - bucket.tokens) / options_.rate)};
}

size_t RateLimiter::size() const {
  size_t total = 0;
  for (size_t i = 0; i < kShards; ++i) {
    absl::MutexLock lock(&shards_[i].mu);
    total += shards_[i].buckets.size();
  }
  return total;
}

}  // namespace loyalty::gateway
