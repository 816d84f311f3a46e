#include "members-svc/rpc/webhooks_handler.h"

#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/idempotency/idempotency.h"
#include "common/rpc/proto_time.h"
#include "common/status/error.h"
#include "common/status/macros.h"
#include "common/validation/ids.h"
#include "loyalty/members/v1/member_events.pb.h"
#include "loyalty/points/v1/points_events.pb.h"
#include "loyalty/rewards/v1/reward_events.pb.h"
#include "members-svc/domain/codes.h"
#include "members-svc/domain/validation.h"
#include "members-svc/domain/webhook.h"
#include "members-svc/rpc/webhook_signature.h"
#include "members-svc/storage/member_store.h"
#include "members-svc/storage/webhook_store.h"

namespace loyalty::members {
namespace {

constexpr std::string_view kCreateWebhookMethod =
    "loyalty.members.v1.WebhooksService/CreateWebhook";
constexpr size_t kWebhookIdLengthMax = 64;

std::string WebhookName(std::string_view program_id, std::string_view webhook_id) {
  return absl::StrCat(ProgramName(program_id), "/webhooks/",
                      absl::string_view(webhook_id.data(), webhook_id.size()));
}

absl::Status ProgramNotFound(std::string_view program_id) {
  const std::string name = ProgramName(program_id);
  return ErrorWithReason(absl::StatusCode::kNotFound, "PROGRAM_NOT_FOUND",
                         absl::StrCat("program ", name, " not found"), {{"program", name}});
}

absl::Status WebhookNotFound(std::string_view program_id, std::string_view webhook_id) {
  const std::string name = WebhookName(program_id, webhook_id);
  return ErrorWithReason(absl::StatusCode::kNotFound, "WEBHOOK_NOT_FOUND",
                         absl::StrCat("webhook ", name, " not found"), {{"webhook", name}});
}

// Both halves of a request's webhook reference, as the fields "program" and "webhook".
absl::Status ValidateWebhookRef(std::string_view program_id, std::string_view webhook_id) {
  LOYALTY_RETURN_IF_ERROR(ValidateProgramId(program_id, "program"));
  if (webhook_id.empty() || webhook_id.size() > kWebhookIdLengthMax ||
      !std::all_of(webhook_id.begin(), webhook_id.end(),
                   [](char c) { return absl::ascii_islower(c) || absl::ascii_isdigit(c); })) {
    return InvalidField("webhook", "INVALID_WEBHOOK_ID", "must be 1-64 characters of a-z and 0-9");
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ParseDeliveryId(std::string_view id) {
  int64_t parsed = 0;
  if (id.empty() || id.size() > 19 || !std::all_of(id.begin(), id.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(absl::string_view(id.data(), id.size()), &parsed) || parsed <= 0) {
    return InvalidField("delivery", "INVALID_DELIVERY_ID", "must be a positive decimal number");
  }
  return parsed;
}

v1::Webhook ToProto(const WebhookEndpoint& endpoint) {
  v1::Webhook proto;
  proto.set_name(WebhookName(endpoint.program_id, endpoint.webhook_id));
  proto.set_id(endpoint.webhook_id);
  proto.set_url(endpoint.url);
  for (const std::string& type : endpoint.event_types) proto.add_event_types(type);
  proto.set_description(endpoint.description);
  proto.set_state(static_cast<v1::WebhookState>(endpoint.state));
  *proto.mutable_create_time() = ToTimestamp(endpoint.create_time);
  return proto;
}

v1::WebhookDelivery ToProto(const WebhookDelivery& delivery) {
  v1::WebhookDelivery proto;
  proto.set_name(absl::StrCat(WebhookName(delivery.program_id, delivery.webhook_id), "/deliveries/",
                              delivery.delivery_id));
  proto.set_id(absl::StrCat(delivery.delivery_id));
  proto.set_event_id(delivery.event_id);
  proto.set_event_type(delivery.event_type);
  proto.set_state(static_cast<v1::DeliveryState>(delivery.state));
  proto.set_attempts(delivery.attempts);
  proto.set_last_status_code(static_cast<int32_t>(delivery.last_status_code.value_or(0)));
  proto.set_last_error(delivery.last_error.value_or(""));
  *proto.mutable_create_time() = ToTimestamp(delivery.create_time);
  if (delivery.last_attempt_time.has_value()) {
    *proto.mutable_last_attempt_time() = ToTimestamp(*delivery.last_attempt_time);
  }
  if (delivery.state == DeliveryState::kPending) {
    *proto.mutable_next_attempt_time() = ToTimestamp(delivery.next_attempt_time);
  }
  if (delivery.finish_time.has_value()) {
    *proto.mutable_finish_time() = ToTimestamp(*delivery.finish_time);
  }
  return proto;
}

// Validates the endpoint of a CreateWebhookRequest; the ids, secret and time are the caller's.
absl::StatusOr<WebhookEndpoint> ParseWebhook(const v1::Webhook& proto) {
  LOYALTY_RETURN_IF_ERROR(ParseWebhookUrl(proto.url(), "webhook.url").status());
  LOYALTY_ASSIGN_OR_RETURN(
      std::vector<std::string> types,
      NormalizeEventTypes({proto.event_types().begin(), proto.event_types().end()},
                          KnownEventTypes(), "webhook.event_types"));
  if (!proto.description().empty()) {
    LOYALTY_RETURN_IF_ERROR(ValidateDisplayName(proto.description(), "webhook.description",
                                                kWebhookDescriptionCharsMax));
  }
  WebhookState state = WebhookState::kActive;
  if (proto.state() == v1::WEBHOOK_STATE_DISABLED) {
    state = WebhookState::kDisabled;
  } else if (proto.state() != v1::WEBHOOK_STATE_UNSPECIFIED &&
             proto.state() != v1::WEBHOOK_STATE_ACTIVE) {
    return InvalidField("webhook.state", "INVALID_ENUM_VALUE",
                        absl::StrCat("unknown WebhookState ", proto.state()));
  }
  return WebhookEndpoint{.url = proto.url(),
                         .event_types = std::move(types),
                         .description = proto.description(),
                         .state = state};
}

void AddTypesOf(const google::protobuf::FileDescriptor* file,
                absl::flat_hash_set<std::string>& types) {
  for (int i = 0; i < file->message_type_count(); ++i) {
    types.insert(file->message_type(i)->full_name());
  }
}

}  // namespace

const absl::flat_hash_set<std::string>& KnownEventTypes() {
  static const auto* const types = [] {
    auto* known = new absl::flat_hash_set<std::string>();
    AddTypesOf(v1::MemberEnrolled::descriptor()->file(), *known);
    AddTypesOf(points::v1::PointsEarned::descriptor()->file(), *known);
    AddTypesOf(rewards::v1::RewardRedeemed::descriptor()->file(), *known);
    return known;
  }();
  return *types;
}

WebhooksHandler::WebhooksHandler(pg::Pool& pool, const Clock& clock, WebhooksHandlerOptions options)
    : pool_(pool),
      clock_(clock),
      options_(std::move(options)),
      page_tokens_(options_.page_token_key) {}

absl::StatusOr<v1::CreateWebhookResponse> WebhooksHandler::CreateWebhook(
    const v1::CreateWebhookRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateRequestId(request.request_id(), "request_id"));
  LOYALTY_RETURN_IF_ERROR(ValidateProgramId(request.program(), "program"));
  if (!request.has_webhook()) {
    return InvalidField("webhook", "FIELD_REQUIRED", "the webhook to create is required");
  }
  LOYALTY_ASSIGN_OR_RETURN(WebhookEndpoint endpoint, ParseWebhook(request.webhook()));
  const absl::Time now = clock_.Now();
  endpoint.program_id = request.program();
  const uint64_t first = options_.random();
  endpoint.webhook_id = RandomId('w', first, options_.random());
  endpoint.secret = NewWebhookSecret();
  endpoint.create_time = now;
  const std::string method(kCreateWebhookMethod);
  const idempotency::Call call{.scope = request.program(),
                               .request_id = request.request_id(),
                               .method = method,
                               .request_hash = idempotency::RequestHash(method, request),
                               .now = now};
  // The answer, secret included, is what a retry with the same request_id gets back.
  return idempotency::RunIdempotent<v1::CreateWebhookResponse>(
      pool_, call, [&](pg::Connection& connection) -> absl::StatusOr<v1::CreateWebhookResponse> {
        LOYALTY_ASSIGN_OR_RETURN(std::optional<Program> program,
                                 LoadProgram(connection, endpoint.program_id));
        if (!program.has_value()) return ProgramNotFound(endpoint.program_id);
        LOYALTY_RETURN_IF_ERROR(InsertWebhook(connection, endpoint));
        v1::CreateWebhookResponse answer;
        *answer.mutable_webhook() = ToProto(endpoint);
        answer.mutable_webhook()->set_secret(endpoint.secret);
        return answer;
      });
}

absl::StatusOr<v1::ListWebhooksResponse> WebhooksHandler::ListWebhooks(
    const v1::ListWebhooksRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateProgramId(request.program(), "program"));
  LOYALTY_ASSIGN_OR_RETURN(int32_t page_size,
                           paging::EffectivePageSize(request.page_size(), "page_size"));
  const std::string filters = absl::StrCat("webhooks|program=", request.program());
  LOYALTY_ASSIGN_OR_RETURN(std::optional<paging::TimeIdKey> after,
                           paging::DecodeTimeIdToken(page_tokens_, request.page_token(), filters));
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
  LOYALTY_ASSIGN_OR_RETURN(std::optional<Program> program,
                           LoadProgram(*connection, request.program()));
  if (!program.has_value()) return ProgramNotFound(request.program());
  LOYALTY_ASSIGN_OR_RETURN(WebhookPage page,
                           members::ListWebhooks(*connection, request.program(), after, page_size));
  v1::ListWebhooksResponse response;
  for (const WebhookEndpoint& endpoint : page.webhooks)
    *response.add_webhooks() = ToProto(endpoint);
  if (page.more) {
    const WebhookEndpoint& last = page.webhooks.back();
    response.set_next_page_token(page_tokens_.Encode(
        paging::PageCursor{{std::to_string(absl::ToUnixMicros(last.create_time)), last.webhook_id}},
        filters));
  }
  return response;
}

absl::StatusOr<v1::GetWebhookResponse> WebhooksHandler::GetWebhook(
    const v1::GetWebhookRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateWebhookRef(request.program(), request.webhook()));
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
  LOYALTY_ASSIGN_OR_RETURN(std::optional<WebhookEndpoint> endpoint,
                           LoadWebhook(*connection, request.program(), request.webhook()));
  if (!endpoint.has_value()) return WebhookNotFound(request.program(), request.webhook());
  v1::GetWebhookResponse response;
  *response.mutable_webhook() = ToProto(*endpoint);
  return response;
}

absl::StatusOr<v1::DeleteWebhookResponse> WebhooksHandler::DeleteWebhook(
    const v1::DeleteWebhookRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateWebhookRef(request.program(), request.webhook()));
  std::optional<int64_t> cancelled;
  LOYALTY_RETURN_IF_ERROR(pool_.InTransaction([&](pg::Connection& connection) -> absl::Status {
    LOYALTY_ASSIGN_OR_RETURN(cancelled, members::DeleteWebhook(connection, request.program(),
                                                               request.webhook(), clock_.Now()));
    return absl::OkStatus();
  }));
  if (!cancelled.has_value()) return WebhookNotFound(request.program(), request.webhook());
  v1::DeleteWebhookResponse response;
  response.set_cancelled_deliveries(*cancelled);
  return response;
}

absl::StatusOr<v1::ListWebhookDeliveriesResponse> WebhooksHandler::ListWebhookDeliveries(
    const v1::ListWebhookDeliveriesRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateWebhookRef(request.program(), request.webhook()));
  LOYALTY_ASSIGN_OR_RETURN(int32_t page_size,
                           paging::EffectivePageSize(request.page_size(), "page_size"));
  if (!v1::DeliveryState_IsValid(request.state())) {
    return InvalidField("state", "INVALID_ENUM_VALUE",
                        absl::StrCat("unknown DeliveryState ", request.state()));
  }
  const std::string filters =
      absl::StrCat("deliveries|program=", request.program(), "|webhook=", request.webhook(),
                   "|state=", request.state());
  std::optional<int64_t> before;
  if (!request.page_token().empty()) {
    LOYALTY_ASSIGN_OR_RETURN(paging::PageCursor cursor,
                             page_tokens_.Decode(request.page_token(), filters, "page_token"));
    int64_t id = 0;
    if (cursor.keys.size() != 1 || !absl::SimpleAtoi(cursor.keys[0], &id)) {
      return InvalidField("page_token", "INVALID_PAGE_TOKEN", "malformed page token");
    }
    before = id;
  }
  std::optional<DeliveryState> state;
  if (request.state() != v1::DELIVERY_STATE_UNSPECIFIED) {
    state = static_cast<DeliveryState>(request.state());
  }
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
  LOYALTY_ASSIGN_OR_RETURN(std::optional<WebhookEndpoint> endpoint,
                           LoadWebhook(*connection, request.program(), request.webhook()));
  if (!endpoint.has_value()) return WebhookNotFound(request.program(), request.webhook());
  LOYALTY_ASSIGN_OR_RETURN(
      DeliveryPage page,
      ListDeliveries(*connection, request.program(), request.webhook(), state, before, page_size));
  v1::ListWebhookDeliveriesResponse response;
  for (const WebhookDelivery& delivery : page.deliveries) {
    *response.add_deliveries() = ToProto(delivery);
  }
  if (page.more) {
    response.set_next_page_token(page_tokens_.Encode(
        paging::PageCursor{{std::to_string(page.deliveries.back().delivery_id)}}, filters));
  }
  return response;
}

absl::StatusOr<v1::RetryWebhookDeliveryResponse> WebhooksHandler::RetryWebhookDelivery(
    const v1::RetryWebhookDeliveryRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateWebhookRef(request.program(), request.webhook()));
  LOYALTY_ASSIGN_OR_RETURN(const int64_t delivery_id, ParseDeliveryId(request.delivery()));
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
  LOYALTY_ASSIGN_OR_RETURN(std::optional<WebhookEndpoint> endpoint,
                           LoadWebhook(*connection, request.program(), request.webhook()));
  if (!endpoint.has_value()) return WebhookNotFound(request.program(), request.webhook());
  LOYALTY_ASSIGN_OR_RETURN(std::optional<WebhookDelivery> retried,
                           RetryDeadDelivery(*connection, request.program(), request.webhook(),
                                             delivery_id, clock_.Now()));
  if (!retried.has_value()) {
    LOYALTY_ASSIGN_OR_RETURN(
        std::optional<WebhookDelivery> found,
        LoadDelivery(*connection, request.program(), request.webhook(), delivery_id));
    const std::string name = absl::StrCat(WebhookName(request.program(), request.webhook()),
                                          "/deliveries/", delivery_id);
    if (!found.has_value()) {
      return ErrorWithReason(absl::StatusCode::kNotFound, "DELIVERY_NOT_FOUND",
                             absl::StrCat("delivery ", name, " not found"), {{"delivery", name}});
    }
    return ErrorWithReason(absl::StatusCode::kFailedPrecondition, "DELIVERY_NOT_DEAD",
                           absl::StrCat("delivery ", name,
                                        " is not DEAD; only dead letters are "
                                        "retried by hand"),
                           {{"delivery", name}});
  }
  v1::RetryWebhookDeliveryResponse response;
  *response.mutable_delivery() = ToProto(*retried);
  return response;
}

absl::Status WebhooksHandler::ApplyEvent(pg::Connection& connection,
                                         const events::v1::Event& event) {
  return QueueDeliveries(connection, event.program(), event.event_id(), event.event_type(),
                         WebhookBody(event), clock_.Now())
      .status();
}

}  // namespace loyalty::members
