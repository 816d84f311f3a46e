// members-svc: programs, enrolment, member profiles and tiers.
//
//   members-svc            serve gRPC (config from LOYALTY_MEMBERS_* variables, see --help)
//   members-svc --migrate  apply the embedded schema migrations and exit
//
// Exit codes: 0 clean stop, 1 runtime failure (database, ports), 2 bad configuration or usage.

#include <memory>
#include <span>
#include <string>

#include "common/clock.h"
#include "common/events/consumer.h"
#include "common/events/producer.h"
#include "common/service/service_main.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "members-svc/migrations.h"
#include "members-svc/rpc/birthdays.h"
#include "members-svc/rpc/grpc_service.h"
#include "members-svc/rpc/members_handler.h"
#include "members-svc/rpc/points_events.h"
#include "members-svc/rpc/referral_bonus.h"
#include "members-svc/rpc/webhook_config.h"
#include "members-svc/rpc/webhook_dispatcher.h"
#include "members-svc/rpc/webhook_http.h"
#include "members-svc/rpc/webhooks_grpc_service.h"
#include "members-svc/rpc/webhooks_handler.h"

namespace loyalty::members {
namespace {

constexpr int kTierReviewBatchMax = 500;
constexpr int kWebhookPruneBatchMax = 5000;
// members-svc's own events are fanned out to webhooks by reading its outbox directly
// (events::FollowOutbox): pages of this many events, at most this many pages a round.
constexpr int kOwnEventsPageSize = 100;
constexpr int kOwnEventsPagesMax = 50;
// The name every webhook fan-out is known by to the producers (their pruning waits for it).
constexpr char kWebhooksConsumer[] = "members-svc-webhooks";
// The consumer-side stream of members-svc's own events, read from its outbox; its applied ids
// are pruned like the remote consumers' (service::Built.applied_retention).
constexpr char kOwnEventsStream[] = "members-webhooks";
// A development default so `scripts/run` works out of the box; production sets its own secret
// so every replica accepts the others' page tokens (docs/configuration.md).
constexpr char kDevPageTokenSecret[] = "loyalty-dev-page-token-secret-change-me";

struct State {
  RealClock clock;
  std::unique_ptr<MembersHandler> handler;
  std::unique_ptr<GrpcMembersService> service;
  std::unique_ptr<events::Producer> events;
  std::unique_ptr<BirthdayAwarder> birthdays;
  std::unique_ptr<ReferralBonus> referral_bonus;
  std::unique_ptr<WebhooksHandler> webhooks;
  std::unique_ptr<GrpcWebhooksService> webhooks_service;
  std::unique_ptr<WebhookHttpClient> webhook_client;
  // Destroyed before the client and pool it uses: stops its workers.
  std::unique_ptr<WebhookDispatcher> webhook_dispatcher;
  // Last: their destructors stop the threads that apply events through the handlers.
  std::unique_ptr<events::EventConsumer> points_events;
  std::unique_ptr<events::EventConsumer> points_webhook_events;
  std::unique_ptr<events::EventConsumer> rewards_webhook_events;
};

absl::StatusOr<service::Built> Build(config::EnvReader& reader, const config::ServiceConfig& config,
                                     pg::Pool& pool) {
  const std::string secret = reader.String("LOYALTY_PAGE_TOKEN_SECRET", kDevPageTokenSecret, 256);
  const int64_t review_interval_ms =
      reader.Int("LOYALTY_MEMBERS_TIER_REVIEW_INTERVAL_MS", 60'000, 1'000, 86'400'000);
  const std::string points_address =
      reader.String("LOYALTY_MEMBERS_POINTS_ADDR", "127.0.0.1:50052", 255);
  const int64_t points_deadline_ms =
      reader.Int("LOYALTY_MEMBERS_POINTS_DEADLINE_MS", 2'000, 10, 60'000);
  const int64_t birthday_interval_ms =
      reader.Int("LOYALTY_MEMBERS_BIRTHDAY_INTERVAL_MS", 3'600'000, 1'000, 86'400'000);
  const std::string rewards_address =
      reader.String("LOYALTY_MEMBERS_REWARDS_ADDR", "127.0.0.1:50053", 255);
  const events::ProducerConfig events_config = events::ReadProducerConfig(reader, "MEMBERS");
  const absl::StatusOr<WebhookConfig> webhook_config = ReadWebhookConfig(reader);
  if (!reader.status().ok()) return absl::InvalidArgumentError("bad configuration");
  if (!webhook_config.ok()) return webhook_config.status();
  if (secret.size() < 16) {
    return absl::InvalidArgumentError("LOYALTY_PAGE_TOKEN_SECRET must be at least 16 characters");
  }
  auto state = std::make_shared<State>();
  state->handler = std::make_unique<MembersHandler>(
      pool, state->clock, MembersHandlerOptions{.page_token_key = secret});
  state->service = std::make_unique<GrpcMembersService>(*state->handler);
  state->events = std::make_unique<events::Producer>(
      pool, service::ConnectionOptionsFor(config, "members-svc-events"), state->clock,
      events_config);
  // One channel to points-svc: its event stream, and the birthday and referral bonuses.
  const std::shared_ptr<grpc::Channel> points =
      grpc::CreateChannel(points_address, grpc::InsecureChannelCredentials());
  const absl::Duration points_deadline = absl::Milliseconds(points_deadline_ms);
  state->birthdays = std::make_unique<BirthdayAwarder>(pool, state->clock, points, points_deadline);
  state->referral_bonus = std::make_unique<ReferralBonus>(points, points_deadline);
  MembersHandler* handler = state->handler.get();
  BirthdayAwarder* birthdays = state->birthdays.get();
  ReferralBonus* referral_bonus = state->referral_bonus.get();
  // Points earned and refunded in points-svc are the qualifying activity that moves tiers, and a
  // referee's first earning purchase pays the referral bonus, in the same transaction.
  state->points_events = std::make_unique<events::EventConsumer>(
      pool, points,
      events::ConsumerOptions{
          .stream = "points", .consumer = "members-svc", .types = PointsEventTypes()},
      // A whole message at once: a handful of statements instead of several per event, so the
      // consumer keeps up with points-svc's purchase rate (docs/events.md).
      [handler, referral_bonus](pg::Connection& connection,
                                std::span<const events::v1::Event* const> fresh_events) {
        if (absl::Status applied = handler->ApplyPointsEvents(connection, fresh_events);
            !applied.ok()) {
          return applied;
        }
        return referral_bonus->ApplyPointsEvents(connection, fresh_events);
      });
  // Webhooks (docs/webhooks.md): every event of the three services is fanned out into deliveries
  // for the endpoints that want it, exactly once (in the consumer's transaction), and sent at
  // least once by the dispatcher.
  absl::StatusOr<std::unique_ptr<WebhookHttpClient>> client =
      WebhookHttpClient::Create(webhook_config->http);
  if (!client.ok()) return client.status();
  state->webhook_client = *std::move(client);
  state->webhooks = std::make_unique<WebhooksHandler>(
      pool, state->clock, WebhooksHandlerOptions{.page_token_key = secret});
  state->webhooks_service = std::make_unique<GrpcWebhooksService>(*state->webhooks);
  state->webhook_dispatcher = std::make_unique<WebhookDispatcher>(
      pool, state->clock, *state->webhook_client, webhook_config->dispatcher);
  WebhooksHandler* webhooks = state->webhooks.get();
  WebhookDispatcher* dispatcher = state->webhook_dispatcher.get();
  // A whole message at once: one read of what endpoints want, one insert of what they get.
  const events::ApplyBatchFn fan_out = [webhooks](
                                           pg::Connection& connection,
                                           std::span<const events::v1::Event* const> fresh_events) {
    return webhooks->ApplyEvents(connection, fresh_events);
  };
  state->points_webhook_events = std::make_unique<events::EventConsumer>(
      pool, points,
      events::ConsumerOptions{.stream = "points-webhooks", .consumer = kWebhooksConsumer}, fan_out);
  state->rewards_webhook_events = std::make_unique<events::EventConsumer>(
      pool, grpc::CreateChannel(rewards_address, grpc::InsecureChannelCredentials()),
      events::ConsumerOptions{.stream = "rewards-webhooks", .consumer = kWebhooksConsumer},
      fan_out);
  dispatcher->Start();
  const absl::Duration webhook_retention = webhook_config->retention;
  // Downgrades are due at a point in time, not on a request: a background sweep applies them,
  // in bounded batches, for members nobody reads. The ids of applied points events are kept as
  // long as this service keeps its own events.
  return service::Built{
      .state = state,
      .services = {state->service.get(), state->webhooks_service.get()},
      .loops = {{.name = "tier-review",
                 .interval = absl::Milliseconds(review_interval_ms),
                 .run_once =
                     [handler] { return handler->ApplyDueTierChanges(kTierReviewBatchMax); }},
                // Today's birthdays get points-svc's BIRTHDAY activity (rpc/birthdays.h).
                {.name = "birthdays",
                 .interval = absl::Milliseconds(birthday_interval_ms),
                 .run_once = [birthdays] { return birthdays->RunOnce(kBirthdayRoundMax); }},
                // members-svc's own events, fanned out from its outbox table.
                {.name = "webhook-own-events",
                 .interval = webhook_config->dispatcher.poll_interval,
                 .run_once =
                     [&pool, fan_out] {
                       return events::FollowOutbox(pool, kOwnEventsStream, kWebhooksConsumer,
                                                   fan_out, kOwnEventsPageSize, kOwnEventsPagesMax);
                     }},
                {.name = "webhook-own-events-prune",
                 .interval = absl::Minutes(1),
                 .run_once =
                     [&pool, retention = events_config.retention] {
                       return events::PruneApplied(pool, kOwnEventsStream, absl::Now() - retention,
                                                   events::kPruneBatchMax);
                     }},
                {.name = "webhook-retention",
                 .interval = absl::Minutes(1),
                 .run_once =
                     [dispatcher, webhook_retention] {
                       return dispatcher->PruneFinished(absl::Now() - webhook_retention,
                                                        kWebhookPruneBatchMax);
                     }}},
      .register_metrics =
          [dispatcher](prometheus::Registry& registry) { dispatcher->ExportMetrics(registry); },
      .producer = state->events.get(),
      .consumers = {state->points_events.get(), state->points_webhook_events.get(),
                    state->rewards_webhook_events.get()},
      .applied_retention = events_config.retention};
}

}  // namespace
}  // namespace loyalty::members

int main(int argc, char** argv) {
  loyalty::service::Spec spec;
  spec.name = "members-svc";
  spec.defaults = loyalty::config::ServiceDefaults{
      .env_prefix = "MEMBERS", .schema = "members", .grpc_port = 50051, .metrics_port = 9101};
  spec.migrations = loyalty::members::Migrations();
  spec.extra_help = {
      {"LOYALTY_PAGE_TOKEN_SECRET",
       "HMAC key for page tokens, >= 16 characters, same on every replica"},
      {"LOYALTY_MEMBERS_TIER_REVIEW_INTERVAL_MS",
       "how often due tier downgrades are applied (default: 60000)"},
      {"LOYALTY_MEMBERS_POINTS_ADDR",
       "points-svc gRPC address: its PointsEarned/PointsRefunded events move tiers and pay "
       "referral bonuses; birthday and referral bonuses are asked of it (default: "
       "127.0.0.1:50052)"},
      {"LOYALTY_MEMBERS_POINTS_DEADLINE_MS", "deadline of calls to points-svc (default: 2000)"},
      {"LOYALTY_MEMBERS_BIRTHDAY_INTERVAL_MS",
       "how often today's birthdays are looked for (default: 3600000)"}};
  spec.extra_help.push_back(
      {"LOYALTY_MEMBERS_REWARDS_ADDR",
       "rewards-svc gRPC address: its events are fanned out to webhooks (default: "
       "127.0.0.1:50053)"});
  for (auto& variable : loyalty::members::WebhookConfigHelp()) {
    spec.extra_help.push_back(std::move(variable));
  }
  for (auto& variable : loyalty::events::ProducerConfigHelp("MEMBERS")) {
    spec.extra_help.push_back(std::move(variable));
  }
  return loyalty::service::Main(argc, argv, spec, loyalty::members::Build);
}
