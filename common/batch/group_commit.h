#pragma once

// Group commit (DESIGN.md section 8): callers queue jobs; a few writer threads each take what is
// queued, up to a batch, and write it in one transaction, so many requests share one round of
// statements and one fsync. A caller is answered when its batch has been written.
//
// Jobs with the same key never share a batch and never run in two batches at once: the writer
// sees one job per key, so it can lock and update, say, one member's balance once per batch.
// Jobs of one key are taken in the order they were queued.
//
// Limits: at most `max_queued` jobs wait (more: RESOURCE_EXHAUSTED), a batch holds at most
// `max_batch` jobs, a blocking caller waits until its deadline (then DEADLINE_EXCEEDED; the job
// is still written, and its idempotency key lets the caller's retry find the answer). Callers
// that must not block a thread Submit with a callback instead.

#include <functional>
#include <list>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/check.h"
#include "common/status/macros.h"

namespace loyalty::batch {

struct GroupCommitOptions {
  // Jobs written in one transaction.
  int max_batch = 256;
  // Jobs waiting for a writer.
  int max_queued = 4096;
  // Batches written at once (while one waits for its commit, the next one is built).
  int writers = 2;
};

template <typename Job>
class GroupCommitQueue {
 public:
  // Writes a batch and leaves each job's outcome in the job. Runs on a writer thread; must not
  // throw. Jobs of one batch have distinct keys.
  using Writer = std::function<void(std::span<const std::shared_ptr<Job>> jobs)>;

  GroupCommitQueue(GroupCommitOptions options, Writer writer)
      : options_(options), writer_(std::move(writer)) {
    LOYALTY_CHECK(options_.max_batch >= 1 && options_.max_queued >= 1 && options_.writers >= 1);
    for (int i = 0; i < options_.writers; ++i) threads_.emplace_back([this] { WriterLoop(); });
  }

  // Stops taking jobs, writes what is queued, then joins the writers.
  ~GroupCommitQueue() {
    {
      absl::MutexLock lock(&mutex_);
      stopping_ = true;
    }
    for (std::thread& thread : threads_) thread.join();
  }

  GroupCommitQueue(const GroupCommitQueue&) = delete;
  GroupCommitQueue& operator=(const GroupCommitQueue&) = delete;

  // Queues `job`; `written` runs on the writer thread once the job's batch is written (the
  // outcome is then in the job). RESOURCE_EXHAUSTED when the queue is full and UNAVAILABLE when
  // stopping, and then `written` never runs. For callers that must not block a thread.
  absl::Status Submit(std::shared_ptr<Job> job, std::string key, std::function<void()> written) {
    absl::MutexLock lock(&mutex_);
    if (stopping_) return absl::UnavailableError("the writer is shutting down");
    if (static_cast<int>(queue_.size()) >= options_.max_queued) {
      return absl::ResourceExhaustedError("the write queue is full; retry with the same key");
    }
    queue_.push_back(Entry{std::move(job), std::move(key), std::move(written)});
    return absl::OkStatus();
  }

  // Queues `job` and waits until a writer has written it (OK: the outcome is in the job).
  // As Submit, and DEADLINE_EXCEEDED when the job was not written by `deadline` (it may still
  // be written later).
  absl::Status Run(std::shared_ptr<Job> job, std::string key, absl::Time deadline) {
    auto done = std::make_shared<absl::Notification>();
    LOYALTY_RETURN_IF_ERROR(Submit(std::move(job), std::move(key), [done] { done->Notify(); }));
    if (!done->WaitForNotificationWithDeadline(deadline)) {
      return absl::DeadlineExceededError(
          "the write did not finish in time; retry with the same key");
    }
    return absl::OkStatus();
  }

  // Jobs waiting now (for metrics and tests).
  int queued() const {
    absl::MutexLock lock(&mutex_);
    return static_cast<int>(queue_.size());
  }

 private:
  struct Entry {
    std::shared_ptr<Job> job;
    std::string key;
    std::function<void()> written;
  };

  // Moves up to max_batch entries whose keys are neither in flight nor already taken into
  // `batch`, oldest first, and marks their keys in flight.
  void TakeBatch(std::vector<Entry>& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    absl::flat_hash_set<std::string> skipped;
    for (auto it = queue_.begin();
         it != queue_.end() && static_cast<int>(batch.size()) < options_.max_batch;) {
      // A key met once and skipped stays skipped, so one key's jobs keep their order.
      if (in_flight_.contains(it->key) || skipped.contains(it->key)) {
        skipped.insert(it->key);
        ++it;
        continue;
      }
      in_flight_.insert(it->key);
      batch.push_back(std::move(*it));
      it = queue_.erase(it);
    }
  }

  bool HasTakeable() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    for (const Entry& entry : queue_) {
      if (!in_flight_.contains(entry.key)) return true;
    }
    return false;
  }

  void WriterLoop() {
    std::vector<Entry> batch;
    std::vector<std::shared_ptr<Job>> jobs;
    while (true) {
      {
        absl::MutexLock lock(&mutex_);
        mutex_.Await(absl::Condition(
            +[](GroupCommitQueue* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mutex_) {
              return self->HasTakeable() || (self->stopping_ && self->queue_.empty());
            },
            this));
        if (queue_.empty()) return;  // Stopping with nothing left.
        TakeBatch(batch);
      }
      jobs.clear();
      for (Entry& entry : batch) jobs.push_back(entry.job);
      writer_(jobs);
      {
        absl::MutexLock lock(&mutex_);
        for (const Entry& entry : batch) in_flight_.erase(entry.key);
      }
      for (Entry& entry : batch) entry.written();
      batch.clear();
    }
  }

  const GroupCommitOptions options_;
  const Writer writer_;
  mutable absl::Mutex mutex_;
  std::list<Entry> queue_ ABSL_GUARDED_BY(mutex_);
  absl::flat_hash_set<std::string> in_flight_ ABSL_GUARDED_BY(mutex_);
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace loyalty::batch
