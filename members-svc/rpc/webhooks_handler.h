#pragma once

// members-svc's WebhooksService as a transport-agnostic handler (proto in, absl::StatusOr out;
// webhooks_grpc_service.cc adapts it), and the fan-out of consumed events into deliveries
// (docs/webhooks.md). Sending is the dispatcher's (webhook_dispatcher.h).

#include <span>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/paging/page_token.h"
#include "common/pg/pool.h"
#include "common/random.h"
#include "loyalty/events/v1/events.pb.h"
#include "loyalty/members/v1/webhooks_service.pb.h"

namespace loyalty::members {

// The full names of every event type the platform's three services publish (the messages of
// member_events.proto, points_events.proto and reward_events.proto): what an endpoint may ask
// for.
const absl::flat_hash_set<std::string>& KnownEventTypes();

struct WebhooksHandlerOptions {
  // HMAC key for page tokens (>= 16 bytes).
  std::string page_token_key;
  RandomSource random = SecureRandomUint64;
};

class WebhooksHandler {
 public:
  // `pool` and `clock` must outlive the handler. `clock` also dates the deliveries queued, so it
  // must be the dispatcher's.
  WebhooksHandler(pg::Pool& pool, const Clock& clock, WebhooksHandlerOptions options);

  absl::StatusOr<v1::CreateWebhookResponse> CreateWebhook(const v1::CreateWebhookRequest& request);
  absl::StatusOr<v1::ListWebhooksResponse> ListWebhooks(const v1::ListWebhooksRequest& request);
  absl::StatusOr<v1::GetWebhookResponse> GetWebhook(const v1::GetWebhookRequest& request);
  absl::StatusOr<v1::UpdateWebhookResponse> UpdateWebhook(const v1::UpdateWebhookRequest& request);
  absl::StatusOr<v1::DeleteWebhookResponse> DeleteWebhook(const v1::DeleteWebhookRequest& request);
  absl::StatusOr<v1::ListWebhookDeliveriesResponse> ListWebhookDeliveries(
      const v1::ListWebhookDeliveriesRequest& request);
  absl::StatusOr<v1::RetryWebhookDeliveryResponse> RetryWebhookDelivery(
      const v1::RetryWebhookDeliveryRequest& request);

  // The fan-out of one stream message, inside its consumer's transaction: one delivery of each
  // event's body for each active endpoint of its program that wants its type (none twice). One
  // read finds which events some endpoint wants; only those get a body built, and one insert
  // queues them all. Nothing is stored for a program without such an endpoint. SQL errors as
  // mapped by common/pg.
  absl::Status ApplyEvents(pg::Connection& connection,
                           std::span<const events::v1::Event* const> events);

 private:
  pg::Pool& pool_;
  const Clock& clock_;
  WebhooksHandlerOptions options_;
  paging::PageTokenCodec page_tokens_;
};

}  // namespace loyalty::members
