#pragma once

// Sends queued webhook deliveries (docs/webhooks.md), at least once.
//
// A claimer thread takes due deliveries in one statement that sets a lease (`leased_until`) and
// counts the attempt (storage/webhook_store.h ClaimDeliveries, FOR UPDATE SKIP LOCKED, so
// replicas share the queue), commits, and hands them to a bounded pool of workers. A worker
// signs and POSTs the stored body without holding a transaction, then records the outcome:
// DELIVERED on 2xx, else PENDING again after an exponential backoff, or DEAD after the last
// attempt. A dispatcher that dies mid-attempt records nothing; its lease runs out and the
// delivery is attempted again, so a receiver may see an event twice (it dedupes on webhook-id).
//
// No endpoint may stall the others: each endpoint has at most `endpoint_concurrency` attempts in
// flight in a dispatcher (the claim asks for no more), so a slow or hanging endpoint holds at most
// that many workers, each for at most the timeout, while the others keep sending.
//
// Metrics: loyalty_webhook_deliveries_total{result=delivered|failed|dead},
// loyalty_webhook_delivery_seconds (attempt latency) and
// loyalty_webhook_deliveries_stored{state=pending|dead} (refreshed by the retention loop).

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/random/random.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/pg/pool.h"
#include "members-svc/rpc/webhook_http.h"
#include "members-svc/storage/webhook_store.h"
#include "prometheus/registry.h"

namespace loyalty::members {

struct WebhookDispatcherOptions {
  int workers = 8;
  int endpoint_concurrency = 2;
  int max_attempts = 12;
  absl::Duration backoff_initial = absl::Seconds(5);
  absl::Duration backoff_max = absl::Hours(1);
  // The HTTP client's timeout; a lease lasts this plus lease_margin, so a live attempt always
  // records its outcome before anyone else may claim the delivery.
  absl::Duration timeout = absl::Seconds(10);
  absl::Duration lease_margin = absl::Seconds(30);
  // How often the claimer looks for due deliveries when it found none.
  absl::Duration poll_interval = absl::Seconds(1);
  // Recorded errors are cut to this many bytes.
  size_t error_length_max = 500;
};

class WebhookDispatcher {
 public:
  // `pool`, `clock` and `client` must outlive the dispatcher.
  WebhookDispatcher(pg::Pool& pool, const Clock& clock, const WebhookHttpClient& client,
                    WebhookDispatcherOptions options);
  // Stops (see Stop).
  ~WebhookDispatcher();
  WebhookDispatcher(const WebhookDispatcher&) = delete;
  WebhookDispatcher& operator=(const WebhookDispatcher&) = delete;

  // Starts the claimer and the workers.
  void Start();
  // Stops claiming, abandons attempts in flight (their leases expire, so they are attempted
  // again later, by this or another process) and joins every thread. Idempotent.
  void Stop();
  // Looks for due deliveries now rather than at the next poll.
  void Wake();

  // Deletes up to `limit` deliveries finished before `cutoff` and refreshes the pending and dead
  // gauges; returns how many went. The retention loop calls it.
  absl::StatusOr<int> PruneFinished(absl::Time cutoff, int limit);

  // Registers the metrics (call at most once; attempts before it are not counted).
  void ExportMetrics(prometheus::Registry& registry);

 private:
  struct Metrics;
  void ClaimLoop();
  void WorkLoop();
  // One attempt: sign, POST, record (nothing when abandoned because the dispatcher stops).
  void Attempt(const ClaimedDelivery& delivery, absl::BitGen& random);
  absl::StatusOr<int> ClaimSome(int limit);
  void Done(const std::string& endpoint);

  pg::Pool& pool_;
  const Clock& clock_;
  const WebhookHttpClient& client_;
  const WebhookDispatcherOptions options_;
  std::unique_ptr<Metrics> metrics_owner_;
  std::atomic<Metrics*> metrics_{nullptr};
  std::atomic<bool> stopping_flag_{false};

  absl::Mutex mutex_;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  bool woken_ ABSL_GUARDED_BY(mutex_) = false;
  // Claimed and not yet finished, queued or being sent.
  int busy_ ABSL_GUARDED_BY(mutex_) = 0;
  std::deque<ClaimedDelivery> queue_ ABSL_GUARDED_BY(mutex_);
  // Attempts in flight by endpoint key (storage EndpointKey).
  absl::flat_hash_map<std::string, int> in_flight_ ABSL_GUARDED_BY(mutex_);
  std::vector<std::thread> threads_;
};

}  // namespace loyalty::members
