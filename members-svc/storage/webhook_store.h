#pragma once

// Webhook endpoints and their deliveries in the `members` schema (migrations/0010_webhooks.sql):
// the endpoints' CRUD, the fan-out of a consumed event into deliveries, and the dispatcher's
// claim / record / prune. Errors are the SQL errors as mapped by common/pg.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/pg/connection.h"
#include "members-svc/domain/webhook.h"

namespace loyalty::members {

struct WebhookEndpoint {
  std::string program_id;
  std::string webhook_id;
  std::string url;
  std::vector<std::string> event_types;
  std::string description;
  WebhookState state = WebhookState::kActive;
  // Set on insert only; reads never load it.
  std::string secret;
  absl::Time create_time;
};

struct WebhookDelivery {
  int64_t delivery_id = 0;
  std::string program_id;
  std::string webhook_id;
  std::string event_id;
  std::string event_type;
  DeliveryState state = DeliveryState::kPending;
  int attempts = 0;
  std::optional<int64_t> last_status_code;
  std::optional<std::string> last_error;
  absl::Time create_time;
  std::optional<absl::Time> last_attempt_time;
  absl::Time next_attempt_time;
  std::optional<absl::Time> finish_time;
};

absl::Status InsertWebhook(pg::Connection& connection, const WebhookEndpoint& endpoint);
// The endpoint, row-locked until the transaction ends when `lock`; nullopt when there is none.
absl::StatusOr<std::optional<WebhookEndpoint>> LoadWebhook(pg::Connection& connection,
                                                           const std::string& program_id,
                                                           const std::string& webhook_id,
                                                           bool lock = false);
// Writes url, event_types, description and state of an existing endpoint.
absl::Status UpdateWebhook(pg::Connection& connection, const WebhookEndpoint& endpoint);
// Cancels the endpoint's pending deliveries (finished at `now`); returns how many.
absl::StatusOr<int64_t> CancelDeliveries(pg::Connection& connection, const std::string& program_id,
                                         const std::string& webhook_id, absl::Time now);

struct WebhookPage {
  std::vector<WebhookEndpoint> webhooks;
  bool more = false;
};
// The program's endpoints, oldest first, after the keyset position (create_time, webhook_id)
// when given; at most `limit`.
absl::StatusOr<WebhookPage> ListWebhooks(
    pg::Connection& connection, const std::string& program_id,
    const std::optional<std::pair<absl::Time, std::string>>& after, int limit);

// Deletes the endpoint and cancels its pending deliveries (finished at `now`). Returns how many
// were cancelled, or nullopt when there was no such endpoint.
absl::StatusOr<std::optional<int64_t>> DeleteWebhook(pg::Connection& connection,
                                                     const std::string& program_id,
                                                     const std::string& webhook_id, absl::Time now);

// The event types some active endpoint of each of `program_ids` wants, as (program, type).
absl::StatusOr<absl::flat_hash_set<std::pair<std::string, std::string>>> WantedEventTypes(
    pg::Connection& connection, const std::vector<std::string>& program_ids);

// An event to fan out, with the body every delivery of it sends.
struct QueuedEvent {
  std::string program_id;
  std::string event_id;
  std::string event_type;
  std::string body;
};

// One delivery of each event's body for each active endpoint of its program that wants its type,
// due at `now`, in one statement; none twice for one event and endpoint. Returns how many were
// queued.
absl::StatusOr<int64_t> QueueDeliveries(pg::Connection& connection,
                                        std::span<const QueuedEvent> events, absl::Time now);

struct DeliveryPage {
  std::vector<WebhookDelivery> deliveries;
  bool more = false;
};
// An endpoint's deliveries, newest first, only `state`'s when given, before `before_id` when
// given; at most `limit`.
absl::StatusOr<DeliveryPage> ListDeliveries(pg::Connection& connection,
                                            const std::string& program_id,
                                            const std::string& webhook_id,
                                            std::optional<DeliveryState> state,
                                            std::optional<int64_t> before_id, int limit);
absl::StatusOr<std::optional<WebhookDelivery>> LoadDelivery(pg::Connection& connection,
                                                            const std::string& program_id,
                                                            const std::string& webhook_id,
                                                            int64_t delivery_id);
// Puts a DEAD delivery back to PENDING, due at `now`, attempts reset. nullopt when the delivery
// is not DEAD (or does not exist).
absl::StatusOr<std::optional<WebhookDelivery>> RetryDeadDelivery(pg::Connection& connection,
                                                                 const std::string& program_id,
                                                                 const std::string& webhook_id,
                                                                 int64_t delivery_id,
                                                                 absl::Time now);

// A delivery claimed for one attempt, with what sending it needs.
struct ClaimedDelivery {
  int64_t delivery_id = 0;
  std::string program_id;
  std::string webhook_id;
  std::string event_id;
  std::string body;
  // The number of this attempt (1 for the first); recording the outcome names it.
  int attempt = 0;
  std::string url;
  std::string secret;
};

struct ClaimRequest {
  absl::Time now;
  absl::Time leased_until;
  int limit = 1;
  // Attempts an endpoint may have in flight.
  int endpoint_concurrency = 1;
  // Endpoints ("program/webhook") with attempts in flight already, and how many.
  std::vector<std::pair<std::string, int>> in_flight;
};
// Claims due deliveries (see queries::kClaimDeliveries) in one statement.
absl::StatusOr<std::vector<ClaimedDelivery>> ClaimDeliveries(pg::Connection& connection,
                                                             const ClaimRequest& request);

struct AttemptRecord {
  int64_t delivery_id = 0;
  int attempt = 0;
  AttemptOutcome outcome;
  // 0 when there was no HTTP answer.
  int status_code = 0;
  // Empty on success.
  std::string error;
  absl::Time now;
};
// Records an attempt's outcome; false when the delivery had moved on (see kRecordAttempt).
absl::StatusOr<bool> RecordAttempt(pg::Connection& connection, const AttemptRecord& record);

// Deletes up to `limit` deliveries finished before `cutoff`; returns how many went.
absl::StatusOr<int64_t> PruneDeliveries(pg::Connection& connection, absl::Time cutoff, int limit);

struct DeliveryCounts {
  int64_t pending = 0;
  int64_t dead = 0;
};
absl::StatusOr<DeliveryCounts> CountDeliveries(pg::Connection& connection);

// "program/webhook": an endpoint's key in the dispatcher's bookkeeping.
std::string EndpointKey(const std::string& program_id, const std::string& webhook_id);

}  // namespace loyalty::members
