#pragma once

// The consumer side of an event stream: subscribes to another service's EventStreamService and
// applies each event to this service's database, exactly once in effect.
//
// Each stream message (up to 100 events) is applied in ONE transaction of the consumer's own
// database that records the ids of the events applied (`applied_events`), runs the caller's
// apply function for each event not applied before, and advances the cursor (`event_cursors`):
// the effects, the ids and the cursor commit together or not at all. A redelivered event (a
// retry after a crash, a replayed stream, a second replica consuming the same stream) finds its
// id and has no second effect. The tables come from the consumer's own migration
// (docs/events.md).
//
// The runner reconnects after any failure with capped exponential backoff (jittered), and from
// its stored cursor after the producer ends a stream at its lifetime. It exports its lag:
//   loyalty_event_consumer_lag_events{stream}    producer head minus the stored cursor, as the
//                                                producer saw its head when it read the page
//   loyalty_event_consumer_lag_seconds{stream}   age of the newest event of the last message
//                                                applied; 0 after an empty message at the head
//   loyalty_event_consumer_applied_total{stream} events applied (first time)
//   loyalty_event_consumer_reconnects_total{stream}

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/pg/pool.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "loyalty/events/v1/events.grpc.pb.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace loyalty::events {

struct ConsumerOptions {
  // This side's name of the subscription: the key of its cursor and applied ids, e.g. "members".
  std::string stream;
  // The name the producer knows this consumer by (its pruning waits for it), e.g. "points-svc".
  std::string consumer;
  // Event types to receive; empty for all.
  std::vector<std::string> types;
  absl::Duration backoff_initial = absl::Milliseconds(100);
  absl::Duration backoff_max = absl::Seconds(30);
  // Deadline of one Subscribe call (the producer ends streams sooner, at its lifetime).
  absl::Duration stream_deadline = absl::Minutes(10);
};

// Applies one event inside the consumer's transaction. An error rolls the whole message back;
// the stream is then retried from the cursor after a backoff.
using ApplyFn = std::function<absl::Status(pg::Connection&, const v1::Event&)>;

// Applies the events of one stream message not applied before, in stream order, inside the
// consumer's transaction (the same one as their ids and the cursor), in one call: a consumer
// whose per-event work is several round trips does it for the whole message in a few set-based
// statements. Called only with at least one event. An error rolls the whole message back, as
// with ApplyFn.
using ApplyBatchFn =
    std::function<absl::Status(pg::Connection&, std::span<const v1::Event* const> fresh_events)>;

// Parses the event's JSON payload into `payload`, whose full name must be the event's type.
// Unknown fields are ignored, so a producer may add fields before its consumers know them.
// INVALID_ARGUMENT (EVENT_TYPE_MISMATCH, BAD_EVENT_PAYLOAD) otherwise: an apply function returns
// it, which stops the stream at that event until someone looks (the lag metrics grow), rather
// than skipping an effect.
absl::Status ParsePayload(const v1::Event& event, google::protobuf::Message& payload);

// Applies one stream message of `stream` in ONE transaction of `pool`, as described at the top:
// the applied ids, `apply` for each event not applied before (or, when `apply_batch` is set,
// `apply_batch` once for all of them), and the cursor. Returns how many events were new.
// EventConsumer::Apply is this; FollowOutbox uses it for a service's own events.
absl::StatusOr<int> ApplyMessage(pg::Pool& pool, const std::string& stream,
                                 const v1::SubscribeResponse& response, const ApplyFn& apply,
                                 const ApplyBatchFn& apply_batch = nullptr);

// The stored cursor of `stream` (0 before the first event).
absl::StatusOr<int64_t> LoadCursor(pg::Pool& pool, const std::string& stream);

// Forgets up to `limit` applied ids of `stream` recorded before `cutoff` and at or below its
// cursor (EventConsumer::PruneApplied says why that is safe); returns how many went.
absl::StatusOr<int> PruneApplied(pg::Pool& pool, const std::string& stream, absl::Time cutoff,
                                 int limit);

// A service consuming its OWN outbox, without subscribing to itself over the network: reads
// pages of `page_size` events after the stored cursor of `stream` straight from the outbox table
// (ReadPage) and applies each with ApplyMessage and `apply_batch`, so the bookkeeping is the same
// as a remote consumer's. Registers `consumer` at its cursor so outbox pruning waits for it. Stops
// after `pages_max` pages or at the head; returns how many events were applied. The caller runs it,
// and PruneApplied for `stream`, from background loops.
absl::StatusOr<int> FollowOutbox(pg::Pool& pool, const std::string& stream,
                                 const std::string& consumer, const ApplyBatchFn& apply_batch,
                                 int page_size, int pages_max);

class EventConsumer {
 public:
  // `pool` must outlive the consumer.
  EventConsumer(pg::Pool& pool, std::shared_ptr<grpc::Channel> channel, ConsumerOptions options,
                ApplyFn apply);
  // The same with a batch apply function (ApplyBatchFn).
  EventConsumer(pg::Pool& pool, std::shared_ptr<grpc::Channel> channel, ConsumerOptions options,
                ApplyBatchFn apply_batch);
  // Stops (see Stop).
  ~EventConsumer();
  EventConsumer(const EventConsumer&) = delete;
  EventConsumer& operator=(const EventConsumer&) = delete;

  // Runs subscribe-apply-reconnect on a thread of its own until Stop.
  void Start();
  // Cancels the open stream and joins the thread. Idempotent.
  void Stop();

  // One stream: subscribes from the stored cursor and applies what arrives until the stream
  // ends (OK) or fails (its status). The runner's loop body; tests call it directly.
  absl::Status RunStream();
  // Applies one stream message as described above; returns how many events were new.
  absl::StatusOr<int> Apply(const v1::SubscribeResponse& response);
  // The stored cursor (0 before the first event).
  absl::StatusOr<int64_t> LoadCursor();

  // Forgets up to `limit` applied ids recorded before `cutoff` and at or below the cursor;
  // returns how many went. Events at or below the cursor come again only from a stream that was
  // already open when the cursor passed them (another replica's, bounded by stream_deadline) or
  // from a rewound cursor, so a cutoff of days keeps every id that can still matter. The
  // consuming service runs it from a background loop.
  absl::StatusOr<int> PruneApplied(absl::Time cutoff, int limit);

  // Registers the lag metrics (call at most once).
  void ExportMetrics(prometheus::Registry& registry);
  int64_t lag_events() const { return lag_events_.load(); }

 private:
  struct Metrics {
    prometheus::Gauge& lag_events;
    prometheus::Gauge& lag_seconds;
    prometheus::Counter& applied;
    prometheus::Counter& reconnects;
  };
  void Run();
  void Observe(const v1::SubscribeResponse& response, int applied);
  // The two public constructors' common part; exactly one of the functions is set.
  EventConsumer(pg::Pool& pool, std::shared_ptr<grpc::Channel> channel, ConsumerOptions options,
                ApplyFn apply, ApplyBatchFn apply_batch);

  pg::Pool& pool_;
  const std::unique_ptr<v1::EventStreamService::Stub> stub_;
  const ConsumerOptions options_;
  // Exactly one of the two is set.
  const ApplyFn apply_;
  const ApplyBatchFn apply_batch_;
  std::atomic<int64_t> lag_events_{0};
  // Set when a message with events was applied since the runner last looked: a failure after
  // progress starts its backoff afresh.
  std::atomic<bool> progressed_{false};
  std::unique_ptr<Metrics> metrics_;

  absl::Mutex mutex_;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  grpc::ClientContext* open_stream_ ABSL_GUARDED_BY(mutex_) = nullptr;
  std::thread thread_;
};

}  // namespace loyalty::events
