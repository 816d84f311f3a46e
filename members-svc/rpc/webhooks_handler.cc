#include "members-svc/rpc/webhooks_handler.h"

#include <algorithm>
#include <array>
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

constexpr std::string_view kServiceName = "loyalty.members.v1.WebhooksService/";
constexpr size_t kWebhookIdLengthMax = 64;

std::string WebhookName(std::string_view program_id, std::string_view webhook_id) {
  return absl::StrCat(ProgramName(program_id), "/webhooks/",
                      absl::string_view(webhook_id.data(), webhook_id.size()));
}

// The idempotency record of a mutation `rpc` (e.g. "CreateWebhook"), keys scoped per program.
idempotency::Call IdempotentCall(std::string_view rpc, const std::string& program_id,
                                 const std::string& request_id,
                                 const google::protobuf::Message& request, absl::Time now) {
  const std::string method =
      absl::StrCat(absl::string_view(kServiceName.data(), kServiceName.size()),
                   absl::string_view(rpc.data(), rpc.size()));
  return idempotency::Call{.scope = program_id,
                           .request_id = request_id,
                           .method = method,
                           .request_hash = idempotency::RequestHash(method, request),
                           .now = now};
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

// The fields an endpoint's owner sets, by their proto names: what CreateWebhook takes and what
// an UpdateWebhook mask may name.
constexpr std::array<std::string_view, 4> kWebhookFields = {"url", "event_types", "description",
                                                            "state"};

// Validates the fields of `proto` named in `paths` (a subset of kWebhookFields) and writes them
// into `endpoint`; violations name the field under `prefix` ("webhook.url"). A state left
// UNSPECIFIED keeps the endpoint's.
absl::Status ApplyWebhookFields(const v1::Webhook& proto, const std::vector<std::string>& paths,
                                std::string_view prefix, WebhookEndpoint& endpoint) {
  auto field = [prefix](std::string_view name) {
    return absl::StrCat(absl::string_view(prefix.data(), prefix.size()), ".",
                        absl::string_view(name.data(), name.size()));
  };
  for (const std::string& path : paths) {
    if (path == "url") {
      LOYALTY_RETURN_IF_ERROR(ParseWebhookUrl(proto.url(), field(path)).status());
      endpoint.url = proto.url();
    } else if (path == "event_types") {
      LOYALTY_ASSIGN_OR_RETURN(
          endpoint.event_types,
          NormalizeEventTypes({proto.event_types().begin(), proto.event_types().end()},
                              KnownEventTypes(), field(path)));
    } else if (path == "description") {
      if (!proto.description().empty()) {
        LOYALTY_RETURN_IF_ERROR(
            ValidateDisplayName(proto.description(), field(path), kWebhookDescriptionCharsMax));
      }
      endpoint.description = proto.description();
    } else if (path == "state") {
      if (proto.state() == v1::WEBHOOK_STATE_ACTIVE) {
        endpoint.state = WebhookState::kActive;
      } else if (proto.state() == v1::WEBHOOK_STATE_DISABLED) {
        endpoint.state = WebhookState::kDisabled;
      } else if (proto.state() != v1::WEBHOOK_STATE_UNSPECIFIED) {
        return InvalidField(field(path), "INVALID_ENUM_VALUE",
                            absl::StrCat("unknown WebhookState ", proto.state()));
      }
    }
  }
  return absl::OkStatus();
}

// The paths of an UpdateWebhook mask: 1..4 of kWebhookFields, each once. INVALID_UPDATE_MASK
// otherwise.
absl::StatusOr<std::vector<std::string>> UpdatePaths(const google::protobuf::FieldMask& mask) {
  if (mask.paths_size() == 0) {
    return InvalidField("update_mask", "INVALID_UPDATE_MASK", "name at least one field");
  }
  std::vector<std::string> paths;
  for (const std::string& path : mask.paths()) {
    if (std::find(kWebhookFields.begin(), kWebhookFields.end(), path) == kWebhookFields.end()) {
      return InvalidField("update_mask", "INVALID_UPDATE_MASK",
                          "only url, event_types, description and state can be changed");
    }
    if (std::find(paths.begin(), paths.end(), path) == paths.end()) paths.push_back(path);
  }
  return paths;
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
  WebhookEndpoint endpoint{.program_id = request.program(), .state = WebhookState::kActive};
  LOYALTY_RETURN_IF_ERROR(ApplyWebhookFields(
      request.webhook(), {kWebhookFields.begin(), kWebhookFields.end()}, "webhook", endpoint));
  const absl::Time now = clock_.Now();
  const uint64_t first = options_.random();
  endpoint.webhook_id = RandomId('w', first, options_.random());
  endpoint.secret = NewWebhookSecret();
  endpoint.create_time = now;
  // The answer, secret included, is what a retry with the same request_id gets back.
  return idempotency::RunIdempotent<v1::CreateWebhookResponse>(
      pool_, IdempotentCall("CreateWebhook", request.program(), request.request_id(), request, now),
      [&](pg::Connection& connection) -> absl::StatusOr<v1::CreateWebhookResponse> {
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

absl::StatusOr<v1::UpdateWebhookResponse> WebhooksHandler::UpdateWebhook(
    const v1::UpdateWebhookRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateRequestId(request.request_id(), "request_id"));
  LOYALTY_RETURN_IF_ERROR(ValidateWebhookRef(request.program(), request.webhook()));
  if (!request.has_webhook_patch()) {
    return InvalidField("webhook_patch", "FIELD_REQUIRED", "the new values are required");
  }
  LOYALTY_ASSIGN_OR_RETURN(const std::vector<std::string> paths,
                           UpdatePaths(request.update_mask()));
  // Validated before any database work, on a scratch endpoint.
  WebhookEndpoint scratch;
  LOYALTY_RETURN_IF_ERROR(
      ApplyWebhookFields(request.webhook_patch(), paths, "webhook_patch", scratch));
  const absl::Time now = clock_.Now();
  return idempotency::RunIdempotent<v1::UpdateWebhookResponse>(
      pool_, IdempotentCall("UpdateWebhook", request.program(), request.request_id(), request, now),
      [&](pg::Connection& connection) -> absl::StatusOr<v1::UpdateWebhookResponse> {
        LOYALTY_ASSIGN_OR_RETURN(
            std::optional<WebhookEndpoint> endpoint,
            LoadWebhook(connection, request.program(), request.webhook(), /*lock=*/true));
        if (!endpoint.has_value()) return WebhookNotFound(request.program(), request.webhook());
        const WebhookState before = endpoint->state;
        LOYALTY_RETURN_IF_ERROR(
            ApplyWebhookFields(request.webhook_patch(), paths, "webhook_patch", *endpoint));
        LOYALTY_RETURN_IF_ERROR(members::UpdateWebhook(connection, *endpoint));
        v1::UpdateWebhookResponse answer;
        // A disabled endpoint is sent nothing, so what waits for it now would wait forever.
        if (before == WebhookState::kActive && endpoint->state == WebhookState::kDisabled) {
          LOYALTY_ASSIGN_OR_RETURN(
              const int64_t cancelled,
              CancelDeliveries(connection, request.program(), request.webhook(), now));
          answer.set_cancelled_deliveries(cancelled);
        }
        *answer.mutable_webhook() = ToProto(*endpoint);
        return answer;
      });
}

absl::StatusOr<v1::DeleteWebhookResponse> WebhooksHandler::DeleteWebhook(
    const v1::DeleteWebhookRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateRequestId(request.request_id(), "request_id"));
  LOYALTY_RETURN_IF_ERROR(ValidateWebhookRef(request.program(), request.webhook()));
  const absl::Time now = clock_.Now();
  return idempotency::RunIdempotent<v1::DeleteWebhookResponse>(
      pool_, IdempotentCall("DeleteWebhook", request.program(), request.request_id(), request, now),
      [&](pg::Connection& connection) -> absl::StatusOr<v1::DeleteWebhookResponse> {
        LOYALTY_ASSIGN_OR_RETURN(
            std::optional<int64_t> cancelled,
            members::DeleteWebhook(connection, request.program(), request.webhook(), now));
        if (!cancelled.has_value()) return WebhookNotFound(request.program(), request.webhook());
        v1::DeleteWebhookResponse answer;
        answer.set_cancelled_deliveries(*cancelled);
        return answer;
      });
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
  LOYALTY_RETURN_IF_ERROR(ValidateRequestId(request.request_id(), "request_id"));
  LOYALTY_RETURN_IF_ERROR(ValidateWebhookRef(request.program(), request.webhook()));
  LOYALTY_ASSIGN_OR_RETURN(const int64_t delivery_id, ParseDeliveryId(request.delivery()));
  const absl::Time now = clock_.Now();
  const std::string name =
      absl::StrCat(WebhookName(request.program(), request.webhook()), "/deliveries/", delivery_id);
  return idempotency::RunIdempotent<v1::RetryWebhookDeliveryResponse>(
      pool_,
      IdempotentCall("RetryWebhookDelivery", request.program(), request.request_id(), request, now),
      [&](pg::Connection& connection) -> absl::StatusOr<v1::RetryWebhookDeliveryResponse> {
        LOYALTY_ASSIGN_OR_RETURN(
            std::optional<WebhookEndpoint> endpoint,
            LoadWebhook(connection, request.program(), request.webhook(), /*lock=*/true));
        if (!endpoint.has_value()) return WebhookNotFound(request.program(), request.webhook());
        if (endpoint->state != WebhookState::kActive) {
          return ErrorWithReason(
              absl::StatusCode::kFailedPrecondition, "WEBHOOK_DISABLED",
              absl::StrCat("webhook ", WebhookName(request.program(), request.webhook()),
                           " is disabled; enable it before retrying its deliveries"),
              {{"webhook", WebhookName(request.program(), request.webhook())}});
        }
        LOYALTY_ASSIGN_OR_RETURN(
            std::optional<WebhookDelivery> retried,
            RetryDeadDelivery(connection, request.program(), request.webhook(), delivery_id, now));
        if (retried.has_value()) {
          v1::RetryWebhookDeliveryResponse answer;
          *answer.mutable_delivery() = ToProto(*retried);
          return answer;
        }
        LOYALTY_ASSIGN_OR_RETURN(
            std::optional<WebhookDelivery> found,
            LoadDelivery(connection, request.program(), request.webhook(), delivery_id));
        if (!found.has_value()) {
          return ErrorWithReason(absl::StatusCode::kNotFound, "DELIVERY_NOT_FOUND",
                                 absl::StrCat("delivery ", name, " not found"),
                                 {{"delivery", name}});
        }
        return ErrorWithReason(
            absl::StatusCode::kFailedPrecondition, "DELIVERY_NOT_DEAD",
            absl::StrCat("delivery ", name, " is not DEAD; only dead letters are retried by hand"),
            {{"delivery", name}});
      });
}

absl::Status WebhooksHandler::ApplyEvents(pg::Connection& connection,
                                          std::span<const events::v1::Event* const> events) {
  std::vector<std::string> programs;
  for (const events::v1::Event* event : events) {
    if (std::find(programs.begin(), programs.end(), event->program()) == programs.end()) {
      programs.push_back(event->program());
    }
  }
  LOYALTY_ASSIGN_OR_RETURN(auto wanted, WantedEventTypes(connection, programs));
  std::vector<QueuedEvent> queued;
  for (const events::v1::Event* event : events) {
    if (!wanted.contains(std::make_pair(event->program(), event->event_type()))) continue;
    queued.push_back({.program_id = event->program(),
                      .event_id = event->event_id(),
                      .event_type = event->event_type(),
                      .body = WebhookBody(*event)});
  }
  if (queued.empty()) return absl::OkStatus();
  return QueueDeliveries(connection, queued, clock_.Now()).status();
}

}  // namespace loyalty::members
