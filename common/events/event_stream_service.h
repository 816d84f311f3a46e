#pragma once

// loyalty.events.v1.EventStreamService, served by every service from its own outbox: Subscribe
// catches up from the table in bounded pages, then follows new commits, woken by the process's
// OutboxListener, with a slow poll as a fallback and as a heartbeat.
//
// Bounds: at most max_subscribers streams at once (more: RESOURCE_EXHAUSTED), pages of at most
// page_size events, at most 100 events per message, and every stream ends with OK after
// stream_lifetime, so consumers reconnect and refresh the cursor the producer keeps for pruning.
// Each stream holds one of the sync server's threads for its lifetime and borrows a pooled
// connection only while it reads a page.

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/events/listener.h"
#include "common/pg/pool.h"
#include "loyalty/events/v1/events.grpc.pb.h"

namespace loyalty::events {

struct EventStreamOptions {
  int page_size = 500;
  int max_subscribers = 16;
  absl::Duration stream_lifetime = absl::Minutes(5);
  // Longest a stream waits without reading the table; an idle stream sends a heartbeat as often.
  absl::Duration poll_interval = absl::Seconds(5);
  // Sequences one page looks at past its cursor, at most.
  int64_t scan_max = 100'000;
};

class EventStreamServer final : public v1::EventStreamService::Service {
 public:
  // `pool`, `listener` and `clock` must outlive the server. CHECKs the options' ranges.
  EventStreamServer(pg::Pool& pool, const OutboxListener& listener, const Clock& clock,
                    EventStreamOptions options);

  grpc::Status Subscribe(grpc::ServerContext* context, const v1::SubscribeRequest* request,
                         grpc::ServerWriter<v1::SubscribeResponse>* writer) override;

  // Streams open now.
  int subscribers() const;

 private:
  grpc::Status Stream(grpc::ServerContext& context, const v1::SubscribeRequest& request,
                      grpc::ServerWriter<v1::SubscribeResponse>& writer);

  pg::Pool& pool_;
  const OutboxListener& listener_;
  const Clock& clock_;
  const EventStreamOptions options_;
  mutable absl::Mutex mutex_;
  int subscribers_ ABSL_GUARDED_BY(mutex_) = 0;
};

}  // namespace loyalty::events
