#include "members-svc/rpc/webhook_dispatcher.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/log/log.h"
#include "common/status/error.h"
#include "common/status/macros.h"
#include "members-svc/rpc/webhook_signature.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"

namespace loyalty::members {

struct WebhookDispatcher::Metrics {
  prometheus::Counter& delivered;
  prometheus::Counter& failed;
  prometheus::Counter& dead;
  prometheus::Histogram& seconds;
  prometheus::Gauge& pending;
  prometheus::Gauge& dead_letters;
};

WebhookDispatcher::WebhookDispatcher(pg::Pool& pool, const Clock& clock,
                                     const WebhookHttpClient& client,
                                     WebhookDispatcherOptions options)
    : pool_(pool), clock_(clock), client_(client), options_(std::move(options)) {
  LOYALTY_CHECK(options_.workers >= 1 && options_.endpoint_concurrency >= 1 &&
                options_.max_attempts >= 1);
  LOYALTY_CHECK(options_.backoff_initial > absl::ZeroDuration() &&
                options_.backoff_max >= options_.backoff_initial);
}

WebhookDispatcher::~WebhookDispatcher() { Stop(); }

void WebhookDispatcher::ExportMetrics(prometheus::Registry& registry) {
  LOYALTY_CHECK(metrics_.load() == nullptr);
  auto& results = prometheus::BuildCounter()
                      .Name("loyalty_webhook_deliveries_total")
                      .Help(
                          "Webhook delivery attempts by result: delivered (2xx), failed (to be "
                          "retried) or dead (the last attempt failed).")
                      .Register(registry);
  auto& gauges = prometheus::BuildGauge()
                     .Name("loyalty_webhook_deliveries_stored")
                     .Help("Webhook deliveries pending or dead, as of the last retention round.")
                     .Register(registry);
  metrics_owner_ = std::make_unique<Metrics>(Metrics{
      .delivered = results.Add({{"result", "delivered"}}),
      .failed = results.Add({{"result", "failed"}}),
      .dead = results.Add({{"result", "dead"}}),
      .seconds =
          prometheus::BuildHistogram()
              .Name("loyalty_webhook_delivery_seconds")
              .Help("Time of one webhook attempt, from connecting to the status line.")
              .Register(registry)
              .Add({}, prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                               0.5, 1, 2.5, 5, 10, 30}),
      .pending = gauges.Add({{"state", "pending"}}),
      .dead_letters = gauges.Add({{"state", "dead"}})});
  metrics_ = metrics_owner_.get();
}

void WebhookDispatcher::Start() {
  LOYALTY_CHECK(threads_.empty());
  threads_.emplace_back([this] { ClaimLoop(); });
  for (int i = 0; i < options_.workers; ++i) threads_.emplace_back([this] { WorkLoop(); });
}

void WebhookDispatcher::Stop() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
    stopping_flag_.store(true);
  }
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
}

void WebhookDispatcher::Wake() {
  absl::MutexLock lock(&mutex_);
  woken_ = true;
}

absl::StatusOr<int> WebhookDispatcher::ClaimSome(int limit) {
  ClaimRequest request{.limit = limit, .endpoint_concurrency = options_.endpoint_concurrency};
  {
    absl::MutexLock lock(&mutex_);
    for (const auto& [endpoint, count] : in_flight_)
      request.in_flight.emplace_back(endpoint, count);
  }
  request.now = clock_.Now();
  request.leased_until = request.now + options_.timeout + options_.lease_margin;
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
  LOYALTY_ASSIGN_OR_RETURN(std::vector<ClaimedDelivery> claimed,
                           ClaimDeliveries(*connection, request));
  absl::MutexLock lock(&mutex_);
  for (ClaimedDelivery& delivery : claimed) {
    ++in_flight_[EndpointKey(delivery.program_id, delivery.webhook_id)];
    ++busy_;
    queue_.push_back(std::move(delivery));
  }
  return static_cast<int>(claimed.size());
}

void WebhookDispatcher::ClaimLoop() {
  while (true) {
    int free = 0;
    {
      absl::MutexLock lock(&mutex_);
      auto can_claim = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
        return stopping_ || busy_ < options_.workers;
      };
      mutex_.Await(absl::Condition(&can_claim));
      if (stopping_) return;
      free = options_.workers - busy_;
      woken_ = false;
    }
    absl::StatusOr<int> claimed = ClaimSome(free);
    if (!claimed.ok()) {
      log::Warning("webhook claim failed", {{"error", StatusSummary(claimed.status())}});
    }
    // Claimed a full round: there may be more due at once. Otherwise wait for the next poll.
    if (claimed.ok() && *claimed == free) continue;
    absl::MutexLock lock(&mutex_);
    auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return stopping_ || woken_; };
    mutex_.AwaitWithTimeout(absl::Condition(&woken), options_.poll_interval);
    if (stopping_) return;
  }
}

void WebhookDispatcher::WorkLoop() {
  absl::BitGen random;
  while (true) {
    ClaimedDelivery delivery;
    {
      absl::MutexLock lock(&mutex_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
        return stopping_ || !queue_.empty();
      };
      mutex_.Await(absl::Condition(&ready));
      // Queued deliveries are left to their leases too.
      if (stopping_) return;
      delivery = std::move(queue_.front());
      queue_.pop_front();
    }
    Attempt(delivery, random);
    Done(EndpointKey(delivery.program_id, delivery.webhook_id));
  }
}

void WebhookDispatcher::Done(const std::string& endpoint) {
  absl::MutexLock lock(&mutex_);
  --busy_;
  // The endpoint has room again: claim its next delivery now, not at the next poll, or an
  // endpoint with a backlog would get only endpoint_concurrency attempts per poll interval.
  woken_ = true;
  auto it = in_flight_.find(endpoint);
  if (it != in_flight_.end() && --it->second <= 0) in_flight_.erase(it);
}

void WebhookDispatcher::Attempt(const ClaimedDelivery& delivery, absl::BitGen& random) {
  const absl::Time start = clock_.Now();
  HttpOutcome outcome;
  absl::StatusOr<WebhookUrl> url = ParseWebhookUrl(delivery.url, "url");
  absl::StatusOr<std::string> signature = WebhookSignature(
      delivery.secret, delivery.event_id, absl::ToUnixSeconds(start), delivery.body);
  if (!url.ok() || !signature.ok()) {
    // Both were valid when stored; a row edited by hand fails like an unreachable endpoint.
    outcome.error = "the endpoint's stored URL or secret is malformed";
  } else {
    outcome = client_.Post(*url,
                           {{"content-type", "application/json"},
                            {"user-agent", "loyalty-webhooks/1"},
                            {"webhook-id", delivery.event_id},
                            {"webhook-timestamp", absl::StrCat(absl::ToUnixSeconds(start))},
                            {"webhook-signature", *signature}},
                           delivery.body, stopping_flag_);
  }
  const absl::Time end = clock_.Now();
  // Stopping mid-attempt is a crash as far as the delivery knows: its lease runs out and it is
  // attempted again. Only a real answer is recorded.
  if (!outcome.delivered() && stopping_flag_.load()) return;
  if (!outcome.delivered() && outcome.error.empty()) {
    outcome.error = absl::StrCat("HTTP ", outcome.status_code);
  }
  if (outcome.error.size() > options_.error_length_max) {
    outcome.error.resize(options_.error_length_max);
  }
  const AttemptRecord record{
      .delivery_id = delivery.delivery_id,
      .attempt = delivery.attempt,
      .outcome = OutcomeOf(outcome.delivered(), delivery.attempt, options_.max_attempts, end,
                           options_.backoff_initial, options_.backoff_max,
                           absl::Uniform(random, 0.0, 1.0)),
      .status_code = outcome.status_code,
      .error = outcome.delivered() ? "" : outcome.error,
      .now = end};
  absl::StatusOr<bool> recorded = [&]() -> absl::StatusOr<bool> {
    LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
    return RecordAttempt(*connection, record);
  }();
  if (!recorded.ok()) {
    // The lease runs out and the delivery is attempted again: at least once.
    log::Warning("webhook outcome not recorded",
                 {{"delivery", delivery.delivery_id}, {"error", StatusSummary(recorded.status())}});
  }
  Metrics* metrics = metrics_.load();
  if (metrics == nullptr) return;
  metrics->seconds.Observe(absl::ToDoubleSeconds(end - start));
  switch (record.outcome.state) {
    case DeliveryState::kDelivered:
      metrics->delivered.Increment();
      break;
    case DeliveryState::kDead:
      metrics->dead.Increment();
      break;
    default:
      metrics->failed.Increment();
  }
}

absl::StatusOr<int> WebhookDispatcher::PruneFinished(absl::Time cutoff, int limit) {
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
  LOYALTY_ASSIGN_OR_RETURN(int64_t pruned, PruneDeliveries(*connection, cutoff, limit));
  if (Metrics* metrics = metrics_.load(); metrics != nullptr) {
    LOYALTY_ASSIGN_OR_RETURN(DeliveryCounts counts, CountDeliveries(*connection));
    metrics->pending.Set(static_cast<double>(counts.pending));
    metrics->dead_letters.Set(static_cast<double>(counts.dead));
  }
  return static_cast<int>(pruned);
}

}  // namespace loyalty::members
