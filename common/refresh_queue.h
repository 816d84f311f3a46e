#pragma once

// Refreshes run off the request path: a hot path that may answer from a stale copy (a
// projection row past its TTL) schedules the refresh here and answers at once, instead of
// waiting for the owning service and a write of its own.
//
// One worker thread runs the refreshes one at a time, in the order scheduled. A key is pending
// at most once: scheduling a key that is already waiting does nothing, so a thousand requests
// for one stale member cause one refresh. At most `max_pending` keys wait; past that Schedule
// refuses, and the caller's next look at the stale copy schedules it again. The destructor drops
// what is still waiting and waits for the refresh that is running.

#include <cstddef>
#include <deque>
#include <string>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace loyalty {

class RefreshQueue {
 public:
  explicit RefreshQueue(size_t max_pending)
      : max_pending_(max_pending), thread_([this] { Run(); }) {}

  ~RefreshQueue() {
    {
      absl::MutexLock lock(&mutex_);
      stopping_ = true;
    }
    thread_.join();
  }

  RefreshQueue(const RefreshQueue&) = delete;
  RefreshQueue& operator=(const RefreshQueue&) = delete;

  // Queues `refresh` under `key`. False when `key` is already waiting or the queue is full.
  bool Schedule(std::string key, absl::AnyInvocable<void()> refresh) {
    absl::MutexLock lock(&mutex_);
    if (stopping_ || pending_.size() >= max_pending_ || pending_.contains(key)) return false;
    pending_.insert(key);
    queue_.emplace_back(std::move(key), std::move(refresh));
    return true;
  }

  // Waits until nothing is waiting or running (tests, and an orderly stop).
  void Drain() {
    absl::MutexLock lock(&mutex_);
    mutex_.Await(absl::Condition(
        +[](RefreshQueue* queue) ABSL_SHARED_LOCKS_REQUIRED(queue->mutex_) {
          return queue->queue_.empty() && !queue->running_;
        },
        this));
  }

  size_t pending() const {
    absl::MutexLock lock(&mutex_);
    return queue_.size();
  }

 private:
  void Run() {
    while (true) {
      std::pair<std::string, absl::AnyInvocable<void()>> next;
      {
        absl::MutexLock lock(&mutex_);
        mutex_.Await(absl::Condition(
            +[](RefreshQueue* queue) ABSL_SHARED_LOCKS_REQUIRED(queue->mutex_) {
              return queue->stopping_ || !queue->queue_.empty();
            },
            this));
        if (stopping_) {
          queue_.clear();
          pending_.clear();
          return;
        }
        next = std::move(queue_.front());
        queue_.pop_front();
        // The key may be scheduled again from here on: a change seen while this refresh runs
        // gets a refresh of its own.
        pending_.erase(next.first);
        running_ = true;
      }
      next.second();
      absl::MutexLock lock(&mutex_);
      running_ = false;
    }
  }

  const size_t max_pending_;
  mutable absl::Mutex mutex_;
  std::deque<std::pair<std::string, absl::AnyInvocable<void()>>> queue_ ABSL_GUARDED_BY(mutex_);
  absl::flat_hash_set<std::string> pending_ ABSL_GUARDED_BY(mutex_);
  bool running_ ABSL_GUARDED_BY(mutex_) = false;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  // Last: started once everything above is initialised.
  std::thread thread_;
};

}  // namespace loyalty
