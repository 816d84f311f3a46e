#pragma once

// What a service needs to produce events, assembled once from its configuration: the LISTEN
// connection, the EventStreamService to register with its gRPC server, and the pruning round its
// background loop runs. Variables (docs/configuration.md), <P> being the service's prefix:
//
//   LOYALTY_<P>_EVENTS_PAGE_SIZE               events read per page (1-1000, default 500)
//   LOYALTY_<P>_EVENTS_MAX_SUBSCRIBERS         streams served at once (1-256, default 16)
//   LOYALTY_<P>_EVENTS_STREAM_LIFETIME_MS      when a stream ends for a resubscribe (default 5 min)
//   LOYALTY_<P>_EVENTS_POLL_INTERVAL_MS        fallback poll and heartbeat (default 5 s)
//   LOYALTY_<P>_OUTBOX_RETENTION_HOURS         events kept at least this long (default 168)
//   LOYALTY_<P>_OUTBOX_PRUNE_INTERVAL_MS       how often pruning runs (default 60 s)
//   LOYALTY_<P>_OUTBOX_CONSUMER_EXPIRY_HOURS   a consumer not subscribed for this long is no
//                                              longer waited for (default 720: 30 days)
//   LOYALTY_<P>_OUTBOX_NUMBER_GAP_MS           shortest time between two numbering rounds
//                                              (and NOTIFYs) of the listener (default 20)

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/config/env.h"
#include "common/events/event_stream_service.h"
#include "common/events/listener.h"
#include "common/pg/pool.h"

namespace loyalty::events {

// Events deleted per pruning round at most.
inline constexpr int kPruneBatchMax = 5000;

struct ProducerConfig {
  EventStreamOptions stream;
  absl::Duration retention = absl::Hours(168);
  absl::Duration prune_interval = absl::Seconds(60);
  absl::Duration consumer_expiry = absl::Hours(720);
  // OutboxListener's notify_gap: commits within it share one numbering round and one NOTIFY.
  absl::Duration number_gap = kNotifyGapDefault;
};

// Reads LOYALTY_<prefix>_* as listed above; errors are recorded in `reader`.
ProducerConfig ReadProducerConfig(config::EnvReader& reader, const std::string& prefix);
// The same variables for --help: name and description.
std::vector<std::pair<std::string, std::string>> ProducerConfigHelp(const std::string& prefix);

class Producer {
 public:
  // Starts listening on a connection of its own (`connection`, the service's schema). `pool`
  // and `clock` must outlive the producer.
  Producer(pg::Pool& pool, const pg::ConnectionOptions& connection, const Clock& clock,
           const ProducerConfig& config);

  // The EventStreamService to register with the service's server.
  EventStreamServer* service() { return &server_; }
  // One pruning round: forgets expired consumers (logged as warnings), then deletes
  // kPruneBatchMax events at most; returns how many went.
  absl::StatusOr<int> PruneOnce();
  absl::Duration prune_interval() const { return config_.prune_interval; }

 private:
  pg::Pool& pool_;
  const Clock& clock_;
  const ProducerConfig config_;
  OutboxListener listener_;
  EventStreamServer server_;
};

}  // namespace loyalty::events
