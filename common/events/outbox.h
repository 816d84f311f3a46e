#pragma once

// The transactional outbox (DESIGN.md section 3, docs/events.md): a service writes its events
// into its own `outbox_events` table in the SAME transaction as the change they describe, so an
// event exists exactly when its change committed. EventStreamServer streams the table.
//
// Ordering. A reader streams `sequence > cursor`, so a row must never become visible after a row
// with a larger sequence. Numbers drawn when a row is inserted would not do: two appenders could
// commit out of order, letting a reader pass the smaller sequence before it exists, and filtering
// on `xid < pg_snapshot_xmin(...)` does not fix that (a transaction with an older xid may draw
// the larger sequence, commit first and be streamed while the younger xid holding the smaller
// sequence is still running). So rows are inserted without a sequence and numbered only once
// committed: NumberCommittedEvents (sql/0004_number_after_commit.sql) numbers every committed row
// without one, in insertion order, under a transaction-scoped advisory lock of the schema's outbox
// held to the end of its own short commit. Rounds thus commit one after the other with increasing
// numbers, and `sequence > cursor` never skips. The lock is never held by the service's own
// transactions, so their commits share WAL flushes; a round's one flush covers every event it
// numbered. The process's OutboxListener runs a round after each event-writing commit, then wakes
// the streams (listener.h); ReadPage runs one when it finds nothing new, so a reader never depends
// on a listener. events_pgtest.cc proves the order.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/pg/connection.h"
#include "common/pg/pool.h"
#include "google/protobuf/message.h"
#include "loyalty/events/v1/events.pb.h"

namespace loyalty::events {

// The NOTIFY channel of every outbox; the payload is the schema that committed events.
inline constexpr char kNotifyChannel[] = "loyalty_outbox";

// Bounds of what a producer serves and appends.
inline constexpr int kPageSizeMax = 1000;
inline constexpr int kAppendBatchMax = 10'000;

// One event to append; sequence is assigned by the table.
struct OutboxEvent {
  std::string event_id;
  std::string program_id;
  std::string aggregate_type;
  std::string aggregate_id;
  // Full proto name of the payload message.
  std::string event_type;
  // Canonical proto3 JSON of the payload.
  std::string payload_json;
  absl::Time occur_time;
  std::optional<std::string> traceparent;
};

// An event for `payload`: a fresh random id, the payload's full name as its type and its JSON as
// payload, and the calling thread's trace context (log::CurrentTraceContext), if any, as its
// traceparent. CHECKs that the payload converts to JSON (it always does for a generated message).
OutboxEvent MakeEvent(const std::string& program_id, const std::string& aggregate_type,
                      const std::string& aggregate_id, const google::protobuf::Message& payload,
                      absl::Time occur_time);

// Appends `events` (1..kAppendBatchMax, in order) inside the caller's transaction, a pool
// transaction (Pool::InTransaction) or autocommit: one INSERT of every row through unnest arrays,
// numbered after COMMIT, when the process's listener is told (OutboxCommitted). Returns the mapped
// SQL error, after which the transaction is aborted.
absl::Status AppendEvents(pg::Connection& connection, std::span<const OutboxEvent> events);
inline absl::Status AppendEvent(pg::Connection& connection, const OutboxEvent& event) {
  return AppendEvents(connection, std::span<const OutboxEvent>(&event, 1));
}
// The same INSERT, to send in one pipeline with others (group commit) within `transaction`,
// whose COMMIT then wakes the streams.
std::vector<pg::Statement> AppendStatements(pg::PipelinedTransaction& transaction,
                                            std::span<const OutboxEvent> events);

struct PageRequest {
  int64_t after_sequence = 0;
  // Event types wanted; empty for all.
  std::vector<std::string> types;
  // Events returned at most (1..kPageSizeMax).
  int limit = 500;
  // Sequences looked at past after_sequence at most, so a rare type never scans the whole table.
  int64_t scan_max = 100'000;
};

struct Page {
  std::vector<v1::Event> events;
  // Every event up to here was looked at: the next page starts after it.
  int64_t scanned_sequence = 0;
  // Highest committed sequence when the page was read.
  int64_t head_sequence = 0;
  // True when the page stopped at its limit or scan bound before the head: read on at once.
  bool more = false;
};

// Numbers the committed events that have no sequence yet, in rounds of at most kNumberRoundMax,
// and returns how many it numbered. With `wait` false it returns 0 at once when another session is
// numbering (that session's round covers them). `connection` must not be in a transaction block.
inline constexpr int kNumberRoundMax = 10'000;
absl::StatusOr<int64_t> NumberCommittedEvents(pg::Connection& connection, bool wait);

// Reads committed events after request.after_sequence in sequence order, in one statement. When
// nothing new is numbered and `connection` is not in a transaction block, it numbers what
// committed without a sequence (NumberCommittedEvents without waiting) and, if there was some,
// reads again.
absl::StatusOr<Page> ReadPage(pg::Connection& connection, const PageRequest& request);

// Remembers that `consumer` subscribed from `after_sequence` (pruning keeps what it may need).
absl::Status RegisterConsumer(pg::Connection& connection, const std::string& consumer,
                              int64_t after_sequence, absl::Time now);

// A consumer pruning stopped waiting for.
struct ForgottenConsumer {
  std::string consumer;
  int64_t after_sequence = 0;
  absl::Time subscribe_time;
};

// Forgets the consumers that have not subscribed since `before` (decommissioned, renamed, or down
// for longer than anyone waits), so they no longer hold pruning back; returns them. One that comes
// back registers again and reads on from its cursor, if the events are still there.
absl::StatusOr<std::vector<ForgottenConsumer>> ForgetConsumers(pg::Pool& pool, absl::Time before);

// Deletes up to `limit` events that occurred before `cutoff` and that every known consumer has
// passed (sequence <= the smallest registered cursor; with no consumer known, retention alone
// decides). Returns how many went.
absl::StatusOr<int64_t> PruneEvents(pg::Pool& pool, absl::Time cutoff, int limit);

}  // namespace loyalty::events
