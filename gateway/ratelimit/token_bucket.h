#pragma once

// Rate limits per caller: a token bucket per key (an API key id, a member), refilled at `rate`
// tokens per second up to `burst`. A request takes one token or is refused with the time until
// the next token, which becomes the Retry-After of the 429.
//
// The table of buckets is bounded: it is split into shards, each holding at most
// buckets_max / kShards buckets. A shard that is full first forgets the buckets that have
// refilled completely, which are indistinguishable from new ones; only if every bucket in it is
// still draining does it forget the one used longest ago (counted in evictions()), so memory stays
// bounded even under a flood of distinct callers.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace loyalty::gateway {

struct RateLimitOptions {
  // Tokens per second; 0 turns the limit off.
  double rate = 0;
  // Bucket size: requests allowed at once after a quiet period. At least 1 when rate > 0.
  double burst = 1;
  // Buckets kept at most, over all shards.
  size_t buckets_max = 100'000;
};

class RateLimiter {
 public:
  static constexpr size_t kShards = 16;

  // `clock` must outlive the limiter.
  RateLimiter(RateLimitOptions options, const Clock& clock);
  ~RateLimiter();

  struct Decision {
    bool allowed = true;
    // When refused: how long until a token is available (at least 1 s when rounded up by the
    // caller for Retry-After).
    absl::Duration retry_after;
  };

  // Takes a token from `key`'s bucket. Thread-safe.
  Decision Take(std::string_view key);

  bool enabled() const { return options_.rate > 0; }
  size_t size() const;
  uint64_t evictions() const { return evictions_.load(std::memory_order_relaxed); }

 private:
  struct Bucket {
    double tokens;
    absl::Time updated;
  };
  struct Shard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<std::string, Bucket> buckets ABSL_GUARDED_BY(mu);
  };

  // Makes room for one more bucket in a full shard.
  void MakeRoom(Shard& shard, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  double Refilled(const Bucket& bucket, absl::Time now) const;

  const RateLimitOptions options_;
  const size_t shard_capacity_;
  const Clock& clock_;
  std::unique_ptr<Shard[]> shards_;
  std::atomic<uint64_t> evictions_{0};
};

}  // namespace loyalty::gateway
