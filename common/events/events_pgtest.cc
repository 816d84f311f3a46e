// The outbox, EventStreamService and EventConsumer against the real PostgreSQL that scripts/test
// starts (a fresh schema per test, with the canonical DDL of sql/) and a real gRPC server on a
// free port.

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/check.h"
#include "common/events/consumer.h"
#include "common/events/event_stream_service.h"
#include "common/events/listener.h"
#include "common/events/outbox.h"
#include "common/pg/migrate.h"
#include "common/server/server.h"
#include "common/status/error.h"
#include "common/status/grpc_status.h"
#include "common/status/macros.h"
#include "common/testkit/service_harness.h"
#include "common/testkit/status_matchers.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"

namespace loyalty::events {

std::span<const pg::Migration> TestMigrations();

namespace {

using ::loyalty::testkit::IsOk;
using ::loyalty::testkit::StatusIs;

constexpr absl::Duration kWaitMax = absl::Seconds(30);

OutboxEvent TestEvent(const std::string& aggregate_id, absl::Time occur_time,
                      const std::string& type = "loyalty.test.v1.Happened") {
  return OutboxEvent{.event_id = absl::StrCat("e-", aggregate_id),
                     .program_id = "shop",
                     .aggregate_type = "thing",
                     .aggregate_id = aggregate_id,
                     .event_type = type,
                     .payload_json = absl::StrCat("{\"id\":\"", aggregate_id, "\"}"),
                     .occur_time = occur_time};
}

// Reads one Subscribe stream on a thread of its own and keeps what arrives.
class Subscriber {
 public:
  Subscriber(v1::EventStreamService::Stub& stub, v1::SubscribeRequest request) {
    context_.set_deadline(absl::ToChronoTime(absl::Now() + absl::Minutes(2)));
    thread_ = std::thread([this, &stub, request] {
      auto reader = stub.Subscribe(&context_, request);
      v1::SubscribeResponse response;
      while (reader->Read(&response)) {
        absl::MutexLock lock(&mutex_);
        for (const v1::Event& event : response.events()) events_.push_back(event);
        scanned_ = response.scanned_sequence();
      }
      grpc::Status status = reader->Finish();
      absl::MutexLock lock(&mutex_);
      status_ = FromGrpcStatus(status);
      done_ = true;
    });
  }
  ~Subscriber() {
    context_.TryCancel();
    thread_.join();
  }

  // Waits until at least `count` events arrived (or the stream ended); returns what arrived.
  std::vector<v1::Event> AwaitEvents(size_t count) {
    absl::MutexLock lock(&mutex_);
    auto enough = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
      return events_.size() >= count || done_;
    };
    mutex_.AwaitWithTimeout(absl::Condition(&enough), kWaitMax);
    return events_;
  }
  // Waits until the stream reports having scanned up to `sequence`.
  bool AwaitScanned(int64_t sequence) {
    absl::MutexLock lock(&mutex_);
    auto reached = [this, sequence]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
      return scanned_ >= sequence || done_;
    };
    return mutex_.AwaitWithTimeout(absl::Condition(&reached), kWaitMax) && scanned_ >= sequence;
  }
  absl::Status AwaitEnd() {
    absl::MutexLock lock(&mutex_);
    auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return done_; };
    if (!mutex_.AwaitWithTimeout(absl::Condition(&ended), kWaitMax)) {
      return absl::DeadlineExceededError("stream still open");
    }
    return status_;
  }

 private:
  grpc::ClientContext context_;
  absl::Mutex mutex_;
  std::vector<v1::Event> events_ ABSL_GUARDED_BY(mutex_);
  int64_t scanned_ ABSL_GUARDED_BY(mutex_) = 0;
  bool done_ ABSL_GUARDED_BY(mutex_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mutex_);
  std::thread thread_;
};

class EventsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    schema_ = testkit::MustSchema("events");
    pool_ = schema_->MakePool(8);
    testkit::MustMigrate(*pool_, TestMigrations());
    // Named after the schema, so a test can find the listener's session among other tests'.
    pg::ConnectionOptions listen = schema_->connection_options();
    listen.application_name = schema_->schema();
    listener_ = std::make_unique<OutboxListener>(listen);
    ASSERT_TRUE(listener_->WaitUntilListening(kWaitMax));
  }

  // Serves the outbox; a poll interval of minutes means only NOTIFY can wake a stream in time.
  void Serve(EventStreamOptions options = {.page_size = 100,
                                           .max_subscribers = 4,
                                           .stream_lifetime = absl::Minutes(5),
                                           .poll_interval = absl::Minutes(10),
                                           .scan_max = 100'000}) {
    service_ = std::make_unique<EventStreamServer>(*pool_, *listener_, clock_, options);
    server_ = testkit::MustServe("events-test", service_.get());
    channel_ = testkit::InsecureChannel(testkit::AddressOf(*server_));
    stub_ = v1::EventStreamService::NewStub(channel_);
  }

  // Appends in a transaction of its own and numbers the events at once, as the listener does a
  // moment after the commit, so a test knows their sequences.
  absl::Status Append(std::vector<OutboxEvent> events) {
    LOYALTY_RETURN_IF_ERROR(pool_->InTransaction(
        [&](pg::Connection& connection) { return AppendEvents(connection, events); }));
    return NumberNow();
  }

  absl::Status NumberNow() {
    LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_->Acquire());
    return NumberCommittedEvents(*connection, /*wait=*/true).status();
  }

  // What another replica's notifier sends after its commit.
  void NotifyAsAnotherProcess() {
    absl::StatusOr<std::unique_ptr<pg::Connection>> other =
        pg::Connection::Open(schema_->connection_options());
    LOYALTY_CHECK(other.ok());
    LOYALTY_CHECK(
        (*other)
            ->ExecuteScript("notify", "SELECT pg_notify('loyalty_outbox', current_schema())")
            .ok());
  }

  int64_t Count(std::string_view sql) {
    auto connection = pool_->Acquire();
    LOYALTY_CHECK(connection.ok());
    auto result = (*connection)->ExecuteScript("count", sql);
    LOYALTY_CHECK(result.ok());
    return result->Int64(0, 0);
  }

  static v1::SubscribeRequest Request(const std::string& consumer, int64_t after,
                                      std::vector<std::string> types = {}) {
    v1::SubscribeRequest request;
    request.set_consumer(consumer);
    request.set_after_sequence(after);
    for (const std::string& type : types) request.add_types(type);
    return request;
  }

  const absl::Time now_ = absl::Now();
  RealClock clock_;
  std::unique_ptr<testkit::TestSchema> schema_;
  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<OutboxListener> listener_;
  std::unique_ptr<EventStreamServer> service_;
  std::unique_ptr<server::GrpcServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::EventStreamService::Stub> stub_;
};

TEST_F(EventsTest, AppendKeepsInputOrderAndEnvelope) {
  OutboxEvent first = TestEvent("a", now_);
  first.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  ASSERT_THAT(Append({first, TestEvent("b", now_), TestEvent("c", now_)}), IsOk());
  auto connection = pool_->Acquire();
  ASSERT_THAT(connection, IsOk());
  absl::StatusOr<Page> page = ReadPage(**connection, {.after_sequence = 0, .limit = 10});
  ASSERT_THAT(page, IsOk());
  ASSERT_EQ(page->events.size(), 3u);
  EXPECT_EQ(page->events[0].aggregate_id(), "a");
  EXPECT_EQ(page->events[1].aggregate_id(), "b");
  EXPECT_EQ(page->events[2].aggregate_id(), "c");
  EXPECT_LT(page->events[0].sequence(), page->events[1].sequence());
  EXPECT_LT(page->events[1].sequence(), page->events[2].sequence());
  EXPECT_EQ(page->events[0].event_id(), "e-a");
  EXPECT_EQ(page->events[0].program(), "shop");
  EXPECT_EQ(page->events[0].aggregate_type(), "thing");
  EXPECT_EQ(page->events[0].event_type(), "loyalty.test.v1.Happened");
  EXPECT_EQ(page->events[0].payload(), "{\"id\":\"a\"}");
  EXPECT_EQ(page->events[0].traceparent(), *first.traceparent);
  EXPECT_EQ(page->events[1].traceparent(), "");
  EXPECT_EQ(page->head_sequence, page->events[2].sequence());
  EXPECT_EQ(page->scanned_sequence, page->head_sequence);
  EXPECT_FALSE(page->more);
}

// Events are numbered once committed: what committed before a numbering round comes before
// what commits after it, and a transaction's own events keep their insertion order.
TEST_F(EventsTest, EventsAreNumberedAfterTheirCommitInInsertionOrder) {
  // Sequence by aggregate id, in stream order.
  const auto stream = [&] {
    auto connection = pool_->Acquire();
    LOYALTY_CHECK(connection.ok());
    auto page = ReadPage(**connection, {.after_sequence = 0, .limit = 100});
    LOYALTY_CHECK(page.ok());
    std::vector<std::pair<std::string, int64_t>> seen;
    for (const v1::Event& event : page->events) {
      seen.emplace_back(event.aggregate_id(), event.sequence());
    }
    return seen;
  };
  // Three appends in one transaction, while another transaction appends, commits and is
  // numbered between the first transaction's appends.
  absl::Notification first_appended, other_committed;
  std::thread other([&] {
    first_appended.WaitForNotification();
    EXPECT_THAT(Append({TestEvent("b1", now_), TestEvent("b2", now_)}), IsOk());
    other_committed.Notify();
  });
  ASSERT_THAT(pool_->InTransaction([&](pg::Connection& connection) -> absl::Status {
    LOYALTY_RETURN_IF_ERROR(AppendEvents(
        connection, std::vector<OutboxEvent>{TestEvent("a1", now_), TestEvent("a2", now_)}));
    if (!other_committed.HasBeenNotified()) {
      first_appended.Notify();
      other_committed.WaitForNotification();
    }
    LOYALTY_RETURN_IF_ERROR(AppendEvent(connection, TestEvent("a3", now_)));
    return AppendEvents(connection,
                        std::vector<OutboxEvent>{TestEvent("a4", now_), TestEvent("a5", now_)});
  }),
              IsOk());
  other.join();
  ASSERT_THAT(Append({TestEvent("c1", now_)}), IsOk());
  using Seen = std::vector<std::pair<std::string, int64_t>>;
  EXPECT_EQ(
      stream(),
      (Seen{
          {"b1", 1}, {"b2", 2}, {"a1", 3}, {"a2", 4}, {"a3", 5}, {"a4", 6}, {"a5", 7}, {"c1", 8}}));
}

TEST_F(EventsTest, RolledBackAppendLeavesNoEvent) {
  absl::Status status = pool_->InTransaction([&](pg::Connection& connection) -> absl::Status {
    if (absl::Status appended = AppendEvent(connection, TestEvent("gone", now_)); !appended.ok()) {
      return appended;
    }
    return absl::AbortedError("the change failed after the append");
  });
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kAborted));
  EXPECT_EQ(Count("SELECT count(*) FROM outbox_events"), 0);
}

TEST_F(EventsTest, ACommitIsNumberedWakesThisProcessAndNotifiesOthersWithoutWakingItselfTwice) {
  // Another process's LISTEN session.
  absl::StatusOr<std::unique_ptr<pg::Connection>> other =
      pg::Connection::Open(schema_->connection_options());
  ASSERT_THAT(other.status(), IsOk());
  ASSERT_THAT((*other)->ExecuteScript("listen", "LISTEN loyalty_outbox").status(), IsOk());
  const uint64_t before = listener_->version();

  // Committed without numbering: the listener's numberer, told by the commit, numbers it.
  ASSERT_THAT(pool_->InTransaction([&](pg::Connection& connection) {
    return AppendEvent(connection, TestEvent("a", now_));
  }),
              IsOk());
  const uint64_t woken = listener_->WaitForChange(before, kWaitMax);
  EXPECT_EQ(woken, before + 1);
  EXPECT_EQ(listener_->events_numbered(), 1u);
  EXPECT_EQ(Count("SELECT count(*) FROM outbox_events WHERE sequence = 1"), 1);

  // Other tests' schemas share the channel: only this schema's NOTIFY counts.
  std::vector<pg::Notification> ours;
  const absl::Time notified_by = absl::Now() + kWaitMax;
  while (ours.empty() && absl::Now() < notified_by) {
    absl::StatusOr<std::vector<pg::Notification>> received =
        (*other)->WaitForNotifications(notified_by - absl::Now());
    ASSERT_THAT(received.status(), IsOk());
    for (const pg::Notification& notification : *received) {
      if (notification.payload == schema_->schema()) ours.push_back(notification);
    }
  }
  ASSERT_EQ(ours.size(), 1u);
  EXPECT_EQ(ours[0].channel, kNotifyChannel);
  EXPECT_NE(ours[0].sender_pid, (*other)->backend_pid());
  // The notifier counts its NOTIFY once the statement returned, which may be after the other
  // session already has it.
  const absl::Time give_up = absl::Now() + kWaitMax;
  while (listener_->notifies_sent() == 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(1));  // Polls a counter; orders nothing.
  }
  EXPECT_EQ(listener_->notifies_sent(), 1u);
  // The listener got the same NOTIFY; it comes from its own notifier, so it wakes nobody again.
  EXPECT_EQ(listener_->WaitForChange(woken, absl::Milliseconds(300)), woken);
}

TEST_F(EventsTest, ANotifyFromAnotherProcessWakesTheListener) {
  const uint64_t before = listener_->version();
  NotifyAsAnotherProcess();
  EXPECT_GT(listener_->WaitForChange(before, kWaitMax), before);
}

TEST_F(EventsTest, ARolledBackAppendWakesNobody) {
  const uint64_t before = listener_->version();
  absl::Status status = pool_->InTransaction([&](pg::Connection& connection) -> absl::Status {
    LOYALTY_RETURN_IF_ERROR(AppendEvent(connection, TestEvent("gone", now_)));
    return absl::AbortedError("the change failed after the append");
  });
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kAborted));
  EXPECT_EQ(listener_->WaitForChange(before, absl::Milliseconds(100)), before);
  EXPECT_EQ(listener_->notifies_sent(), 0u);
}

// A process that dies between its COMMIT and telling its listener leaves events without a
// sequence: the listener's periodic round numbers them and wakes the streams.
TEST_F(EventsTest, EventsNobodyAskedToNumberAreNumberedByTheSweep) {
  const uint64_t before = listener_->version();
  auto connection = pool_->Acquire();
  ASSERT_THAT(connection, IsOk());
  ASSERT_THAT(
      (*connection)
          ->ExecuteScript("orphan",
                          "INSERT INTO outbox_events (event_id, program_id, "
                          "aggregate_type, aggregate_id, event_type, payload, occur_time) "
                          "VALUES ('e-orphan', 'shop', 'thing', 'orphan', 't', '{}', now())")
          .status(),
      IsOk());
  EXPECT_GT(listener_->WaitForChange(before, kWaitMax), before);
  EXPECT_EQ(Count("SELECT count(*) FROM outbox_events WHERE sequence = 1"), 1);
}

// A reader needs no listener: a page read numbers what committed before reading.
TEST_F(EventsTest, APageReadNumbersCommittedEventsItself) {
  listener_.reset();  // No numberer in this process.
  ASSERT_THAT(pool_->InTransaction([&](pg::Connection& connection) {
    return AppendEvents(connection,
                        std::vector<OutboxEvent>{TestEvent("a", now_), TestEvent("b", now_)});
  }),
              IsOk());
  EXPECT_EQ(Count("SELECT count(*) FROM outbox_events WHERE sequence IS NULL"), 2);
  auto connection = pool_->Acquire();
  ASSERT_THAT(connection, IsOk());
  absl::StatusOr<Page> page = ReadPage(**connection, {.after_sequence = 0, .limit = 10});
  ASSERT_THAT(page, IsOk());
  ASSERT_EQ(page->events.size(), 2u);
  EXPECT_EQ(page->events[0].aggregate_id(), "a");
  EXPECT_EQ(page->events[0].sequence(), 1);
  EXPECT_EQ(page->events[1].sequence(), 2);
  EXPECT_EQ(page->head_sequence, 2);
  // Nothing left: another round numbers nothing and spends no number.
  absl::StatusOr<int64_t> numbered = NumberCommittedEvents(**connection, /*wait=*/true);
  ASSERT_THAT(numbered, IsOk());
  EXPECT_EQ(*numbered, 0);
  ASSERT_THAT(Append({TestEvent("c", now_)}), IsOk());
  EXPECT_EQ(Count("SELECT sequence FROM outbox_events WHERE aggregate_id = 'c'"), 3);
}

TEST_F(EventsTest, CatchesUpInPagesThenFollowsNewCommits) {
  Serve();
  std::vector<OutboxEvent> backlog;
  for (int i = 0; i < 250; ++i) backlog.push_back(TestEvent(absl::StrCat("old", i), now_));
  ASSERT_THAT(Append(backlog), IsOk());
  Subscriber subscriber(*stub_, Request("tail", 0));
  ASSERT_EQ(subscriber.AwaitEvents(250).size(), 250u);
  // New commits arrive through LISTEN/NOTIFY: the fallback poll is minutes away.
  ASSERT_THAT(Append({TestEvent("new0", now_)}), IsOk());
  ASSERT_THAT(Append({TestEvent("new1", now_), TestEvent("new2", now_)}), IsOk());
  std::vector<v1::Event> events = subscriber.AwaitEvents(253);
  ASSERT_EQ(events.size(), 253u);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].aggregate_id(),
              i < 250 ? absl::StrCat("old", i) : absl::StrCat("new", i - 250));
    if (i > 0) {
      EXPECT_EQ(events[i].sequence(), events[i - 1].sequence() + 1);
    }
  }
  EXPECT_EQ(Count("SELECT count(*) FROM outbox_consumers WHERE consumer = 'tail' AND "
                  "after_sequence = 0"),
            1);
}

TEST_F(EventsTest, StreamsFollowNewCommitsAfterTheListenerReconnects) {
  Serve();
  Subscriber subscriber(*stub_, Request("tail", 0));
  ASSERT_THAT(Append({TestEvent("before", now_)}), IsOk());
  ASSERT_EQ(subscriber.AwaitEvents(1).size(), 1u);
  // The numberer's wake-up for that commit may still come: let it pass first.
  uint64_t version = listener_->version();
  for (uint64_t later = listener_->WaitForChange(version, absl::Milliseconds(300));
       later != version; later = listener_->WaitForChange(version, absl::Milliseconds(300))) {
    version = later;
  }
  static constexpr pg::Query kKill{
      "test_kill_listener",
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1"};
  {
    auto connection = pool_->Acquire();
    ASSERT_THAT(connection, IsOk());
    auto killed = (*connection)->Execute(kKill, pg::Params().Add(schema_->schema()));
    ASSERT_THAT(killed, IsOk());
    ASSERT_EQ(killed->Int64(0, 0), 1);
  }
  // The listener counts its return as a change, and listens again before it does.
  ASSERT_NE(listener_->WaitForChange(version, kWaitMax), version);
  ASSERT_TRUE(listener_->listening());
  ASSERT_THAT(Append({TestEvent("after", now_)}), IsOk());
  const std::vector<v1::Event> events = subscriber.AwaitEvents(2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].aggregate_id(), "after");
  // Other processes' commits reach it again.
  const uint64_t listening = listener_->version();
  NotifyAsAnotherProcess();
  EXPECT_NE(listener_->WaitForChange(listening, kWaitMax), listening);
}

TEST_F(EventsTest, TypeFilterSkipsOtherTypesAndStillAdvancesTheScan) {
  Serve();
  ASSERT_THAT(Append({TestEvent("a", now_, "t.A"), TestEvent("b", now_, "t.B"),
                      TestEvent("c", now_, "t.A"), TestEvent("d", now_, "t.A")}),
              IsOk());
  Subscriber subscriber(*stub_, Request("only-b", 0, {"t.B"}));
  std::vector<v1::Event> events = subscriber.AwaitEvents(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].aggregate_id(), "b");
  EXPECT_TRUE(subscriber.AwaitScanned(4));
}

TEST_F(EventsTest, RejectsBadRequestsAndSubscribersBeyondTheLimit) {
  Serve({.page_size = 10,
         .max_subscribers = 1,
         .stream_lifetime = absl::Minutes(5),
         .poll_interval = absl::Minutes(10),
         .scan_max = 1000});
  {
    Subscriber bad(*stub_, Request("Bad Name", 0));
    EXPECT_THAT(bad.AwaitEnd(), StatusIs(absl::StatusCode::kInvalidArgument, "INVALID_CONSUMER"));
  }
  {
    Subscriber negative(*stub_, Request("c", -1));
    EXPECT_THAT(negative.AwaitEnd(),
                StatusIs(absl::StatusCode::kInvalidArgument, "INVALID_SEQUENCE"));
  }
  ASSERT_THAT(Append({TestEvent("a", now_)}), IsOk());
  Subscriber first(*stub_, Request("first", 0));
  ASSERT_EQ(first.AwaitEvents(1).size(), 1u);
  ASSERT_EQ(service_->subscribers(), 1);
  Subscriber second(*stub_, Request("second", 0));
  EXPECT_THAT(second.AwaitEnd(),
              StatusIs(absl::StatusCode::kResourceExhausted, "TOO_MANY_SUBSCRIBERS"));
}

TEST_F(EventsTest, StreamEndsWithOkAtItsLifetime) {
  Serve({.page_size = 10,
         .max_subscribers = 4,
         .stream_lifetime = absl::Milliseconds(300),
         .poll_interval = absl::Minutes(10),
         .scan_max = 1000});
  Subscriber subscriber(*stub_, Request("short", 0));
  EXPECT_THAT(subscriber.AwaitEnd(), IsOk());
}

// The ordering trap: sequences are drawn before commit. Appenders here take their xid first
// (a write to another table), draw sequences, and then linger before committing, in random
// orders, while one in ten rolls back. A live subscriber must still see every committed event
// exactly once, in increasing sequence, and no rolled-back one. Without the outbox lock a
// younger sequence commits first, the subscriber's cursor passes the older one, and this fails.
TEST_F(EventsTest, ConcurrentAppendersNeverMakeALiveSubscriberSkipOrRepeat) {
  Serve();
  {
    auto connection = pool_->Acquire();
    ASSERT_THAT(connection, IsOk());
    ASSERT_THAT((*connection)->ExecuteScript("scratch", "CREATE TABLE scratch (n bigint)"), IsOk());
  }
  Subscriber subscriber(*stub_, Request("live", 0));
  constexpr int kThreads = 6;
  constexpr int kTransactionsPerThread = 25;
  static constexpr pg::Query kScratch{"test_scratch", "INSERT INTO scratch VALUES ($1)"};
  absl::Mutex mutex;
  std::set<std::string> committed;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      absl::BitGen random;
      for (int i = 0; i < kTransactionsPerThread; ++i) {
        std::vector<OutboxEvent> events;
        const int count = absl::Uniform(random, 1, 4);
        for (int e = 0; e < count; ++e) {
          events.push_back(TestEvent(absl::StrCat(t, "-", i, "-", e), now_));
        }
        const bool roll_back = absl::Uniform(random, 0, 10) == 0;
        // The pauses widen the windows in which commits could overtake each other; they order
        // nothing the test relies on.
        absl::Status status = pool_->InTransaction([&](pg::Connection& connection) -> absl::Status {
          LOYALTY_RETURN_IF_ERROR(
              connection.Execute(kScratch, pg::Params().Add(int64_t{t})).status());
          absl::SleepFor(absl::Microseconds(absl::Uniform(random, 0, 2000)));
          LOYALTY_RETURN_IF_ERROR(AppendEvents(connection, events));
          absl::SleepFor(absl::Microseconds(absl::Uniform(random, 0, 3000)));
          if (roll_back) return absl::AbortedError("rolled back on purpose");
          return absl::OkStatus();
        });
        if (status.ok()) {
          absl::MutexLock lock(&mutex);
          for (const OutboxEvent& event : events) committed.insert(event.event_id);
        } else {
          LOYALTY_CHECK(roll_back);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const std::vector<v1::Event> events = subscriber.AwaitEvents(committed.size());
  std::set<std::string> received;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_TRUE(received.insert(events[i].event_id()).second)
        << "repeated " << events[i].event_id();
    if (i > 0) {
      EXPECT_GT(events[i].sequence(), events[i - 1].sequence());
    }
  }
  EXPECT_EQ(received, committed);
  EXPECT_EQ(Count("SELECT count(*) FROM outbox_events"), static_cast<int64_t>(committed.size()));
}

TEST_F(EventsTest, PruningKeepsWhatTheSlowestConsumerOrTheRetentionStillNeeds) {
  const absl::Time old_time = now_ - absl::Hours(48);
  std::vector<OutboxEvent> events;
  for (int i = 1; i <= 20; ++i) {
    events.push_back(TestEvent(absl::StrCat(i), i <= 10 ? old_time : now_));
  }
  ASSERT_THAT(Append(events), IsOk());  // Sequences 1..20; 1..10 are old.
  {
    auto connection = pool_->Acquire();
    ASSERT_THAT(connection, IsOk());
    ASSERT_THAT(RegisterConsumer(**connection, "fast", 20, now_), IsOk());
    ASSERT_THAT(RegisterConsumer(**connection, "slow", 4, now_), IsOk());
  }
  const absl::Time cutoff = now_ - absl::Hours(24);
  // Bounded batches: 3, then the last one the slow consumer has passed, then nothing.
  EXPECT_EQ(*PruneEvents(*pool_, cutoff, 3), 3);
  EXPECT_EQ(*PruneEvents(*pool_, cutoff, 3), 1);
  EXPECT_EQ(*PruneEvents(*pool_, cutoff, 3), 0);
  EXPECT_EQ(Count("SELECT min(sequence) FROM outbox_events"), 5);
  // The slow consumer subscribes again from further on: old events up to there go, recent ones
  // stay for the retention even though every consumer has passed them.
  {
    auto connection = pool_->Acquire();
    ASSERT_THAT(connection, IsOk());
    ASSERT_THAT(RegisterConsumer(**connection, "slow", 15, now_), IsOk());
  }
  int64_t pruned = 0;
  for (int round = 0; round < 10; ++round) pruned += *PruneEvents(*pool_, cutoff, 3);
  EXPECT_EQ(pruned, 6);
  EXPECT_EQ(Count("SELECT min(sequence) FROM outbox_events"), 11);
  EXPECT_EQ(Count("SELECT count(*) FROM outbox_events"), 10);
}

TEST_F(EventsTest, AConsumerThatStoppedSubscribingLongAgoNoLongerHoldsPruningBack) {
  std::vector<OutboxEvent> events;
  for (int i = 1; i <= 5; ++i) events.push_back(TestEvent(absl::StrCat(i), now_ - absl::Hours(48)));
  ASSERT_THAT(Append(events), IsOk());
  {
    auto connection = pool_->Acquire();
    ASSERT_THAT(connection, IsOk());
    ASSERT_THAT(RegisterConsumer(**connection, "decommissioned", 0, now_ - absl::Hours(800)),
                IsOk());
    ASSERT_THAT(RegisterConsumer(**connection, "live", 3, now_ - absl::Hours(1)), IsOk());
  }
  const absl::Time cutoff = now_ - absl::Hours(24);
  EXPECT_EQ(*PruneEvents(*pool_, cutoff, 100), 0);  // Held back by the consumer at 0.

  absl::StatusOr<std::vector<ForgottenConsumer>> forgotten =
      ForgetConsumers(*pool_, now_ - absl::Hours(720));
  ASSERT_THAT(forgotten, IsOk());
  ASSERT_EQ(forgotten->size(), 1u);
  EXPECT_EQ((*forgotten)[0].consumer, "decommissioned");
  EXPECT_EQ((*forgotten)[0].after_sequence, 0);
  // The live consumer still counts.
  EXPECT_EQ(*PruneEvents(*pool_, cutoff, 100), 3);
  EXPECT_EQ(Count("SELECT min(sequence) FROM outbox_events"), 4);
}

// A consumer in a second schema (its own database, in production).
class ConsumerTest : public EventsTest {
 protected:
  void SetUp() override {
    EventsTest::SetUp();
    Serve({.page_size = 7,  // Several messages, so a stream applies in several transactions.
           .max_subscribers = 4,
           .stream_lifetime = absl::Minutes(5),
           .poll_interval = absl::Minutes(10),
           .scan_max = 1000});
    consumer_schema_ = testkit::MustSchema("consumer");
    consumer_pool_ = consumer_schema_->MakePool(4);
    testkit::MustMigrate(*consumer_pool_, TestMigrations());
    auto connection = consumer_pool_->Acquire();
    ASSERT_THAT(connection, IsOk());
    ASSERT_THAT((*connection)->ExecuteScript("effects", "CREATE TABLE effects (event_id text)"),
                IsOk());
  }

  std::unique_ptr<EventConsumer> MakeConsumer(ApplyFn apply = nullptr) {
    if (apply == nullptr) apply = RecordEffect;
    return std::make_unique<EventConsumer>(
        *consumer_pool_, channel_,
        ConsumerOptions{.stream = "things",
                        .consumer = "effects-svc",
                        .backoff_initial = absl::Milliseconds(10),
                        .backoff_max = absl::Milliseconds(100)},
        std::move(apply));
  }

  static absl::Status RecordEffect(pg::Connection& connection, const v1::Event& event) {
    static constexpr pg::Query kEffect{"test_effect", "INSERT INTO effects VALUES ($1)"};
    return connection.Execute(kEffect, pg::Params().Add(event.event_id())).status();
  }

  // Waits until the consumer's stored cursor reaches `sequence`.
  bool AwaitCursor(EventConsumer& consumer, int64_t sequence) {
    const absl::Time give_up = absl::Now() + kWaitMax;
    while (absl::Now() < give_up) {
      absl::StatusOr<int64_t> cursor = consumer.LoadCursor();
      if (cursor.ok() && *cursor >= sequence) return true;
      absl::SleepFor(absl::Milliseconds(10));  // Polls a condition; orders nothing.
    }
    return false;
  }

  int64_t Effects(std::string_view what = "count(*)") {
    auto connection = consumer_pool_->Acquire();
    LOYALTY_CHECK(connection.ok());
    auto result =
        (*connection)
            ->ExecuteScript("effects", absl::StrCat("SELECT ", std::string(what), " FROM effects"));
    LOYALTY_CHECK(result.ok());
    return result->Int64(0, 0);
  }

  std::vector<OutboxEvent> Batch(const std::string& prefix, int count) {
    std::vector<OutboxEvent> events;
    for (int i = 0; i < count; ++i) events.push_back(TestEvent(absl::StrCat(prefix, i), now_));
    return events;
  }

  std::unique_ptr<testkit::TestSchema> consumer_schema_;
  std::unique_ptr<pg::Pool> consumer_pool_;
};

TEST_F(ConsumerTest, AppliesEachEventOnceAcrossARestartAndAReplayedStream) {
  ASSERT_THAT(Append(Batch("a", 30)), IsOk());
  {
    std::unique_ptr<EventConsumer> consumer = MakeConsumer();
    consumer->Start();
    ASSERT_TRUE(AwaitCursor(*consumer, 30));
    consumer->Stop();  // The "crash": a new process starts from the stored cursor.
  }
  ASSERT_THAT(Append(Batch("b", 20)), IsOk());
  std::unique_ptr<EventConsumer> restarted = MakeConsumer();
  restarted->Start();
  ASSERT_TRUE(AwaitCursor(*restarted, 50));
  restarted->Stop();
  // The producer knows where the consumer subscribed from, for pruning.
  EXPECT_EQ(Count("SELECT after_sequence FROM outbox_consumers WHERE consumer = 'effects-svc'"),
            30);
  EXPECT_EQ(Effects(), 50);
  EXPECT_EQ(Effects("count(DISTINCT event_id)"), 50);
  // A replayed stream (the cursor lost, or a producer sending it all again) has no effect.
  {
    auto connection = consumer_pool_->Acquire();
    ASSERT_THAT(connection, IsOk());
    ASSERT_THAT(
        (*connection)->ExecuteScript("rewind", "UPDATE event_cursors SET last_sequence = 0"),
        IsOk());
  }
  std::unique_ptr<EventConsumer> replaying = MakeConsumer();
  replaying->Start();
  ASSERT_TRUE(AwaitCursor(*replaying, 50));
  replaying->Stop();
  EXPECT_EQ(Effects(), 50);
  // The same message applied twice by hand: nothing new.
  auto connection = pool_->Acquire();
  ASSERT_THAT(connection, IsOk());
  absl::StatusOr<Page> page = ReadPage(**connection, {.after_sequence = 0, .limit = 10});
  ASSERT_THAT(page, IsOk());
  v1::SubscribeResponse again;
  for (const v1::Event& event : page->events) *again.add_events() = event;
  again.set_scanned_sequence(page->events.back().sequence());
  EXPECT_EQ(*replaying->Apply(again), 0);
  EXPECT_EQ(Effects(), 50);
}

TEST_F(ConsumerTest, ABatchApplyGetsEachMessagesNewEventsOnceInStreamOrder) {
  ASSERT_THAT(Append(Batch("q", 10)), IsOk());
  std::vector<std::vector<std::string>> calls;
  EventConsumer consumer(
      *consumer_pool_, channel_, ConsumerOptions{.stream = "things", .consumer = "effects-svc"},
      ApplyBatchFn([&](pg::Connection& connection,
                       std::span<const v1::Event* const> events) -> absl::Status {
        std::vector<std::string>& ids = calls.emplace_back();
        for (const v1::Event* event : events) {
          ids.push_back(event->event_id());
          LOYALTY_RETURN_IF_ERROR(RecordEffect(connection, *event));
        }
        return absl::OkStatus();
      }));
  auto connection = pool_->Acquire();
  ASSERT_THAT(connection, IsOk());
  absl::StatusOr<Page> page = ReadPage(**connection, {.after_sequence = 0, .limit = 10});
  ASSERT_THAT(page, IsOk());
  ASSERT_EQ(page->events.size(), 10u);
  std::vector<std::string> ids;
  v1::SubscribeResponse first, second;
  for (const v1::Event& event : page->events) {
    ids.push_back(event.event_id());
    if (event.sequence() <= 6) *first.add_events() = event;
    if (event.sequence() >= 4) *second.add_events() = event;  // 4-6 come again.
  }
  *second.add_events() = page->events.back();  // Repeated within the message.
  first.set_scanned_sequence(6);
  second.set_scanned_sequence(10);
  ASSERT_EQ(*consumer.Apply(first), 6);
  ASSERT_EQ(*consumer.Apply(second), 4);
  ASSERT_EQ(*consumer.Apply(second), 0);  // Nothing new: no call.
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0], std::vector<std::string>(ids.begin(), ids.begin() + 6));
  EXPECT_EQ(calls[1], std::vector<std::string>(ids.begin() + 6, ids.end()));
  EXPECT_EQ(Effects(), 10);
  EXPECT_EQ(*consumer.LoadCursor(), 10);
}

TEST_F(ConsumerTest, MessagesThatArriveDuringATransactionAreAppliedTogetherInTheNext) {
  // 140 events in pages of 7: 20 messages. The first transaction is slow, so the messages
  // behind it pile up in the read-ahead and go into few transactions, in order, each once.
  ASSERT_THAT(Append(Batch("r", 140)), IsOk());
  std::vector<size_t> sizes;
  std::vector<std::string> order;
  auto consumer = std::make_unique<EventConsumer>(
      *consumer_pool_, channel_, ConsumerOptions{.stream = "things", .consumer = "effects-svc"},
      ApplyBatchFn([&](pg::Connection& connection,
                       std::span<const v1::Event* const> events) -> absl::Status {
        if (sizes.empty()) absl::SleepFor(absl::Milliseconds(500));
        sizes.push_back(events.size());
        for (const v1::Event* event : events) {
          order.push_back(event->aggregate_id());
          LOYALTY_RETURN_IF_ERROR(RecordEffect(connection, *event));
        }
        return absl::OkStatus();
      }));
  consumer->Start();
  ASSERT_TRUE(AwaitCursor(*consumer, 140));
  consumer->Stop();
  EXPECT_EQ(Effects(), 140);
  EXPECT_EQ(Effects("count(DISTINCT event_id)"), 140);
  std::vector<std::string> expected;
  for (int i = 0; i < 140; ++i) expected.push_back(absl::StrCat("r", i));
  EXPECT_EQ(order, expected);
  // At most 10 messages (70 events) per transaction, and far fewer transactions than messages.
  EXPECT_LT(sizes.size(), 10u);
  for (size_t size : sizes) EXPECT_LE(size, 70u);
}

TEST_F(ConsumerTest, PruningAppliedIdsKeepsRecentOnesAndThoseAboveTheCursor) {
  ASSERT_THAT(Append(Batch("p", 10)), IsOk());
  std::unique_ptr<EventConsumer> consumer = MakeConsumer();
  auto connection = pool_->Acquire();
  ASSERT_THAT(connection, IsOk());
  absl::StatusOr<Page> page = ReadPage(**connection, {.after_sequence = 0, .limit = 10});
  ASSERT_THAT(page, IsOk());
  v1::SubscribeResponse first, second;
  for (const v1::Event& event : page->events) {
    *(event.sequence() <= 6 ? first : second).add_events() = event;
  }
  first.set_scanned_sequence(6);
  ASSERT_EQ(*consumer->Apply(first), 6);
  // Ids 1-8 are old, but only 1-6 are at or below the cursor; 9 and 10 are recent.
  second.set_scanned_sequence(5);  // A stale stream's message: the cursor stays at 6.
  ASSERT_EQ(*consumer->Apply(second), 4);
  {
    auto consumer_connection = consumer_pool_->Acquire();
    ASSERT_THAT(consumer_connection, IsOk());
    ASSERT_THAT((*consumer_connection)
                    ->ExecuteScript("age",
                                    "UPDATE applied_events SET apply_time = now() - "
                                    "interval '10 days' WHERE sequence <= 8"),
                IsOk());
  }
  const absl::Time cutoff = absl::Now() - absl::Hours(24 * 7);
  EXPECT_EQ(*consumer->PruneApplied(cutoff, 4), 4);
  EXPECT_EQ(*consumer->PruneApplied(cutoff, 4), 2);
  EXPECT_EQ(*consumer->PruneApplied(cutoff, 4), 0);
  EXPECT_EQ(*consumer->LoadCursor(), 6);
  // What is left still protects: events 7-10 delivered again have no second effect.
  EXPECT_EQ(*consumer->Apply(second), 0);
  EXPECT_EQ(Effects(), 10);
}

TEST_F(ConsumerTest, AFailedApplyRollsBackItsMessageAndIsRetried) {
  ASSERT_THAT(Append(Batch("x", 20)), IsOk());
  std::atomic<int> failures{0};
  std::unique_ptr<EventConsumer> consumer =
      MakeConsumer([&failures](pg::Connection& connection, const v1::Event& event) {
        absl::Status status = RecordEffect(connection, event);
        // The 10th event fails twice, after the effects of its message's earlier events.
        if (status.ok() && event.aggregate_id() == "x9" && failures.fetch_add(1) < 2) {
          return absl::UnavailableError("apply failed");
        }
        return status;
      });
  prometheus::Registry registry;
  consumer->ExportMetrics(registry);
  consumer->Start();
  ASSERT_TRUE(AwaitCursor(*consumer, 20));
  consumer->Stop();
  EXPECT_GE(failures.load(), 3);
  EXPECT_EQ(Effects(), 20);
  EXPECT_EQ(Effects("count(DISTINCT event_id)"), 20);
  EXPECT_EQ(consumer->lag_events(), 0);
  std::map<std::string, double> metrics;
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    ASSERT_EQ(family.metric.size(), 1u);
    const prometheus::ClientMetric& metric = family.metric[0];
    metrics[family.name] =
        family.type == prometheus::MetricType::Counter ? metric.counter.value : metric.gauge.value;
  }
  EXPECT_EQ(metrics["loyalty_event_consumer_applied_total"], 20);
  EXPECT_EQ(metrics["loyalty_event_consumer_reconnects_total"], 2);
  EXPECT_EQ(metrics["loyalty_event_consumer_lag_events"], 0);
  // The last message said it reached the head, but its events waited through two failed
  // attempts before they were applied: the lag in seconds shows that wait, not 0.
  EXPECT_GT(metrics["loyalty_event_consumer_lag_seconds"], 0);
  EXPECT_LT(metrics["loyalty_event_consumer_lag_seconds"], 60);
}

}  // namespace
}  // namespace loyalty::events
