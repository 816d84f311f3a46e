#pragma once

// The one LISTEN connection of a process: wakes every Subscribe stream when its schema's outbox
// commits, so streams follow new events without polling. It keeps its own connection, outside the
// pool (a LISTEN must stay on one session), and reconnects with capped backoff; each
// (re)connection counts as a change, since notifications sent while it was away are lost.
//
// Commits reach it two ways. A commit in this process calls OutboxCommitted (AppendEvents
// registers it to run after COMMIT), which wakes the listener's numberer: on a connection of its
// own it numbers every committed event without a sequence (NumberCommittedEvents; outbox.h says
// why events are numbered after commit), then wakes the process's streams and sends
// `NOTIFY loyalty_outbox, '<schema>'` for other processes (another replica's streams), at most one
// NOTIFY per `notify_gap`: one round and one NOTIFY cover every commit since the last. Every
// `sweep_interval` it also runs a round unasked, for events whose process died between its COMMIT
// and the round. The service's transactions never NOTIFY themselves: PostgreSQL serializes every
// notifying commit of a database under one lock (async.c), which made each event-writing commit
// wait for the others' WAL flush. A NOTIFY lost to a crash only delays other processes' streams
// until their fallback poll, whose page read numbers what is left.

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/pg/connection.h"

namespace loyalty::events {

// Shortest time between two rounds (and NOTIFYs) of one listener's numberer. Each round is a
// numbering transaction, a NOTIFY and a page read by every stream it wakes; under load 20 ms
// bounds that to 50 rounds a second (2 ms allowed one per batch), and events reach consumers at
// most this much later (docs/benchmarks.md has what it measured).
inline constexpr absl::Duration kNotifyGapDefault = absl::Milliseconds(20);
// How often the numberer runs a round without being asked.
inline constexpr absl::Duration kSweepIntervalDefault = absl::Seconds(1);

// Tells this process's listeners of `schema` that a transaction that appended events to its outbox
// committed: they number the events, wake their streams and notify other processes, as above.
void OutboxCommitted(const std::string& schema);

class OutboxListener {
 public:
  // Starts the listening and numbering threads on `options` (its schema names the outbox to
  // follow) and registers for OutboxCommitted of that schema.
  explicit OutboxListener(pg::ConnectionOptions options,
                          absl::Duration notify_gap = kNotifyGapDefault,
                          absl::Duration sweep_interval = kSweepIntervalDefault);
  // Unregisters, stops and joins the threads.
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

  // NOTIFYs sent so far (one may cover many commits), and events numbered by this listener.
  uint64_t notifies_sent() const;
  uint64_t events_numbered() const;

 private:
  friend void OutboxCommitted(const std::string& schema);
  void Committed() ABSL_LOCKS_EXCLUDED(mutex_);
  void Run();
  void RunNotifier();
  void Bump() ABSL_LOCKS_EXCLUDED(mutex_);

  const pg::ConnectionOptions options_;
  const absl::Duration notify_gap_;
  const absl::Duration sweep_interval_;
  mutable absl::Mutex mutex_;
  uint64_t version_ ABSL_GUARDED_BY(mutex_) = 0;
  bool listening_ ABSL_GUARDED_BY(mutex_) = false;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  // A commit of this process is waiting for the numberer's next round.
  bool notify_pending_ ABSL_GUARDED_BY(mutex_) = false;
  uint64_t notifies_sent_ ABSL_GUARDED_BY(mutex_) = 0;
  uint64_t events_numbered_ ABSL_GUARDED_BY(mutex_) = 0;
  // The numberer's server process: the listener ignores its own process's NOTIFYs, whose
  // rounds already woke it.
  std::atomic<int> notifier_pid_{0};
  std::thread thread_;
  std::thread notifier_;
};

}  // namespace loyalty::events
