#include "common/events/consumer.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/events/outbox.h"
#include "common/events/queries.h"
#include "common/log/log.h"
#include "common/pg/array.h"
#include "common/rpc/proto_time.h"
#include "common/status/error.h"
#include "common/status/grpc_status.h"
#include "common/status/macros.h"
#include "google/protobuf/util/json_util.h"

namespace loyalty::events {

absl::Status ParsePayload(const v1::Event& event, google::protobuf::Message& payload) {
  if (event.event_type() != payload.GetDescriptor()->full_name()) {
    return ErrorWithReason(
        absl::StatusCode::kInvalidArgument, "EVENT_TYPE_MISMATCH",
        absl::StrCat("event ", event.event_id(), " has type ", event.event_type(), ", not ",
                     payload.GetDescriptor()->full_name()));
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  const auto parsed =
      google::protobuf::util::JsonStringToMessage(event.payload(), &payload, options);
  if (!parsed.ok()) {
    return ErrorWithReason(absl::StatusCode::kInvalidArgument, "BAD_EVENT_PAYLOAD",
                           absl::StrCat("event ", event.event_id(), " of type ", event.event_type(),
                                        ": ", parsed.ToString()));
  }
  return absl::OkStatus();
}

EventConsumer::EventConsumer(pg::Pool& pool, std::shared_ptr<grpc::Channel> channel,
                             ConsumerOptions options, ApplyFn apply)
    : EventConsumer(pool, std::move(channel), std::move(options), std::move(apply), nullptr) {
  LOYALTY_CHECK(apply_ != nullptr);
}

EventConsumer::EventConsumer(pg::Pool& pool, std::shared_ptr<grpc::Channel> channel,
                             ConsumerOptions options, ApplyBatchFn apply_batch)
    : EventConsumer(pool, std::move(channel), std::move(options), nullptr, std::move(apply_batch)) {
  LOYALTY_CHECK(apply_batch_ != nullptr);
}

EventConsumer::EventConsumer(pg::Pool& pool, std::shared_ptr<grpc::Channel> channel,
                             ConsumerOptions options, ApplyFn apply, ApplyBatchFn apply_batch)
    : pool_(pool),
      stub_(v1::EventStreamService::NewStub(std::move(channel))),
      options_(std::move(options)),
      apply_(std::move(apply)),
      apply_batch_(std::move(apply_batch)) {
  LOYALTY_CHECK(!options_.stream.empty() && !options_.consumer.empty());
  LOYALTY_CHECK(options_.backoff_initial > absl::ZeroDuration() &&
                options_.backoff_max >= options_.backoff_initial);
}

EventConsumer::~EventConsumer() { Stop(); }

void EventConsumer::Start() {
  LOYALTY_CHECK(!thread_.joinable());
  thread_ = std::thread([this] { Run(); });
}

void EventConsumer::Stop() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
    if (open_stream_ != nullptr) open_stream_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

void EventConsumer::ExportMetrics(prometheus::Registry& registry) {
  LOYALTY_CHECK(metrics_ == nullptr);
  const prometheus::Labels labels{{"stream", options_.stream}};
  metrics_ = std::make_unique<Metrics>(Metrics{
      .lag_events = prometheus::BuildGauge()
                        .Name("loyalty_event_consumer_lag_events")
                        .Help("Events the producer has committed that this consumer has not "
                              "passed yet.")
                        .Register(registry)
                        .Add(labels),
      .lag_seconds = prometheus::BuildGauge()
                         .Name("loyalty_event_consumer_lag_seconds")
                         .Help("Age of the last applied event while the consumer is behind; 0 "
                               "when caught up.")
                         .Register(registry)
                         .Add(labels),
      .applied = prometheus::BuildCounter()
                     .Name("loyalty_event_consumer_applied_total")
                     .Help("Events applied for the first time.")
                     .Register(registry)
                     .Add(labels),
      .reconnects = prometheus::BuildCounter()
                        .Name("loyalty_event_consumer_reconnects_total")
                        .Help("Streams that failed and were subscribed again after a backoff.")
                        .Register(registry)
                        .Add(labels)});
}

absl::StatusOr<int64_t> LoadCursor(pg::Pool& pool, const std::string& stream) {
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool.Acquire());
  LOYALTY_ASSIGN_OR_RETURN(pg::Result rows,
                           connection->Execute(queries::kLoadCursor, pg::Params().Add(stream)));
  return rows.rows() == 0 ? 0 : rows.Int64(0, 0);
}

absl::StatusOr<int64_t> EventConsumer::LoadCursor() {
  return events::LoadCursor(pool_, options_.stream);
}

absl::StatusOr<int> PruneApplied(pg::Pool& pool, const std::string& stream, absl::Time cutoff,
                                 int limit) {
  LOYALTY_CHECK(limit >= 1);
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool.Acquire());
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result result,
      connection->Execute(queries::kPruneApplied,
                          pg::Params().Add(stream).Add(cutoff).Add(static_cast<int64_t>(limit))));
  return static_cast<int>(result.affected_rows());
}

absl::StatusOr<int> EventConsumer::PruneApplied(absl::Time cutoff, int limit) {
  return events::PruneApplied(pool_, options_.stream, cutoff, limit);
}

absl::StatusOr<int> ApplyMessage(pg::Pool& pool, const std::string& stream,
                                 const v1::SubscribeResponse& response, const ApplyFn& apply,
                                 const ApplyBatchFn& apply_batch) {
  const absl::Time now = absl::Now();
  int applied = 0;
  LOYALTY_RETURN_IF_ERROR(pool.InTransaction([&](pg::Connection& connection) -> absl::Status {
    applied = 0;
    absl::flat_hash_set<std::string> fresh;
    if (response.events_size() > 0) {
      pg::ArrayLiteral ids, sequences;
      for (const v1::Event& event : response.events()) {
        ids.Add(event.event_id());
        sequences.Add(event.sequence());
      }
      LOYALTY_ASSIGN_OR_RETURN(
          pg::Result inserted,
          connection.Execute(
              queries::kMarkApplied,
              pg::Params().Add(stream).Add(ids.Build()).Add(sequences.Build()).Add(now)));
      for (int row = 0; row < inserted.rows(); ++row) fresh.insert(inserted.String(row, 0));
    }
    std::vector<const v1::Event*> fresh_events;
    fresh_events.reserve(fresh.size());
    for (const v1::Event& event : response.events()) {
      // erase: an id repeated within one message is applied once too.
      if (fresh.erase(event.event_id()) == 0) continue;
      fresh_events.push_back(&event);
    }
    if (apply_batch != nullptr) {
      if (!fresh_events.empty()) {
        LOYALTY_RETURN_IF_ERROR(apply_batch(connection, fresh_events));
      }
    } else {
      for (const v1::Event* event : fresh_events) {
        LOYALTY_RETURN_IF_ERROR(apply(connection, *event));
      }
    }
    applied = static_cast<int>(fresh_events.size());
    return connection
        .Execute(queries::kAdvanceCursor,
                 pg::Params().Add(stream).Add(response.scanned_sequence()).Add(now))
        .status();
  }));
  return applied;
}

absl::StatusOr<int> EventConsumer::Apply(const v1::SubscribeResponse& response) {
  return ApplyMessage(pool_, options_.stream, response, apply_, apply_batch_);
}

absl::StatusOr<int> FollowOutbox(pg::Pool& pool, const std::string& stream,
                                 const std::string& consumer, const ApplyBatchFn& apply_batch,
                                 int page_size, int pages_max) {
  LOYALTY_CHECK(page_size >= 1 && page_size <= kPageSizeMax && pages_max >= 1);
  LOYALTY_ASSIGN_OR_RETURN(int64_t cursor, LoadCursor(pool, stream));
  int applied = 0;
  for (int page_number = 0; page_number < pages_max; ++page_number) {
    Page page;
    {
      LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool.Acquire());
      // Registered at the cursor BEFORE reading past it, so pruning keeps what is still needed.
      LOYALTY_RETURN_IF_ERROR(RegisterConsumer(*connection, consumer, cursor, absl::Now()));
      LOYALTY_ASSIGN_OR_RETURN(
          page, ReadPage(*connection, PageRequest{.after_sequence = cursor, .limit = page_size}));
    }
    if (page.scanned_sequence <= cursor) break;
    v1::SubscribeResponse message;
    for (v1::Event& event : page.events) *message.add_events() = std::move(event);
    message.set_scanned_sequence(page.scanned_sequence);
    message.set_head_sequence(page.head_sequence);
    LOYALTY_ASSIGN_OR_RETURN(int fresh, ApplyMessage(pool, stream, message, nullptr, apply_batch));
    applied += fresh;
    cursor = page.scanned_sequence;
    if (!page.more) break;
  }
  return applied;
}

void EventConsumer::Observe(const v1::SubscribeResponse& response, int applied) {
  const int64_t lag = std::max<int64_t>(0, response.head_sequence() - response.scanned_sequence());
  lag_events_.store(lag);
  if (metrics_ == nullptr) return;
  metrics_->lag_events.Set(static_cast<double>(lag));
  // A message's head is what the producer had committed when it read the message's page, so a
  // message can say "nothing behind" and then wait, with the messages before it, in the stream's
  // flow-control buffers while the consumer works through them (seconds under load, with
  // thousands of events in flight). Its events' age tells: the lag in seconds is the age of the
  // newest event of the message just applied, and 0 only after a message without events at the
  // head (the producer had nothing more to send).
  if (response.events_size() > 0) {
    absl::StatusOr<absl::Time> occurred =
        ParseTimestamp(response.events().rbegin()->occur_time(), "occur_time");
    if (occurred.ok()) {
      metrics_->lag_seconds.Set(std::max(0.0, absl::ToDoubleSeconds(absl::Now() - *occurred)));
    }
  } else if (lag == 0) {
    metrics_->lag_seconds.Set(0);
  }
  metrics_->applied.Increment(applied);
}

namespace {

// Stream messages read ahead of the transaction that applies them, at most: a consumer that
// falls behind applies everything that has arrived (up to this many messages of up to 100
// events) in one transaction, instead of paying a transaction and its WAL flush per message.
constexpr size_t kReadAheadMessagesMax = 10;

// What the stream's reader thread hands to the applying thread.
struct Inbox {
  absl::Mutex mutex;
  std::deque<v1::SubscribeResponse> messages ABSL_GUARDED_BY(mutex);
  bool ended ABSL_GUARDED_BY(mutex) = false;     // The stream has no more messages.
  bool stopping ABSL_GUARDED_BY(mutex) = false;  // The applier gave up: stop reading.
};

// The messages in `taken`, in order, as one: every event, and the last one's positions.
v1::SubscribeResponse Merge(std::vector<v1::SubscribeResponse>& taken) {
  if (taken.size() == 1) return std::move(taken.front());
  v1::SubscribeResponse merged;
  for (v1::SubscribeResponse& message : taken) {
    for (v1::Event& event : *message.mutable_events()) *merged.add_events() = std::move(event);
  }
  merged.set_scanned_sequence(taken.back().scanned_sequence());
  merged.set_head_sequence(taken.back().head_sequence());
  return merged;
}

}  // namespace

absl::Status EventConsumer::RunStream() {
  LOYALTY_ASSIGN_OR_RETURN(int64_t cursor, LoadCursor());
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + options_.stream_deadline));
  {
    absl::MutexLock lock(&mutex_);
    if (stopping_) return absl::CancelledError("consumer stopping");
    open_stream_ = &context;
  }
  v1::SubscribeRequest request;
  request.set_consumer(options_.consumer);
  request.set_after_sequence(cursor);
  for (const std::string& type : options_.types) request.add_types(type);
  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> reader =
      stub_->Subscribe(&context, request);
  // One thread reads, this one applies, so messages that arrive while a transaction runs wait
  // in the inbox and go into the next one together.
  Inbox inbox;
  std::thread reading([&] {
    v1::SubscribeResponse message;
    while (reader->Read(&message)) {
      absl::MutexLock lock(&inbox.mutex);
      auto room = [&inbox]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(inbox.mutex) {
        return inbox.messages.size() < kReadAheadMessagesMax || inbox.stopping;
      };
      inbox.mutex.Await(absl::Condition(&room));
      if (inbox.stopping) break;
      inbox.messages.push_back(std::move(message));
    }
    absl::MutexLock lock(&inbox.mutex);
    inbox.ended = true;
  });
  absl::Status status;
  while (true) {
    std::vector<v1::SubscribeResponse> taken;
    {
      absl::MutexLock lock(&inbox.mutex);
      auto ready = [&inbox]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(inbox.mutex) {
        return !inbox.messages.empty() || inbox.ended;
      };
      inbox.mutex.Await(absl::Condition(&ready));
      if (inbox.messages.empty()) break;  // Ended, and everything it read is applied.
      while (!inbox.messages.empty()) {
        taken.push_back(std::move(inbox.messages.front()));
        inbox.messages.pop_front();
      }
    }
    const v1::SubscribeResponse response = Merge(taken);
    // A heartbeat that moves nothing needs no transaction.
    if (response.events_size() == 0 && response.scanned_sequence() <= cursor) {
      Observe(response, 0);
      continue;
    }
    absl::StatusOr<int> applied = Apply(response);
    if (!applied.ok()) {
      status = applied.status();
      break;
    }
    cursor = std::max(cursor, response.scanned_sequence());
    if (response.events_size() > 0) progressed_.store(true);
    Observe(response, *applied);
  }
  if (!status.ok()) {
    context.TryCancel();
    absl::MutexLock lock(&inbox.mutex);
    inbox.stopping = true;
  }
  reading.join();
  const grpc::Status finished = reader->Finish();
  {
    absl::MutexLock lock(&mutex_);
    open_stream_ = nullptr;
  }
  if (!status.ok()) return status;
  return FromGrpcStatus(finished);
}

void EventConsumer::Run() {
  absl::BitGen random;
  absl::Duration backoff = options_.backoff_initial;
  auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return stopping_; };
  while (true) {
    const absl::Status status = RunStream();
    absl::MutexLock lock(&mutex_);
    if (stopping_) return;
    if (status.ok()) {
      backoff = options_.backoff_initial;  // The producer ended the stream at its lifetime.
      continue;
    }
    log::Warning("event stream failed",
                 {{"stream", options_.stream}, {"error", StatusSummary(status)}});
    if (metrics_ != nullptr) metrics_->reconnects.Increment();
    if (progressed_.exchange(false)) backoff = options_.backoff_initial;
    // Jittered in [backoff/2, backoff], so replicas that failed together do not retry together.
    const absl::Duration pause =
        backoff / 2 + absl::Milliseconds(absl::Uniform<int64_t>(
                          random, 0, std::max<int64_t>(1, absl::ToInt64Milliseconds(backoff / 2))));
    mutex_.AwaitWithTimeout(absl::Condition(&stopping), pause);
    if (stopping_) return;
    backoff = std::min(backoff * 2, options_.backoff_max);
  }
}

}  // namespace loyalty::events
