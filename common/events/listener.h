#pragma once

// The one LISTEN connection of a process: wakes every Subscribe stream when its schema's outbox
// commits (NOTIFY loyalty_outbox, payload = schema), so streams follow new events without
// polling. It keeps its own connection, outside the pool (a LISTEN must stay on one session),
// and reconnects with capped backoff; each (re)connection counts as a change, since
// notifications sent while it was away are lost.

#include <cstdint>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/pg/connection.h"

namespace loyalty::events {

class OutboxListener {
 public:
  // Starts the listening thread on `options` (its schema names the outbox to follow).
  explicit OutboxListener(pg::ConnectionOptions options);
  // Stops and joins the thread.
  ~OutboxListener();
  OutboxListener(const OutboxListener&) = delete;
  OutboxListener& operator=(const OutboxListener&) = delete;

  // A counter that grows whenever new events may have committed.
  uint64_t version() const;
  // Waits until version() differs from `seen`, at most `timeout`; returns version().
  uint64_t WaitForChange(uint64_t seen, absl::Duration timeout) const;
  // Whether LISTEN is in force now; WaitUntilListening waits for it at most `timeout`.
  bool listening() const;
  bool WaitUntilListening(absl::Duration timeout) const;

 private:
  void Run();
  void Bump() ABSL_LOCKS_EXCLUDED(mutex_);

  const pg::ConnectionOptions options_;
  mutable absl::Mutex mutex_;
  uint64_t version_ ABSL_GUARDED_BY(mutex_) = 0;
  bool listening_ ABSL_GUARDED_BY(mutex_) = false;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::thread thread_;
};

}  // namespace loyalty::events
