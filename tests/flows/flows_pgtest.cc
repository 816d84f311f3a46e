// The flows between services through their event streams (docs/events.md, "Who consumes
// what"): members-svc, points-svc and rewards-svc in-process, each on a gRPC port 0 with its own
// fresh schema of the test PostgreSQL, serving its EventStreamService, and the consumers the
// services' main.cc wire, applying through the same handler methods.

#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/check.h"
#include "common/clock.h"
#include "common/events/consumer.h"
#include "common/events/outbox.h"
#include "common/events/producer.h"
#include "common/rpc/proto_time.h"
#include "common/status/grpc_status.h"
#include "common/testkit/service_harness.h"
#include "common/testkit/status_matchers.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "loyalty/points/v1/points_events.pb.h"
#include "members-svc/migrations.h"
#include "members-svc/rpc/grpc_service.h"
#include "members-svc/rpc/members_handler.h"
#include "members-svc/rpc/points_events.h"
#include "members-svc/rpc/testing/webhook_receiver.h"
#include "members-svc/rpc/webhook_dispatcher.h"
#include "members-svc/rpc/webhook_http.h"
#include "members-svc/rpc/webhooks_handler.h"
#include "points-svc/migrations.h"
#include "points-svc/rpc/grpc_service.h"
#include "points-svc/rpc/member_directory.h"
#include "points-svc/rpc/member_events.h"
#include "points-svc/rpc/points_handler.h"
#include "rewards-svc/migrations.h"
#include "rewards-svc/rpc/grpc_service.h"
#include "rewards-svc/rpc/rewards_handler.h"
#include "rewards-svc/rpc/upstream.h"
#include "rewards-svc/rpc/voucher_keys.h"

namespace loyalty {
namespace {

namespace mv1 = ::loyalty::members::v1;
namespace pv1 = ::loyalty::points::v1;
namespace rv1 = ::loyalty::rewards::v1;
using ::loyalty::testkit::IsOk;
using ::loyalty::testkit::StatusIs;

constexpr char kProgram[] = "shop";
constexpr char kKey[] = "flows-test-page-token-key";
constexpr char kVoucherKey[] = "flows-test-voucher-key-0123456789abcdef";
// Every wait on another service's stream gives up after this.
constexpr absl::Duration kWaitMax = absl::Seconds(30);

template <typename Stub, typename Request, typename Response>
absl::StatusOr<Response> Call(Stub& stub,
                              grpc::Status (Stub::*rpc)(grpc::ClientContext*, const Request&,
                                                        Response*),
                              const Request& request) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  Response response;
  grpc::Status status = (stub.*rpc)(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

// Polls `condition` until it holds or kWaitMax passes; returns whether it held.
bool WaitFor(const std::function<bool()>& condition) {
  const absl::Time give_up = absl::Now() + kWaitMax;
  while (absl::Now() < give_up) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(10));  // Polls a condition; orders nothing.
  }
  return condition();
}

int64_t CountIn(pg::Pool& pool, const std::string& sql) {
  auto connection = pool.Acquire();
  LOYALTY_CHECK(connection.ok());
  auto rows = (*connection)->ExecuteScript("t_count", sql);
  LOYALTY_CHECK(rows.ok());
  return rows->Int64(0, 0);
}

void ExecuteIn(pg::Pool& pool, const std::string& sql) {
  auto connection = pool.Acquire();
  LOYALTY_CHECK(connection.ok());
  LOYALTY_CHECK((*connection)->ExecuteScript("t_execute", sql).ok());
}

class FlowsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    members_schema_ = testkit::MustSchema("members");
    points_schema_ = testkit::MustSchema("points");
    members_pool_ = members_schema_->MakePool(4);
    points_pool_ = points_schema_->MakePool(8);
    testkit::MustMigrate(*members_pool_, members::Migrations());
    testkit::MustMigrate(*points_pool_, points::Migrations());

    members_handler_ = std::make_unique<members::MembersHandler>(
        *members_pool_, clock_, members::MembersHandlerOptions{.page_token_key = kKey});
    members_service_ = std::make_unique<members::GrpcMembersService>(*members_handler_);
    members_events_ = std::make_unique<events::Producer>(
        *members_pool_, members_schema_->connection_options(), clock_, events::ProducerConfig{});
    members_server_ = Serve("members-test", {members_service_.get(), members_events_->service()});
    members_stub_ = mv1::MembersService::NewStub(testkit::InsecureChannel(MembersAddress()));

    directory_ = std::make_unique<points::GrpcMemberDirectory>(
        testkit::InsecureChannel(MembersAddress()), absl::Seconds(10));
    // An hour: whatever reaches points-svc in these tests came through the stream, not because
    // what it remembered grew stale.
    points_handler_ = std::make_unique<points::PointsHandler>(
        *points_pool_, clock_, *directory_,
        points::PointsHandlerOptions{.page_token_key = kKey, .projection_ttl = absl::Hours(1)});
    points_service_ = std::make_unique<points::GrpcPointsService>(*points_handler_);
    points_events_ = std::make_unique<events::Producer>(
        *points_pool_, points_schema_->connection_options(), clock_, events::ProducerConfig{});
    points_server_ = Serve("points-test", {points_service_.get(), points_events_->service()});
    points_stub_ = pv1::PointsService::NewStub(testkit::InsecureChannel(PointsAddress()));

    mv1::CreateProgramRequest program;
    program.set_request_id("program");
    program.mutable_program()->set_id(kProgram);
    program.mutable_program()->set_display_name("Shop");
    program.mutable_program()->set_currency_code("EUR");
    ASSERT_THAT(Call(*members_stub_, &mv1::MembersService::Stub::CreateProgram, program), IsOk());
  }

  void TearDown() override {
    // Consumers first: they apply through the handlers and read the producers' streams.
    if (webhook_dispatcher_ != nullptr) webhook_dispatcher_->Stop();
    webhook_consumers_.clear();
    member_consumer_.reset();
    points_consumer_.reset();
    stamp_consumer_.reset();
    tier_consumer_.reset();
  }

  // rewards-svc, on demand, and its consumer of points-svc's stream as rewards-svc/main.cc
  // wires it.
  void StartRewardsConsumingPoints() {
    rewards_schema_ = testkit::MustSchema("rewards");
    rewards_pool_ = rewards_schema_->MakePool(4);
    testkit::MustMigrate(*rewards_pool_, rewards::Migrations());
    upstream_ = std::make_unique<rewards::Upstream>(testkit::InsecureChannel(PointsAddress()),
                                                    testkit::InsecureChannel(MembersAddress()),
                                                    absl::Seconds(10));
    auto keys = rewards::VoucherKeys::Create(kVoucherKey);
    LOYALTY_CHECK(keys.ok());
    rewards_handler_ = std::make_unique<rewards::RewardsHandler>(
        *rewards_pool_, clock_, *upstream_, *std::move(keys),
        rewards::RewardsHandlerOptions{.page_token_key = kKey});
    rewards_service_ = std::make_unique<rewards::GrpcRewardsService>(*rewards_handler_);
    rewards_events_ = std::make_unique<events::Producer>(
        *rewards_pool_, rewards_schema_->connection_options(), clock_, events::ProducerConfig{});
    rewards_server_ = Serve("rewards-test", {rewards_service_.get(), rewards_events_->service()});
    rewards_stub_ = rv1::RewardsService::NewStub(
        testkit::InsecureChannel(testkit::AddressOf(*rewards_server_)));
    RestartStampConsumer();
  }

  // A punch card: three coffee orders give a free coffee.
  void DefineCoffeeCard() {
    rv1::CreateRewardRequest reward;
    reward.set_program(kProgram);
    reward.set_request_id("coffee");
    reward.mutable_reward()->set_title("Free coffee");
    reward.mutable_reward()->set_points_cost(100);
    reward.mutable_reward()->mutable_free_product()->set_sku("coffee-1");
    auto coffee = Call(*rewards_stub_, &rv1::RewardsService::Stub::CreateReward, reward);
    LOYALTY_CHECK(coffee.ok());
    rv1::CreatePunchCardDefinitionRequest define;
    define.set_program(kProgram);
    define.set_request_id("card");
    define.mutable_definition()->set_title("Three coffees, one free");
    define.mutable_definition()->set_category("coffee");
    define.mutable_definition()->set_stamps_needed(3);
    define.mutable_definition()->set_reward(coffee->reward().id());
    LOYALTY_CHECK(
        Call(*rewards_stub_, &rv1::RewardsService::Stub::CreatePunchCardDefinition, define).ok());
  }

  // Stamps on the member's open coffee card.
  int32_t OpenStamps(const std::string& member) {
    rv1::ListPunchCardsRequest list;
    list.set_program(kProgram);
    list.set_member(member);
    auto cards = Call(*rewards_stub_, &rv1::RewardsService::Stub::ListPunchCards, list);
    LOYALTY_CHECK(cards.ok() && cards->cards_size() == 1);
    return cards->cards(0).stamps();
  }

  void RestartStampConsumer() {
    stamp_consumer_.reset();
    rewards::RewardsHandler* handler = rewards_handler_.get();
    stamp_consumer_ = std::make_unique<events::EventConsumer>(
        *rewards_pool_, testkit::InsecureChannel(PointsAddress()),
        Options("points", "rewards-svc", rewards::RewardsHandler::PointsEventTypes()),
        [handler](pg::Connection& connection, const events::v1::Event& event) {
          return handler->ApplyPointsEvent(connection, event);
        });
    stamp_consumer_->Start();
  }

  static std::unique_ptr<server::GrpcServer> Serve(const std::string& name,
                                                   std::vector<grpc::Service*> services) {
    auto server = server::GrpcServer::Start(
        {.service_name = name, .listen_address = "127.0.0.1", .grpc_port = 0, .metrics_port = -1},
        std::move(services));
    LOYALTY_CHECK(server.ok());
    return *std::move(server);
  }
  std::string MembersAddress() const { return testkit::AddressOf(*members_server_); }
  std::string PointsAddress() const { return testkit::AddressOf(*points_server_); }

  static events::ConsumerOptions Options(std::string stream, std::string consumer,
                                         std::vector<std::string> types) {
    return {.stream = std::move(stream),
            .consumer = std::move(consumer),
            .types = std::move(types),
            .backoff_initial = absl::Milliseconds(10),
            .backoff_max = absl::Milliseconds(200)};
  }

  // points-svc following members-svc, as points-svc/main.cc wires it.
  void StartPointsConsumingMembers() {
    points::PointsHandler* handler = points_handler_.get();
    member_consumer_ = std::make_unique<events::EventConsumer>(
        *points_pool_, testkit::InsecureChannel(MembersAddress()),
        Options("members", "points-svc", points::MemberEventTypes()),
        [handler](pg::Connection& connection, const events::v1::Event& event) {
          return handler->ApplyMemberEvent(connection, event);
        });
    member_consumer_->Start();
  }

  // members-svc following points-svc, as members-svc/main.cc wires it.
  void StartMembersConsumingPoints() {
    members::MembersHandler* handler = members_handler_.get();
    points_consumer_ = std::make_unique<events::EventConsumer>(
        *members_pool_, testkit::InsecureChannel(PointsAddress()),
        Options("points", "members-svc", members::PointsEventTypes()),
        [handler](pg::Connection& connection,
                  std::span<const events::v1::Event* const> fresh_events) {
          return handler->ApplyPointsEvents(connection, fresh_events);
        });
    points_consumer_->Start();
  }

  // rewards-svc following members-svc for its copy of tiers, as rewards-svc/main.cc wires it.
  void StartRewardsConsumingMembers() {
    rewards::RewardsHandler* handler = rewards_handler_.get();
    tier_consumer_ = std::make_unique<events::EventConsumer>(
        *rewards_pool_, testkit::InsecureChannel(MembersAddress()),
        Options("members", "rewards-svc", rewards::RewardsHandler::MemberEventTypes()),
        [handler](pg::Connection& connection, const events::v1::Event& event) {
          return handler->ApplyMemberEvent(connection, event);
        });
    tier_consumer_->Start();
  }

  // The member's tier in rewards-svc's copy; empty when not copied.
  std::string CopiedTier(const std::string& member) {
    static constexpr pg::Query kTier{
        "t_copied_tier", "SELECT COALESCE(max(tier), '') FROM member_tiers WHERE member_id = $1"};
    auto connection = rewards_pool_->Acquire();
    LOYALTY_CHECK(connection.ok());
    auto rows = (*connection)->Execute(kTier, pg::Params().Add(member));
    LOYALTY_CHECK(rows.ok());
    return rows->String(0, 0);
  }

  // Qualifying points straight into members-svc (what its points consumer does for purchases).
  void Qualify(const std::string& member, const std::string& event_id, int64_t points) {
    mv1::RecordQualifyingActivityRequest request;
    request.set_program(kProgram);
    request.set_member(member);
    request.set_event_id(event_id);
    request.set_points(points);
    *request.mutable_occur_time() = ToTimestamp(absl::Now());
    LOYALTY_CHECK(
        Call(*members_stub_, &mv1::MembersService::Stub::RecordQualifyingActivity, request).ok());
  }

  absl::StatusOr<rv1::RedeemRewardResponse> Redeem(const std::string& member,
                                                   const std::string& reward,
                                                   const std::string& request_id) {
    rv1::RedeemRewardRequest request;
    request.set_program(kProgram);
    request.set_member(member);
    request.set_reward(reward);
    request.set_request_id(request_id);
    return Call(*rewards_stub_, &rv1::RewardsService::Stub::RedeemReward, request);
  }

  // Waits until `consumer` has passed every event `producer_pool`'s outbox holds now.
  static bool AwaitCaughtUp(events::EventConsumer& consumer, pg::Pool& producer_pool) {
    {
      // Committed events get their sequence a moment after COMMIT: number them now.
      absl::StatusOr<pg::PooledConnection> connection = producer_pool.Acquire();
      LOYALTY_CHECK(connection.ok());
      LOYALTY_CHECK(events::NumberCommittedEvents(**connection, /*wait=*/true).ok());
    }
    const int64_t head =
        CountIn(producer_pool, "SELECT COALESCE(max(sequence), 0) FROM outbox_events");
    return WaitFor([&] {
      absl::StatusOr<int64_t> cursor = consumer.LoadCursor();
      return cursor.ok() && *cursor >= head;
    });
  }

  std::string Enroll(const std::string& name) {
    mv1::EnrollMemberRequest request;
    request.set_program(kProgram);
    request.set_request_id("enrol-" + name);
    request.mutable_profile()->set_email(name + "@example.com");
    auto response = Call(*members_stub_, &mv1::MembersService::Stub::EnrollMember, request);
    LOYALTY_CHECK(response.ok());
    return response->member().id();
  }

  // SuspendMember or ReactivateMember of `member`.
  template <typename Request, typename Response>
  absl::Status ChangeStatus(grpc::Status (mv1::MembersService::Stub::*rpc)(grpc::ClientContext*,
                                                                           const Request&,
                                                                           Response*),
                            const std::string& member) {
    Request request;
    request.set_program(kProgram);
    request.set_member(member);
    request.set_request_id(absl::StrCat(Request::descriptor()->name(), "-", member));
    return Call(*members_stub_, rpc, request).status();
  }
  absl::Status Suspend(const std::string& member) {
    return ChangeStatus(&mv1::MembersService::Stub::SuspendMember, member);
  }
  absl::Status Reactivate(const std::string& member) {
    return ChangeStatus(&mv1::MembersService::Stub::ReactivateMember, member);
  }

  mv1::GetTierStatusResponse TierStatus(const std::string& member) {
    mv1::GetTierStatusRequest request;
    request.set_program(kProgram);
    request.set_member(member);
    auto response = Call(*members_stub_, &mv1::MembersService::Stub::GetTierStatus, request);
    LOYALTY_CHECK(response.ok());
    return *response;
  }

  // A purchase of `total_minor` EUR cents (1 point per euro at the default rules).
  absl::StatusOr<pv1::RecordPurchaseResponse> Purchase(const std::string& member,
                                                       const std::string& order,
                                                       int64_t total_minor) {
    pv1::RecordPurchaseRequest request;
    request.set_program(kProgram);
    request.set_member(member);
    request.set_request_id("purchase-" + order);
    request.set_order_id(order);
    request.set_currency_code("EUR");
    request.set_total_minor(total_minor);
    return Call(*points_stub_, &pv1::PointsService::Stub::RecordPurchase, request);
  }

  // A purchase of `quantity` units of one `category` item at 2.00 EUR each.
  absl::StatusOr<pv1::RecordPurchaseResponse> PurchaseLines(const std::string& member,
                                                            const std::string& order,
                                                            const std::string& category,
                                                            int64_t quantity) {
    pv1::RecordPurchaseRequest request;
    request.set_program(kProgram);
    request.set_member(member);
    request.set_request_id("purchase-" + order);
    request.set_order_id(order);
    request.set_currency_code("EUR");
    request.set_total_minor(200 * quantity);
    pv1::PurchaseLine* line = request.add_lines();
    line->set_sku(category + "-1");
    line->set_category(category);
    line->set_quantity(quantity);
    line->set_unit_price_minor(200);
    return Call(*points_stub_, &pv1::PointsService::Stub::RecordPurchase, request);
  }

  absl::Status Refund(const std::string& member, const std::string& order, int64_t amount_minor) {
    pv1::RefundPurchaseRequest request;
    request.set_program(kProgram);
    request.set_member(member);
    request.set_order_id(order);
    request.set_request_id("refund-" + order);
    request.set_amount_minor(amount_minor);
    return Call(*points_stub_, &pv1::PointsService::Stub::RefundPurchase, request).status();
  }

  // The member's status in points-svc's projection; 0 when not projected.
  int64_t ProjectedStatus(const std::string& member) {
    static constexpr pg::Query kStatus{
        "t_projected_status",
        "SELECT COALESCE(max(status), 0) FROM member_projection WHERE member_id = $1"};
    auto connection = points_pool_->Acquire();
    LOYALTY_CHECK(connection.ok());
    auto rows = (*connection)->Execute(kStatus, pg::Params().Add(member));
    LOYALTY_CHECK(rows.ok());
    return rows->Int64(0, 0);
  }

  RealClock clock_;
  std::unique_ptr<testkit::TestSchema> members_schema_, points_schema_;
  std::unique_ptr<pg::Pool> members_pool_, points_pool_;
  std::unique_ptr<members::MembersHandler> members_handler_;
  std::unique_ptr<members::GrpcMembersService> members_service_;
  std::unique_ptr<events::Producer> members_events_;
  std::unique_ptr<server::GrpcServer> members_server_;
  std::unique_ptr<mv1::MembersService::Stub> members_stub_;
  std::unique_ptr<points::GrpcMemberDirectory> directory_;
  std::unique_ptr<points::PointsHandler> points_handler_;
  std::unique_ptr<points::GrpcPointsService> points_service_;
  std::unique_ptr<events::Producer> points_events_;
  std::unique_ptr<server::GrpcServer> points_server_;
  std::unique_ptr<pv1::PointsService::Stub> points_stub_;
  std::unique_ptr<events::EventConsumer> member_consumer_;
  std::unique_ptr<events::EventConsumer> points_consumer_;
  std::unique_ptr<testkit::TestSchema> rewards_schema_;
  std::unique_ptr<pg::Pool> rewards_pool_;
  std::unique_ptr<rewards::Upstream> upstream_;
  std::unique_ptr<rewards::RewardsHandler> rewards_handler_;
  std::unique_ptr<rewards::GrpcRewardsService> rewards_service_;
  std::unique_ptr<events::Producer> rewards_events_;
  std::unique_ptr<server::GrpcServer> rewards_server_;
  std::unique_ptr<rv1::RewardsService::Stub> rewards_stub_;
  std::unique_ptr<events::EventConsumer> stamp_consumer_;
  std::unique_ptr<events::EventConsumer> tier_consumer_;
  std::unique_ptr<members::WebhooksHandler> webhooks_;
  std::unique_ptr<members::WebhookHttpClient> webhook_client_;
  std::unique_ptr<members::WebhookDispatcher> webhook_dispatcher_;
  std::vector<std::unique_ptr<events::EventConsumer>> webhook_consumers_;
};

// --- points-svc follows members-svc --------------------------------------------------------

TEST_F(FlowsTest, ASuspensionReachesPointsThroughTheStreamAndTheNextPurchaseFails) {
  const std::string alice = Enroll("alice");
  // The first purchase projects Alice by GetMember and remembers her as active for an hour.
  ASSERT_THAT(Purchase(alice, "o1", 1000), IsOk());
  StartPointsConsumingMembers();

  ASSERT_THAT(Suspend(alice), IsOk());
  ASSERT_TRUE(WaitFor([&] { return ProjectedStatus(alice) == mv1::MEMBER_STATUS_SUSPENDED; }))
      << "the suspension never reached points-svc's projection";
  EXPECT_THAT(Purchase(alice, "o2", 1000),
              StatusIs(absl::StatusCode::kFailedPrecondition, "MEMBER_SUSPENDED"));

  ASSERT_THAT(Reactivate(alice), IsOk());
  ASSERT_TRUE(WaitFor([&] { return ProjectedStatus(alice) == mv1::MEMBER_STATUS_ACTIVE; }));
  EXPECT_THAT(Purchase(alice, "o3", 1000), IsOk());
}

TEST_F(FlowsTest, AMemberNotYetProjectedStillEarnsThroughGetMember) {
  // No consumer runs: the stream has brought nothing, and the purchase asks members-svc.
  const std::string bob = Enroll("bob");
  auto purchase = Purchase(bob, "o1", 2500);
  ASSERT_THAT(purchase, IsOk());
  EXPECT_EQ(ProjectedStatus(bob), mv1::MEMBER_STATUS_ACTIVE);

  // The enrolment arriving later does not overwrite what GetMember projected.
  ASSERT_THAT(Suspend(bob), IsOk());
  StartPointsConsumingMembers();
  ASSERT_TRUE(AwaitCaughtUp(*member_consumer_, *members_pool_));
  EXPECT_EQ(ProjectedStatus(bob), mv1::MEMBER_STATUS_SUSPENDED);
}

// --- members-svc follows points-svc --------------------------------------------------------

TEST_F(FlowsTest, PurchasesMoveTheTierOnceEvenWhenTheStreamIsReplayed) {
  const std::string alice = Enroll("alice");
  StartPointsConsumingMembers();
  StartMembersConsumingPoints();
  // 600 + 500 points reach silver (1000); a refund of 200 takes 200 back, and silver stays
  // until the window and grace are over.
  ASSERT_THAT(Purchase(alice, "o1", 60000), IsOk());
  ASSERT_THAT(Purchase(alice, "o2", 50000), IsOk());
  ASSERT_THAT(Refund(alice, "o2", 20000), IsOk());
  ASSERT_TRUE(AwaitCaughtUp(*points_consumer_, *points_pool_));

  const auto expect_silver_once = [&](int64_t qualifying_points, const std::string& when) {
    const mv1::GetTierStatusResponse status = TierStatus(alice);
    EXPECT_EQ(status.current_tier().code(), "silver") << when;
    EXPECT_EQ(status.qualifying_points(), qualifying_points) << when;
    EXPECT_EQ(CountIn(*members_pool_, "SELECT count(*) FROM tier_history WHERE kind = 'UPGRADE'"),
              1)
        << when;
    EXPECT_EQ(CountIn(*members_pool_,
                      "SELECT count(*) FROM outbox_events "
                      "WHERE event_type = 'loyalty.members.v1.TierChanged'"),
              1)
        << when;
  };
  expect_silver_once(900, "after the stream");

  // The TierChanged goes back to points-svc: silver earns 125 %.
  ASSERT_TRUE(AwaitCaughtUp(*member_consumer_, *members_pool_));
  auto silver_purchase = Purchase(alice, "o3", 10000);
  ASSERT_THAT(silver_purchase, IsOk());
  EXPECT_EQ(silver_purchase->points(), 125);
  ASSERT_TRUE(AwaitCaughtUp(*points_consumer_, *points_pool_));
  EXPECT_EQ(TierStatus(alice).qualifying_points(), 1025);

  // A rewound cursor replays every points event; the applied ids keep them from counting.
  points_consumer_.reset();
  ExecuteIn(*members_pool_, "UPDATE event_cursors SET last_sequence = 0");
  StartMembersConsumingPoints();
  ASSERT_TRUE(AwaitCaughtUp(*points_consumer_, *points_pool_));
  EXPECT_EQ(TierStatus(alice).qualifying_points(), 1025);

  // Delivered twice with the applied ids gone too: qualifying activity is keyed by event id.
  points_consumer_.reset();
  ExecuteIn(*members_pool_,
            "DELETE FROM applied_events; UPDATE event_cursors SET last_sequence = 0");
  StartMembersConsumingPoints();
  ASSERT_TRUE(AwaitCaughtUp(*points_consumer_, *points_pool_));
  EXPECT_EQ(TierStatus(alice).qualifying_points(), 1025);
  EXPECT_EQ(CountIn(*members_pool_, "SELECT count(*) FROM qualifying_activity"), 4);
  expect_silver_once(1025, "after two replays");
}

TEST_F(FlowsTest, PointsForAnUnknownMemberOrProgramAreSkippedNotRetriedForever) {
  for (const auto& [program, member] :
       {std::pair<std::string, std::string>{kProgram, "nobody"}, {"no-such-program", "nobody"}}) {
    pv1::PointsEarned earned;
    earned.set_program(program);
    earned.set_member(member);
    earned.set_source(pv1::EARN_SOURCE_PURCHASE);
    earned.set_points(10);
    const events::OutboxEvent outbox =
        events::MakeEvent(program, "member", member, earned, clock_.Now());
    events::v1::Event event;
    event.set_event_id(outbox.event_id);
    event.set_event_type(outbox.event_type);
    event.set_payload(outbox.payload_json);
    *event.mutable_occur_time() = ToTimestamp(outbox.occur_time);
    EXPECT_THAT(members_pool_->InTransaction([&](pg::Connection& connection) {
      return members_handler_->ApplyPointsEvent(connection, event);
    }),
                IsOk())
        << program;
  }
}

TEST_F(FlowsTest, BonusActivitiesDoNotQualifyButEngagementDoes) {
  const std::string alice = Enroll("alice");
  StartMembersConsumingPoints();
  const auto activity = [&](pv1::ActivityType type, const std::string& key) {
    pv1::RecordActivityRequest request;
    request.set_program(kProgram);
    request.set_member(alice);
    request.set_request_id(key);
    request.set_type(type);
    request.set_reference(key);
    return Call(*points_stub_, &pv1::PointsService::Stub::RecordActivity, request);
  };
  auto review = activity(pv1::ACTIVITY_TYPE_REVIEW, "review");
  auto birthday = activity(pv1::ACTIVITY_TYPE_BIRTHDAY, "birthday");
  ASSERT_THAT(review, IsOk());
  ASSERT_THAT(birthday, IsOk());
  ASSERT_TRUE(AwaitCaughtUp(*points_consumer_, *points_pool_));
  EXPECT_EQ(review->points(), 50);
  EXPECT_EQ(birthday->points(), 200);
  EXPECT_EQ(TierStatus(alice).qualifying_points(), 50);
}

// --- rewards-svc follows points-svc --------------------------------------------------------

TEST_F(FlowsTest, QualifyingPurchasesStampACardAndAFullCardIssuesItsVoucherOnce) {
  const std::string alice = Enroll("alice");
  StartRewardsConsumingPoints();
  DefineCoffeeCard();

  // Three coffee orders fill the card (a tea order does not count); a fourth starts the next.
  ASSERT_THAT(PurchaseLines(alice, "c1", "coffee", 2), IsOk());
  ASSERT_THAT(PurchaseLines(alice, "t1", "tea", 1), IsOk());
  ASSERT_THAT(PurchaseLines(alice, "c2", "coffee", 1), IsOk());
  ASSERT_THAT(PurchaseLines(alice, "c3", "coffee", 1), IsOk());
  ASSERT_THAT(PurchaseLines(alice, "c4", "coffee", 1), IsOk());
  ASSERT_TRUE(AwaitCaughtUp(*stamp_consumer_, *points_pool_));

  const auto expect_one_full_card = [&](const std::string& when) {
    rv1::ListPunchCardsRequest list;
    list.set_program(kProgram);
    list.set_member(alice);
    auto cards = Call(*rewards_stub_, &rv1::RewardsService::Stub::ListPunchCards, list);
    ASSERT_THAT(cards, IsOk());
    ASSERT_EQ(cards->cards_size(), 1) << when;
    EXPECT_EQ(cards->cards(0).stamps(), 1) << when;
    EXPECT_EQ(cards->cards(0).completed_cards(), 1) << when;
    EXPECT_EQ(cards->cards(0).vouchers_size(), 1) << when;
    EXPECT_EQ(CountIn(*rewards_pool_, "SELECT count(*) FROM vouchers"), 1) << when;
  };
  expect_one_full_card("after the stream");

  // The interim RecordStamp for an order the stream stamped adds nothing.
  rv1::RecordStampRequest stamp;
  stamp.set_program(kProgram);
  stamp.set_member(alice);
  stamp.set_order_id("c4");
  rv1::StampLine* line = stamp.add_lines();
  line->set_sku("coffee-1");
  line->set_category("coffee");
  line->set_quantity(1);
  ASSERT_THAT(Call(*rewards_stub_, &rv1::RewardsService::Stub::RecordStamp, stamp), IsOk());
  expect_one_full_card("after RecordStamp");

  // Replayed from the start, once with the applied ids and once without: the orders are keys.
  stamp_consumer_.reset();
  ExecuteIn(*rewards_pool_, "UPDATE event_cursors SET last_sequence = 0");
  RestartStampConsumer();
  ASSERT_TRUE(AwaitCaughtUp(*stamp_consumer_, *points_pool_));
  stamp_consumer_.reset();
  ExecuteIn(*rewards_pool_,
            "DELETE FROM applied_events; UPDATE event_cursors SET last_sequence = 0");
  RestartStampConsumer();
  ASSERT_TRUE(AwaitCaughtUp(*stamp_consumer_, *points_pool_));
  expect_one_full_card("after two replays");
}

TEST_F(FlowsTest, AFullyRefundedOrderLosesItsStampButAPartlyRefundedOneKeepsIt) {
  const std::string alice = Enroll("alice");
  StartRewardsConsumingPoints();
  DefineCoffeeCard();
  ASSERT_THAT(PurchaseLines(alice, "c1", "coffee", 2), IsOk());
  ASSERT_THAT(PurchaseLines(alice, "c2", "coffee", 1), IsOk());
  ASSERT_TRUE(AwaitCaughtUp(*stamp_consumer_, *points_pool_));
  ASSERT_EQ(OpenStamps(alice), 2);

  ASSERT_THAT(Refund(alice, "c1", 200), IsOk());  // One of the two coffees.
  ASSERT_TRUE(AwaitCaughtUp(*stamp_consumer_, *points_pool_));
  EXPECT_EQ(OpenStamps(alice), 2);
  ASSERT_THAT(Refund(alice, "c2", 200), IsOk());  // The whole order.
  ASSERT_TRUE(AwaitCaughtUp(*stamp_consumer_, *points_pool_));
  EXPECT_EQ(OpenStamps(alice), 1);

  // Replayed, the refund takes nothing more off.
  stamp_consumer_.reset();
  ExecuteIn(*rewards_pool_,
            "DELETE FROM applied_events; UPDATE event_cursors SET last_sequence = 0");
  RestartStampConsumer();
  ASSERT_TRUE(AwaitCaughtUp(*stamp_consumer_, *points_pool_));
  EXPECT_EQ(OpenStamps(alice), 1);
}

// --- rewards-svc follows members-svc -------------------------------------------------------

TEST_F(FlowsTest, TierChangesReachRewardsAndAnUpgradeOpensAGoldRewardAtOnce) {
  StartRewardsConsumingPoints();
  StartRewardsConsumingMembers();
  const std::string alice = Enroll("alice");
  const std::string bob = Enroll("bob");
  rv1::CreateRewardRequest create;
  create.set_program(kProgram);
  create.set_request_id("lounge");
  create.mutable_reward()->set_title("Gold lounge pass");
  create.mutable_reward()->set_points_cost(100);
  create.mutable_reward()->set_min_tier("gold");
  create.mutable_reward()->mutable_free_shipping();
  auto lounge = Call(*rewards_stub_, &rv1::RewardsService::Stub::CreateReward, create);
  ASSERT_THAT(lounge, IsOk());
  const std::string gold_only = lounge->reward().id();
  ASSERT_THAT(Purchase(alice, "a-1", 20'000), IsOk());
  ASSERT_THAT(Purchase(bob, "b-1", 20'000), IsOk());
  ASSERT_TRUE(AwaitCaughtUp(*tier_consumer_, *members_pool_));
  EXPECT_EQ(CopiedTier(alice), "bronze");
  EXPECT_THAT(Redeem(alice, gold_only, "a-too-early"),
              StatusIs(absl::StatusCode::kFailedPrecondition, "TIER_TOO_LOW"));

  // Bob's upgrade opens the reward before his TierChanged reaches the copy: the copy's "no" is
  // checked with members-svc.
  tier_consumer_.reset();
  Qualify(bob, "bob-big-spender", 5'000);
  EXPECT_EQ(CopiedTier(bob), "bronze");
  ASSERT_THAT(Redeem(bob, gold_only, "b-lounge"), IsOk());

  // Alice's upgrade reaches the copy through the stream, and with it her redemption needs no
  // members-svc at all.
  StartRewardsConsumingMembers();
  Qualify(alice, "alice-big-spender", 5'000);
  ASSERT_TRUE(AwaitCaughtUp(*tier_consumer_, *members_pool_));
  EXPECT_EQ(CopiedTier(alice), "gold");
  EXPECT_EQ(CopiedTier(bob), "gold");
  tier_consumer_.reset();
  members_server_.reset();
  auto redeemed = Redeem(alice, gold_only, "a-lounge");
  ASSERT_THAT(redeemed, IsOk());
  EXPECT_EQ(redeemed->redemption().status(), rv1::REDEMPTION_STATUS_COMPLETED);
}

// --- members-svc fans every service's events out to merchants' webhooks --------------------

TEST_F(FlowsTest, EventsOfEveryServiceReachAMerchantWebhookThroughTheStreams) {
  StartRewardsConsumingPoints();
  members::testing::WebhookReceiver receiver([](int, const auto&) { return 200; });
  webhooks_ = std::make_unique<members::WebhooksHandler>(
      *members_pool_, clock_, members::WebhooksHandlerOptions{.page_token_key = kKey});
  mv1::CreateWebhookRequest create;
  create.set_program(kProgram);
  create.set_request_id("webhook");
  create.mutable_webhook()->set_url(receiver.url());
  for (const char* type : {"loyalty.members.v1.MemberEnrolled", "loyalty.points.v1.PointsEarned",
                           "loyalty.rewards.v1.RewardRedeemed"}) {
    create.mutable_webhook()->add_event_types(type);
  }
  ASSERT_THAT(webhooks_->CreateWebhook(create), IsOk());
  // As members-svc/main.cc wires them: second consumers of points-svc's and rewards-svc's
  // streams, members-svc's own outbox read directly, and the dispatcher.
  members::WebhooksHandler* webhooks = webhooks_.get();
  const events::ApplyBatchFn fan_out = [webhooks](
                                           pg::Connection& connection,
                                           std::span<const events::v1::Event* const> fresh_events) {
    return webhooks->ApplyEvents(connection, fresh_events);
  };
  for (const auto& [stream, address] :
       {std::pair<std::string, std::string>{"points-webhooks", PointsAddress()},
        {"rewards-webhooks", testkit::AddressOf(*rewards_server_)}}) {
    webhook_consumers_.push_back(std::make_unique<events::EventConsumer>(
        *members_pool_, testkit::InsecureChannel(address),
        Options(stream, "members-svc-webhooks", {}), fan_out));
    webhook_consumers_.back()->Start();
  }
  auto client = members::WebhookHttpClient::Create(
      {.timeout = absl::Seconds(5), .allow_private_targets = true});
  ASSERT_THAT(client.status(), IsOk());
  webhook_client_ = *std::move(client);
  webhook_dispatcher_ = std::make_unique<members::WebhookDispatcher>(
      *members_pool_, clock_, *webhook_client_,
      members::WebhookDispatcherOptions{.workers = 2,
                                        .endpoint_concurrency = 1,
                                        .timeout = absl::Seconds(5),
                                        .poll_interval = absl::Milliseconds(20)});
  webhook_dispatcher_->Start();

  const std::string alice = Enroll("alice");
  {
    // The enrolment's event is numbered a moment after its commit; members-svc follows its own
    // outbox in a loop, this test once, so it numbers the event first.
    absl::StatusOr<pg::PooledConnection> connection = members_pool_->Acquire();
    ASSERT_THAT(connection.status(), IsOk());
    ASSERT_THAT(events::NumberCommittedEvents(**connection, /*wait=*/true).status(), IsOk());
  }
  ASSERT_THAT(events::FollowOutbox(*members_pool_, "members-webhooks", "members-svc-webhooks",
                                   fan_out, 100, 10)
                  .status(),
              IsOk());
  ASSERT_THAT(Purchase(alice, "o1", 20000), IsOk());
  rv1::CreateRewardRequest reward;
  reward.set_program(kProgram);
  reward.set_request_id("tote");
  reward.mutable_reward()->set_title("Tote bag");
  reward.mutable_reward()->set_points_cost(100);
  reward.mutable_reward()->mutable_free_product()->set_sku("tote-1");
  auto tote = Call(*rewards_stub_, &rv1::RewardsService::Stub::CreateReward, reward);
  ASSERT_THAT(tote, IsOk());
  ASSERT_THAT(Redeem(alice, tote->reward().id(), "redeem-tote"), IsOk());

  ASSERT_TRUE(receiver.WaitFor(3, kWaitMax));
  absl::SleepFor(absl::Milliseconds(200));  // Nothing more comes: the other events' types.
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 3u);
  std::set<std::string> types;
  for (const auto& request : requests) {
    google::protobuf::Struct body;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(request.body, &body).ok());
    types.insert(body.fields().at("type").string_value());
    EXPECT_EQ(body.fields().at("program").string_value(), kProgram);
    EXPECT_EQ(body.fields().at("data").struct_value().fields().at("member").string_value(), alice);
    EXPECT_EQ(request.headers.at("webhook-id"), body.fields().at("id").string_value());
  }
  EXPECT_EQ(types, (std::set<std::string>{"loyalty.members.v1.MemberEnrolled",
                                          "loyalty.points.v1.PointsEarned",
                                          "loyalty.rewards.v1.RewardRedeemed"}));
}

}  // namespace
}  // namespace loyalty
