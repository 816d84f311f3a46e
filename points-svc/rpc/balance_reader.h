#pragma once

// GetBalance's reads, batched like the purchase path's writes (DESIGN.md section 8): callers
// queue a member; reader threads take what is queued and read the whole batch in one statement
// (storage/balance_read.h) on one connection. Under load, concurrent reads then cost PostgreSQL
// one statement per batch instead of one per read, and take at most `queue.writers` of the pool's
// connections instead of queueing for all of them (the pool's wait is not first come, first
// served, which made the slowest reads wait for hundreds of milliseconds).

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/batch/group_commit.h"
#include "common/pg/pool.h"
#include "points-svc/storage/balance_read.h"

namespace loyalty::points {

struct BalanceReaderOptions {
  // Reads in one statement, reads waiting, and batches read at once.
  batch::GroupCommitOptions queue{.max_batch = 128, .max_queued = 4096, .writers = 2};
  // The longest a caller waits for its batch (then DEADLINE_EXCEEDED).
  absl::Duration wait_max = absl::Seconds(10);
};

class BalanceReader {
 public:
  // `pool` must outlive the reader; each reader thread holds one connection while it reads.
  BalanceReader(pg::Pool& pool, BalanceReaderOptions options);

  // Reads `member` as of `now`, together with whatever else is queued. RESOURCE_EXHAUSTED when
  // the queue is full, DEADLINE_EXCEEDED after wait_max, else the status of the failed statement.
  absl::StatusOr<BalanceRead> Read(const MemberRef& member, absl::Time now);

 private:
  struct Job {
    MemberRef member;
    absl::Time now;
    absl::StatusOr<BalanceRead> result = absl::InternalError("not read");
  };

  void ReadBatch(std::span<const std::shared_ptr<Job>> jobs);

  pg::Pool& pool_;
  const absl::Duration wait_max_;
  std::atomic<uint64_t> next_key_{0};
  // Last: its destructor drains the queue while the rest is still alive.
  batch::GroupCommitQueue<Job> queue_;
};

}  // namespace loyalty::points
