#include "members-svc/storage/webhook_store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/pg/array.h"
#include "common/status/macros.h"
#include "members-svc/storage/queries.h"

namespace loyalty::members {
namespace {

WebhookEndpoint EndpointFromRow(const pg::Result& rows, int row) {
  // Stored types are validated names (letters, digits, dots): a space separates them safely.
  const std::string types = rows.String(row, "event_types");
  return WebhookEndpoint{.program_id = rows.String(row, "program_id"),
                         .webhook_id = rows.String(row, "webhook_id"),
                         .url = rows.String(row, "url"),
                         .event_types = absl::StrSplit(types, ' ', absl::SkipEmpty()),
                         .description = rows.String(row, "description"),
                         .state = static_cast<WebhookState>(rows.Int64(row, "state")),
                         .create_time = rows.Time(row, "create_time")};
}

WebhookDelivery DeliveryFromRow(const pg::Result& rows, int row) {
  return WebhookDelivery{.delivery_id = rows.Int64(row, "delivery_id"),
                         .program_id = rows.String(row, "program_id"),
                         .webhook_id = rows.String(row, "webhook_id"),
                         .event_id = rows.String(row, "event_id"),
                         .event_type = rows.String(row, "event_type"),
                         .state = static_cast<DeliveryState>(rows.Int64(row, "state")),
                         .attempts = static_cast<int>(rows.Int64(row, "attempts")),
                         .last_status_code = rows.OptionalInt64(row, "last_status_code"),
                         .last_error = rows.OptionalString(row, "last_error"),
                         .create_time = rows.Time(row, "create_time"),
                         .last_attempt_time = rows.OptionalTime(row, "last_attempt_time"),
                         .next_attempt_time = rows.Time(row, "next_attempt_time"),
                         .finish_time = rows.OptionalTime(row, "finish_time")};
}

std::optional<WebhookDelivery> FirstDelivery(const pg::Result& rows) {
  if (rows.rows() == 0) return std::nullopt;
  return DeliveryFromRow(rows, 0);
}

}  // namespace

std::string EndpointKey(const std::string& program_id, const std::string& webhook_id) {
  return absl::StrCat(program_id, "/", webhook_id);
}

absl::Status InsertWebhook(pg::Connection& connection, const WebhookEndpoint& endpoint) {
  return connection
      .Execute(queries::kInsertWebhook, pg::Params()
                                            .Add(endpoint.program_id)
                                            .Add(endpoint.webhook_id)
                                            .Add(endpoint.url)
                                            .Add(pg::TextArray(endpoint.event_types))
                                            .Add(endpoint.description)
                                            .Add(static_cast<int64_t>(endpoint.state))
                                            .Add(endpoint.secret)
                                            .Add(endpoint.create_time))
      .status();
}

absl::StatusOr<std::optional<WebhookEndpoint>> LoadWebhook(pg::Connection& connection,
                                                           const std::string& program_id,
                                                           const std::string& webhook_id,
                                                           bool lock) {
  LOYALTY_ASSIGN_OR_RETURN(pg::Result rows,
                           connection.Execute(lock ? queries::kLockWebhook : queries::kGetWebhook,
                                              pg::Params().Add(program_id).Add(webhook_id)));
  if (rows.rows() == 0) return std::nullopt;
  return EndpointFromRow(rows, 0);
}

absl::Status UpdateWebhook(pg::Connection& connection, const WebhookEndpoint& endpoint) {
  return connection
      .Execute(queries::kUpdateWebhook, pg::Params()
                                            .Add(endpoint.program_id)
                                            .Add(endpoint.webhook_id)
                                            .Add(endpoint.url)
                                            .Add(pg::TextArray(endpoint.event_types))
                                            .Add(endpoint.description)
                                            .Add(static_cast<int64_t>(endpoint.state)))
      .status();
}

absl::StatusOr<int64_t> CancelDeliveries(pg::Connection& connection, const std::string& program_id,
                                         const std::string& webhook_id, absl::Time now) {
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result cancelled,
      connection.Execute(queries::kCancelDeliveries,
                         pg::Params().Add(program_id).Add(webhook_id).Add(now)));
  return cancelled.affected_rows();
}

absl::StatusOr<WebhookPage> ListWebhooks(
    pg::Connection& connection, const std::string& program_id,
    const std::optional<std::pair<absl::Time, std::string>>& after, int limit) {
  pg::Params params = pg::Params().Add(program_id);
  if (after.has_value()) {
    params.Add(after->first).Add(after->second);
  } else {
    params.AddNull().AddNull();
  }
  params.Add(static_cast<int64_t>(limit) + 1);
  LOYALTY_ASSIGN_OR_RETURN(pg::Result rows, connection.Execute(queries::kListWebhooks, params));
  WebhookPage page;
  for (int row = 0; row < rows.rows() && row < limit; ++row) {
    page.webhooks.push_back(EndpointFromRow(rows, row));
  }
  page.more = rows.rows() > limit;
  return page;
}

absl::StatusOr<std::optional<int64_t>> DeleteWebhook(pg::Connection& connection,
                                                     const std::string& program_id,
                                                     const std::string& webhook_id,
                                                     absl::Time now) {
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result deleted,
      connection.Execute(queries::kDeleteWebhook, pg::Params().Add(program_id).Add(webhook_id)));
  if (deleted.affected_rows() == 0) return std::nullopt;
  return CancelDeliveries(connection, program_id, webhook_id, now);
}

absl::StatusOr<absl::flat_hash_set<std::pair<std::string, std::string>>> WantedEventTypes(
    pg::Connection& connection, const std::vector<std::string>& program_ids) {
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result rows,
      connection.Execute(queries::kWantedEventTypes, pg::Params().Add(pg::TextArray(program_ids))));
  absl::flat_hash_set<std::pair<std::string, std::string>> wanted;
  for (int row = 0; row < rows.rows(); ++row) {
    wanted.emplace(rows.String(row, "program_id"), rows.String(row, "event_type"));
  }
  return wanted;
}

absl::StatusOr<int64_t> QueueDeliveries(pg::Connection& connection,
                                        std::span<const QueuedEvent> events, absl::Time now) {
  pg::ArrayLiteral programs, ids, types, bodies;
  for (const QueuedEvent& event : events) {
    programs.Add(event.program_id);
    ids.Add(event.event_id);
    types.Add(event.event_type);
    bodies.Add(event.body);
  }
  LOYALTY_ASSIGN_OR_RETURN(pg::Result queued,
                           connection.Execute(queries::kQueueDeliveries, pg::Params()
                                                                             .Add(programs.Build())
                                                                             .Add(ids.Build())
                                                                             .Add(types.Build())
                                                                             .Add(bodies.Build())
                                                                             .Add(now)));
  return queued.affected_rows();
}

absl::StatusOr<DeliveryPage> ListDeliveries(pg::Connection& connection,
                                            const std::string& program_id,
                                            const std::string& webhook_id,
                                            std::optional<DeliveryState> state,
                                            std::optional<int64_t> before_id, int limit) {
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result rows,
      connection.Execute(queries::kListDeliveries,
                         pg::Params()
                             .Add(program_id)
                             .Add(webhook_id)
                             .Add(state.has_value() ? static_cast<int64_t>(*state) : int64_t{0})
                             .AddOptional(before_id)
                             .Add(static_cast<int64_t>(limit) + 1)));
  DeliveryPage page;
  for (int row = 0; row < rows.rows() && row < limit; ++row) {
    page.deliveries.push_back(DeliveryFromRow(rows, row));
  }
  page.more = rows.rows() > limit;
  return page;
}

absl::StatusOr<std::optional<WebhookDelivery>> LoadDelivery(pg::Connection& connection,
                                                            const std::string& program_id,
                                                            const std::string& webhook_id,
                                                            int64_t delivery_id) {
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result rows,
      connection.Execute(queries::kGetDelivery,
                         pg::Params().Add(program_id).Add(webhook_id).Add(delivery_id)));
  return FirstDelivery(rows);
}

absl::StatusOr<std::optional<WebhookDelivery>> RetryDeadDelivery(pg::Connection& connection,
                                                                 const std::string& program_id,
                                                                 const std::string& webhook_id,
                                                                 int64_t delivery_id,
                                                                 absl::Time now) {
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result rows,
      connection.Execute(queries::kRetryDelivery,
                         pg::Params().Add(program_id).Add(webhook_id).Add(delivery_id).Add(now)));
  return FirstDelivery(rows);
}

absl::StatusOr<std::vector<ClaimedDelivery>> ClaimDeliveries(pg::Connection& connection,
                                                             const ClaimRequest& request) {
  pg::ArrayLiteral endpoints, room;
  for (const auto& [endpoint, in_flight] : request.in_flight) {
    endpoints.Add(endpoint);
    room.Add(static_cast<int64_t>(std::max(0, request.endpoint_concurrency - in_flight)));
  }
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result rows,
      connection.Execute(queries::kClaimDeliveries,
                         pg::Params()
                             .Add(request.now)
                             .Add(endpoints.Build())
                             .Add(room.Build())
                             .Add(static_cast<int64_t>(request.endpoint_concurrency))
                             .Add(static_cast<int64_t>(request.limit))
                             .Add(request.leased_until)));
  std::vector<ClaimedDelivery> claimed;
  for (int row = 0; row < rows.rows(); ++row) {
    claimed.push_back(ClaimedDelivery{.delivery_id = rows.Int64(row, "delivery_id"),
                                      .program_id = rows.String(row, "program_id"),
                                      .webhook_id = rows.String(row, "webhook_id"),
                                      .event_id = rows.String(row, "event_id"),
                                      .body = rows.String(row, "body"),
                                      .attempt = static_cast<int>(rows.Int64(row, "attempts")),
                                      .url = rows.String(row, "url"),
                                      .secret = rows.String(row, "secret")});
  }
  return claimed;
}

absl::StatusOr<bool> RecordAttempt(pg::Connection& connection, const AttemptRecord& record) {
  pg::Params params = pg::Params()
                          .Add(record.delivery_id)
                          .Add(static_cast<int64_t>(record.attempt))
                          .Add(static_cast<int64_t>(record.outcome.state))
                          .Add(record.outcome.next_attempt_time);
  if (record.status_code > 0) {
    params.Add(static_cast<int64_t>(record.status_code));
  } else {
    params.AddNull();
  }
  if (record.error.empty()) {
    params.AddNull();
  } else {
    params.Add(record.error);
  }
  params.Add(record.now);
  LOYALTY_ASSIGN_OR_RETURN(pg::Result updated, connection.Execute(queries::kRecordAttempt, params));
  return updated.affected_rows() == 1;
}

absl::StatusOr<int64_t> PruneDeliveries(pg::Connection& connection, absl::Time cutoff, int limit) {
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result pruned,
      connection.Execute(queries::kPruneDeliveries,
                         pg::Params().Add(cutoff).Add(static_cast<int64_t>(limit))));
  return pruned.affected_rows();
}

absl::StatusOr<DeliveryCounts> CountDeliveries(pg::Connection& connection) {
  LOYALTY_ASSIGN_OR_RETURN(pg::Result rows, connection.Execute(queries::kCountDeliveries));
  return DeliveryCounts{.pending = rows.Int64(0, "pending"), .dead = rows.Int64(0, "dead")};
}

}  // namespace loyalty::members
