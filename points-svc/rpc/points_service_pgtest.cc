// points-svc end to end: a real members-svc and a real points-svc, each on a gRPC port 0 and
// each in its own fresh schema of the test PostgreSQL, called through the generated stubs. Time
// is one FakeClock for both. After every test the ledger invariants of DESIGN.md section 4 are
// checked in SQL: every transaction sums to zero, stored balances equal their entries, and open
// lots equal available plus held points.

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/check.h"
#include "common/events/outbox.h"
#include "common/pg/migrate.h"
#include "common/rpc/proto_time.h"
#include "common/server/server.h"
#include "common/status/error.h"
#include "common/status/grpc_status.h"
#include "common/testkit/fake_clock.h"
#include "common/testkit/status_matchers.h"
#include "common/testkit/test_schema.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "loyalty/points/v1/points_events.pb.h"
#include "members-svc/migrations.h"
#include "members-svc/rpc/grpc_service.h"
#include "members-svc/rpc/members_handler.h"
#include "points-svc/migrations.h"
#include "points-svc/rpc/grpc_service.h"
#include "points-svc/rpc/member_directory.h"
#include "points-svc/rpc/points_handler.h"
#include "points-svc/storage/balance_read.h"
#include "points-svc/storage/ledger_store.h"
#include "points-svc/storage/queries.h"
#include "prometheus/metric_family.h"

namespace loyalty::points {
namespace {

using ::loyalty::testkit::IsOk;
using ::loyalty::testkit::StatusIs;
using C = absl::StatusCode;
using ::testing::HasSubstr;
using ::testing::Not;
namespace mv1 = ::loyalty::members::v1;

const absl::Time kStart =
    absl::FromCivil(absl::CivilSecond(2026, 3, 10, 12, 0, 0), absl::UTCTimeZone());

constexpr pg::Query kUnbalancedTransactions{
    "t_unbalanced",
    "SELECT count(*) FROM (SELECT txn_id FROM ledger_entries GROUP BY program_id, txn_id "
    "HAVING sum(amount) <> 0) AS bad"};
constexpr pg::Query kBalancesOffEntries{
    "t_balances_off_entries",
    "SELECT count(*) FROM balances b LEFT JOIN LATERAL (SELECT "
    " COALESCE(sum(amount) FILTER (WHERE account = 'available'), 0) AS available,"
    " COALESCE(sum(amount) FILTER (WHERE account = 'pending'), 0) AS pending,"
    " COALESCE(sum(amount) FILTER (WHERE account = 'held'), 0) AS held,"
    " COALESCE(sum(amount) FILTER (WHERE account = 'debt'), 0) AS debt"
    " FROM ledger_entries e WHERE e.program_id = b.program_id AND e.owner = b.member_id) s "
    "ON true WHERE b.available <> s.available OR b.pending <> s.pending OR b.held <> s.held "
    "OR b.debt <> -s.debt"};
constexpr pg::Query kLotsOffBalances{
    "t_lots_off_balances",
    "SELECT count(*) FROM balances b WHERE b.available + b.held <> (SELECT "
    "COALESCE(sum(remaining), 0) FROM lots l WHERE l.program_id = b.program_id "
    "AND l.member_id = b.member_id)"};
constexpr pg::Query kNegativeBalances{
    "t_negative_balances",
    "SELECT count(*) FROM balances WHERE available < 0 OR pending < 0 OR held < 0 OR debt < 0"};

class PointsServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    members_schema_ = MustSchema("members");
    points_schema_ = MustSchema("points");
    members_pool_ = members_schema_->MakePool(4);
    points_pool_ = points_schema_->MakePool(8);
    Migrate(*members_pool_, members::Migrations());
    Migrate(*points_pool_, Migrations());

    members_handler_ = std::make_unique<members::MembersHandler>(
        *members_pool_, clock_, members::MembersHandlerOptions{.page_token_key = kKey});
    members_service_ = std::make_unique<members::GrpcMembersService>(*members_handler_);
    members_server_ = MustStart("members-test", members_service_.get());
    members_stub_ = mv1::MembersService::NewStub(Channel(*members_server_));

    directory_ =
        std::make_unique<GrpcMemberDirectory>(Channel(*members_server_), absl::Seconds(10));
    handler_ = std::make_unique<PointsHandler>(
        *points_pool_, clock_, *directory_,
        PointsHandlerOptions{.page_token_key = kKey, .projection_ttl = absl::Hours(1)});
    service_ = std::make_unique<GrpcPointsService>(*handler_);
    server_ = MustStart("points-test", service_.get());
    stub_ = v1::PointsService::NewStub(Channel(*server_));

    CreateProgram();
    alice_ = Enroll("alice@example.com");
    bob_ = Enroll("bob@example.com");
  }

  void TearDown() override {
    auto connection = points_pool_->Acquire();
    ASSERT_THAT(connection, IsOk());
    for (const pg::Query* query :
         {&kUnbalancedTransactions, &kBalancesOffEntries, &kLotsOffBalances, &kNegativeBalances}) {
      auto result = (*connection)->Execute(*query);
      ASSERT_THAT(result, IsOk());
      EXPECT_EQ(result->Int64(0, 0), 0) << "ledger invariant broken: " << query->name;
    }
  }

  static constexpr char kKey[] = "points-test-page-token-key";

  static std::unique_ptr<testkit::TestSchema> MustSchema(const std::string& prefix) {
    auto schema = testkit::TestSchema::Create(prefix);
    LOYALTY_CHECK(schema.ok());
    return *std::move(schema);
  }
  static void Migrate(pg::Pool& pool, std::span<const pg::Migration> migrations) {
    auto connection = pool.Acquire();
    LOYALTY_CHECK(connection.ok());
    LOYALTY_CHECK(pg::ApplyMigrations(**connection, migrations).ok());
  }
  static std::unique_ptr<server::GrpcServer> MustStart(const std::string& name,
                                                       grpc::Service* service) {
    auto server = server::GrpcServer::Start(
        {.service_name = name, .listen_address = "127.0.0.1", .grpc_port = 0, .metrics_port = -1},
        {service});
    LOYALTY_CHECK(server.ok());
    return *std::move(server);
  }
  static std::shared_ptr<grpc::Channel> Channel(const server::GrpcServer& server) {
    return grpc::CreateChannel(absl::StrCat("127.0.0.1:", server.grpc_port()),
                               grpc::InsecureChannelCredentials());
  }

  template <typename Stub, typename Request, typename Response>
  static absl::StatusOr<Response> Invoke(Stub& stub,
                                         grpc::Status (Stub::*rpc)(grpc::ClientContext*,
                                                                   const Request&, Response*),
                                         const Request& request) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    Response response;
    grpc::Status status = (stub.*rpc)(&context, request, &response);
    if (!status.ok()) return FromGrpcStatus(status);
    return response;
  }
  // Calls points-svc like a well-behaved client: a call the server shed for load
  // (RESOURCE_EXHAUSTED: every handler thread busy) is retried with the same request, which the
  // request_id / hold_id makes safe.
  template <typename Request, typename Response>
  absl::StatusOr<Response> Call(grpc::Status (v1::PointsService::Stub::*rpc)(grpc::ClientContext*,
                                                                             const Request&,
                                                                             Response*),
                                const Request& request) {
    constexpr int kAttemptsMax = 50;
    for (int attempt = 1;; ++attempt) {
      absl::StatusOr<Response> response = Invoke(*stub_, rpc, request);
      if (response.status().code() != C::kResourceExhausted || attempt == kAttemptsMax) {
        return response;
      }
      absl::SleepFor(absl::Milliseconds(attempt));
    }
  }

  void CreateProgram() {
    mv1::CreateProgramRequest request;
    request.set_request_id("program");
    request.mutable_program()->set_id("shop");
    request.mutable_program()->set_display_name("Shop");
    request.mutable_program()->set_currency_code("EUR");
    LOYALTY_CHECK(Invoke(*members_stub_, &mv1::MembersService::Stub::CreateProgram, request).ok());
  }

  std::string Enroll(const std::string& email) {
    mv1::EnrollMemberRequest request;
    request.set_program("shop");
    request.set_request_id("enrol-" + email);
    request.mutable_profile()->set_email(email);
    auto response = Invoke(*members_stub_, &mv1::MembersService::Stub::EnrollMember, request);
    LOYALTY_CHECK(response.ok());
    return response->member().id();
  }

  absl::StatusOr<v1::RecordPurchaseResponse> Purchase(const std::string& member,
                                                      const std::string& order, int64_t total_minor,
                                                      const std::string& key = "",
                                                      std::optional<absl::Time> occur_time = {}) {
    v1::RecordPurchaseRequest request;
    request.set_program("shop");
    request.set_member(member);
    request.set_request_id(key.empty() ? "p-" + order : key);
    request.set_order_id(order);
    request.set_currency_code("EUR");
    request.set_total_minor(total_minor);
    if (occur_time.has_value()) *request.mutable_occur_time() = ToTimestamp(*occur_time);
    return Call(&v1::PointsService::Stub::RecordPurchase, request);
  }

  absl::StatusOr<v1::AdjustPointsResponse> Adjust(const std::string& member, int64_t points,
                                                  const std::string& key) {
    v1::AdjustPointsRequest request;
    request.set_program("shop");
    request.set_member(member);
    request.set_request_id(key);
    request.set_points(points);
    request.set_reason("test");
    return Call(&v1::PointsService::Stub::AdjustPoints, request);
  }

  absl::StatusOr<v1::RefundPurchaseResponse> Refund(const std::string& member,
                                                    const std::string& order, int64_t amount,
                                                    const std::string& key) {
    v1::RefundPurchaseRequest request;
    request.set_program("shop");
    request.set_member(member);
    request.set_order_id(order);
    request.set_request_id(key);
    request.set_amount_minor(amount);
    return Call(&v1::PointsService::Stub::RefundPurchase, request);
  }

  v1::Balance Balance(const std::string& member) {
    v1::GetBalanceRequest request;
    request.set_program("shop");
    request.set_member(member);
    auto response = Call(&v1::PointsService::Stub::GetBalance, request);
    LOYALTY_CHECK(response.ok());
    return response->balance();
  }

  absl::StatusOr<v1::CreateHoldResponse> Hold(const std::string& member, const std::string& id,
                                              int64_t points, int64_t ttl_seconds = 0) {
    v1::CreateHoldRequest request;
    request.set_program("shop");
    request.set_member(member);
    request.set_hold_id(id);
    request.set_points(points);
    if (ttl_seconds > 0) request.mutable_ttl()->set_seconds(ttl_seconds);
    return Call(&v1::PointsService::Stub::CreateHold, request);
  }
  absl::StatusOr<v1::CaptureHoldResponse> Capture(const std::string& id) {
    v1::CaptureHoldRequest request;
    request.set_program("shop");
    request.set_hold_id(id);
    return Call(&v1::PointsService::Stub::CaptureHold, request);
  }
  absl::StatusOr<v1::VoidHoldResponse> Void(const std::string& id) {
    v1::VoidHoldRequest request;
    request.set_program("shop");
    request.set_hold_id(id);
    return Call(&v1::PointsService::Stub::VoidHold, request);
  }
  absl::StatusOr<v1::RefundHoldResponse> RefundHold(const std::string& id) {
    v1::RefundHoldRequest request;
    request.set_program("shop");
    request.set_hold_id(id);
    return Call(&v1::PointsService::Stub::RefundHold, request);
  }

  void SetRules(const std::function<void(v1::EarningRules&)>& edit) {
    v1::GetEarningRulesRequest get;
    get.set_program("shop");
    auto current = Call(&v1::PointsService::Stub::GetEarningRules, get);
    LOYALTY_CHECK(current.ok());
    v1::UpdateEarningRulesRequest update;
    update.set_program("shop");
    update.set_request_id(absl::StrCat("rules-", ++rules_version_));
    update.set_etag(current->etag());
    *update.mutable_rules() = current->rules();
    edit(*update.mutable_rules());
    auto updated = Call(&v1::PointsService::Stub::UpdateEarningRules, update);
    LOYALTY_CHECK(updated.ok());
  }

  absl::StatusOr<v1::RunExpiryResponse> Expire() {
    v1::RunExpiryRequest request;
    request.set_program("shop");
    return Call(&v1::PointsService::Stub::RunExpiry, request);
  }

  // Every event in points-svc's outbox, oldest first.
  std::vector<events::v1::Event> Events() {
    auto connection = points_pool_->Acquire();
    LOYALTY_CHECK(connection.ok());
    auto page = events::ReadPage(**connection, {.after_sequence = 0, .limit = 1000});
    LOYALTY_CHECK(page.ok());
    return page->events;
  }

  // The event's payload, checking its envelope: a member's event named after its message.
  template <typename Payload>
  static Payload PayloadOf(const events::v1::Event& event, const std::string& member) {
    Payload payload;
    EXPECT_EQ(event.event_type(), Payload::descriptor()->full_name());
    EXPECT_EQ(event.program(), "shop");
    EXPECT_EQ(event.aggregate_type(), "member");
    EXPECT_EQ(event.aggregate_id(), member);
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(event.payload(), &payload).ok());
    EXPECT_EQ(payload.member(), member);
    return payload;
  }

  testkit::FakeClock clock_{kStart};
  std::unique_ptr<testkit::TestSchema> members_schema_, points_schema_;
  std::unique_ptr<pg::Pool> members_pool_, points_pool_;
  std::unique_ptr<members::MembersHandler> members_handler_;
  std::unique_ptr<members::GrpcMembersService> members_service_;
  std::unique_ptr<server::GrpcServer> members_server_;
  std::unique_ptr<mv1::MembersService::Stub> members_stub_;
  std::unique_ptr<GrpcMemberDirectory> directory_;
  std::unique_ptr<PointsHandler> handler_;
  std::unique_ptr<GrpcPointsService> service_;
  std::unique_ptr<server::GrpcServer> server_;
  std::unique_ptr<v1::PointsService::Stub> stub_;
  std::string alice_, bob_;
  int rules_version_ = 0;
};

// --- Earning -------------------------------------------------------------------------------

TEST_F(PointsServiceTest, PurchaseEarnsAtTheBaseRateWithABreakdown) {
  auto response = Purchase(alice_, "o1", 12345);  // 123.45 EUR at 1 point per euro.
  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->points(), 123);
  ASSERT_FALSE(response->breakdown().empty());
  EXPECT_EQ(response->breakdown(0).rule(), "base");
  int64_t sum = 0;
  for (const auto& item : response->breakdown()) sum += item.points();
  EXPECT_EQ(sum, 123);
  EXPECT_EQ(response->transaction().kind(), v1::TRANSACTION_KIND_PURCHASE);
  EXPECT_EQ(response->balance().available(), 123);
  EXPECT_EQ(response->balance().lifetime_earned(), 123);
  EXPECT_EQ(response->balance().next_expiries_size(), 1);
}

TEST_F(PointsServiceTest, RulesChangeThroughTheAdminRpcAndShowInTheBreakdown) {
  SetRules([](v1::EarningRules& rules) {
    v1::RateMultiplier* shoes = rules.add_category_multipliers();
    shoes->set_key("shoes");
    shoes->set_percent(300);
  });
  v1::RecordPurchaseRequest request;
  request.set_program("shop");
  request.set_member(alice_);
  request.set_request_id("lines-1");
  request.set_order_id("lines-1");
  request.set_currency_code("EUR");
  request.set_total_minor(15000);
  v1::PurchaseLine* shoes = request.add_lines();
  shoes->set_sku("run-1");
  shoes->set_category("shoes");
  shoes->set_quantity(1);
  shoes->set_unit_price_minor(10000);
  v1::PurchaseLine* card = request.add_lines();
  card->set_sku("gift-50");
  card->set_category("gift_card");
  card->set_quantity(1);
  card->set_unit_price_minor(5000);
  auto response = Call(&v1::PointsService::Stub::RecordPurchase, request);
  ASSERT_THAT(response, IsOk());
  // 100 base on the shoes, x3 for the category; the gift card earns nothing.
  EXPECT_EQ(response->points(), 300);
  std::map<std::string, int64_t> by_rule;
  for (const auto& item : response->breakdown()) by_rule[item.rule()] = item.points();
  EXPECT_EQ(by_rule["base"], 100);
  EXPECT_EQ(by_rule["category:shoes"], 200);
  EXPECT_TRUE(by_rule.contains("excluded:gift_card"));

  v1::UpdateEarningRulesRequest stale;
  stale.set_program("shop");
  stale.set_request_id("stale");
  stale.set_etag("\"v0\"");
  stale.mutable_rules()->set_points_per_currency_unit(1);
  EXPECT_THAT(Call(&v1::PointsService::Stub::UpdateEarningRules, stale),
              StatusIs(C::kAborted, "ETAG_MISMATCH"));
}

// The caps count what the member earned on the purchase's own UTC day and in its month up to
// that day, read from the stored days: other days, later days and other months do not count.
TEST_F(PointsServiceTest, CapsCountThePurchasesDayAndMonthFromTheStoredDays) {
  SetRules([](v1::EarningRules& rules) {
    rules.set_cap_points_per_day(100);
    rules.set_cap_points_per_month(250);
  });
  const auto day = [](int month, int day_of_month) {
    return absl::FromCivil(absl::CivilSecond(2026, month, day_of_month, 9, 0, 0),
                           absl::UTCTimeZone());
  };
  const auto points = [&](const std::string& order, int64_t total_minor, absl::Time at) {
    auto response = Purchase(alice_, order, total_minor, "", at);
    LOYALTY_CHECK(response.ok());
    return response->points();
  };
  EXPECT_EQ(points("mar-5a", 8000, day(3, 5)), 80);
  EXPECT_EQ(points("mar-5b", 8000, day(3, 5)), 20);   // The day's room: 100 - 80.
  EXPECT_EQ(points("mar-8", 15000, day(3, 8)), 100);  // A new day; the month has 150 left.
  EXPECT_EQ(points("mar-9", 9000, day(3, 9)), 50);    // The month's room: 250 - 200.
  // Recorded late, on a day before the others: its day had 0, its month up to it 100.
  EXPECT_EQ(points("mar-2", 20000, day(3, 2)), 100);
  EXPECT_EQ(points("mar-9b", 5000, day(3, 9)), 0);  // The month is full.
  EXPECT_EQ(points("apr-1", 7000, day(4, 1)), 70);  // A new month.
  // February, recorded late: nothing of March counts.
  EXPECT_EQ(points("feb-28", 30000, day(2, 28)), 100);
}

TEST_F(PointsServiceTest, ReplayWithTheSameKeyHasNoSecondEffectAndReuseIsRejected) {
  auto first = Purchase(alice_, "o1", 5000, "k1");
  ASSERT_THAT(first, IsOk());
  auto replay = Purchase(alice_, "o1", 5000, "k1");
  ASSERT_THAT(replay, IsOk());
  EXPECT_EQ(replay->transaction().id(), first->transaction().id());
  EXPECT_EQ(Balance(alice_).available(), 50);
  EXPECT_THAT(Purchase(alice_, "o2", 5000, "k1"),
              StatusIs(C::kInvalidArgument, "IDEMPOTENCY_KEY_REUSED"));
  EXPECT_THAT(Purchase(alice_, "o1", 5000, "k2"),
              StatusIs(C::kAlreadyExists, "ORDER_ALREADY_RECORDED"));
  EXPECT_EQ(Balance(alice_).available(), 50);
}

TEST_F(PointsServiceTest, SuspendedAndUnknownMembersCannotEarn) {
  mv1::SuspendMemberRequest suspend;
  suspend.set_program("shop");
  suspend.set_member(bob_);
  suspend.set_request_id("suspend-bob");
  ASSERT_THAT(Invoke(*members_stub_, &mv1::MembersService::Stub::SuspendMember, suspend), IsOk());
  EXPECT_THAT(Purchase(bob_, "o1", 1000), StatusIs(C::kFailedPrecondition, "MEMBER_SUSPENDED"));
  EXPECT_THAT(Purchase("mnosuchmember00", "o2", 1000), StatusIs(C::kNotFound, "MEMBER_NOT_FOUND"));
  v1::RecordPurchaseRequest wrong_currency;
  wrong_currency.set_program("shop");
  wrong_currency.set_member(alice_);
  wrong_currency.set_request_id("usd");
  wrong_currency.set_order_id("usd");
  wrong_currency.set_currency_code("USD");
  EXPECT_THAT(Call(&v1::PointsService::Stub::RecordPurchase, wrong_currency),
              StatusIs(C::kInvalidArgument, "CURRENCY_MISMATCH"));
}

// Asks members-svc through `inner`, counting the member look-ups; while `gate` is closed a
// look-up waits for it to open (at most 10 s, so a broken test ends).
class GatedDirectory final : public MemberDirectory {
 public:
  explicit GatedDirectory(MemberDirectory& inner) : inner_(inner) {}
  absl::StatusOr<MemberInfo> GetMember(const std::string& program_id,
                                       const std::string& member_id) override {
    ++member_lookups;
    if (closed) open.WaitForNotificationWithTimeout(absl::Seconds(10));
    return inner_.GetMember(program_id, member_id);
  }
  absl::StatusOr<ProgramInfo> GetProgram(const std::string& program_id) override {
    return inner_.GetProgram(program_id);
  }

  std::atomic<int> member_lookups = 0;
  std::atomic<bool> closed = false;
  absl::Notification open;

 private:
  MemberDirectory& inner_;
};

TEST_F(PointsServiceTest, StaleMembersAreAnsweredAtOnceAndRefreshedInTheBackground) {
  GatedDirectory directory(*directory_);
  PointsHandler handler(*points_pool_, clock_, directory,
                        PointsHandlerOptions{.page_token_key = kKey,
                                             .projection_ttl = absl::Seconds(60),
                                             .projection_stale_grace = absl::Minutes(10)});
  auto purchase = [&](const std::string& member, const std::string& order) {
    v1::RecordPurchaseRequest request;
    request.set_program("shop");
    request.set_member(member);
    request.set_request_id("stale-" + order);
    request.set_order_id(order);
    request.set_currency_code("EUR");
    request.set_total_minor(1000);
    return handler.RecordPurchase(request);
  };
  auto suspend = [&](const std::string& member) {
    mv1::SuspendMemberRequest request;
    request.set_program("shop");
    request.set_member(member);
    request.set_request_id("suspend-" + member);
    ASSERT_THAT(Invoke(*members_stub_, &mv1::MembersService::Stub::SuspendMember, request), IsOk());
  };

  // First sight asks members-svc before answering.
  ASSERT_THAT(purchase(bob_, "b1"), IsOk());
  EXPECT_EQ(directory.member_lookups, 1);

  // Past the TTL, within the grace: calls answer from what points-svc knows (bob still ACTIVE)
  // while members-svc does not answer, and one refresh runs behind them.
  suspend(bob_);
  clock_.Advance(absl::Seconds(61));
  directory.closed = true;
  v1::GetBalanceRequest balance;
  balance.set_program("shop");
  balance.set_member(bob_);
  for (int i = 0; i < 5; ++i) EXPECT_THAT(handler.GetBalance(balance), IsOk());
  EXPECT_THAT(purchase(bob_, "b2"), IsOk());
  directory.open.Notify();
  handler.WaitForProjectionRefreshes();
  EXPECT_EQ(directory.member_lookups, 2);
  EXPECT_THAT(purchase(bob_, "b3"), StatusIs(C::kFailedPrecondition, "MEMBER_SUSPENDED"));

  // Past the grace, the copy is refreshed before the answer.
  ASSERT_THAT(purchase(alice_, "a1"), IsOk());
  suspend(alice_);
  clock_.Advance(absl::Seconds(60) + absl::Minutes(10));
  EXPECT_THAT(purchase(alice_, "a2"), StatusIs(C::kFailedPrecondition, "MEMBER_SUSPENDED"));
  EXPECT_EQ(directory.member_lookups, 4);
}

TEST_F(PointsServiceTest, ActivitiesAwardOncePerReference) {
  v1::RecordActivityRequest request;
  request.set_program("shop");
  request.set_member(alice_);
  request.set_request_id("review-1");
  request.set_type(v1::ACTIVITY_TYPE_REVIEW);
  request.set_reference("review-1");
  auto awarded = Call(&v1::PointsService::Stub::RecordActivity, request);
  ASSERT_THAT(awarded, IsOk());
  EXPECT_GT(awarded->points(), 0);
  EXPECT_EQ(Balance(alice_).available(), awarded->points());
  request.set_request_id("review-1-again");
  EXPECT_THAT(Call(&v1::PointsService::Stub::RecordActivity, request),
              StatusIs(C::kFailedPrecondition, "ACTIVITY_ALREADY_AWARDED"));
}

// --- Expiry and pending --------------------------------------------------------------------

TEST_F(PointsServiceTest, LotsExpireOldestFirstAndAnExpiryRunIsIdempotent) {
  ASSERT_THAT(Purchase(alice_, "old", 10000), IsOk());  // 100 points, expire after 12 months.
  clock_.Advance(absl::Hours(24 * 180));
  ASSERT_THAT(Purchase(alice_, "new", 5000), IsOk());  // 50 points, six months younger.
  // Spending takes the oldest lot first: 100 - 30 = 70 left in it.
  ASSERT_THAT(Adjust(alice_, -30, "spend"), IsOk());
  clock_.Set(kStart + absl::Hours(24 * 370));
  auto first = Expire();
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(first->points_expired(), 70);
  EXPECT_EQ(Balance(alice_).available(), 50);
  auto again = Expire();
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->points_expired(), 0);
  clock_.Set(kStart + absl::Hours(24 * 560));
  auto second = Expire();
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(second->points_expired(), 50);
  EXPECT_EQ(Balance(alice_).available(), 0);
}

TEST_F(PointsServiceTest, PendingPointsBecomeAvailableWhenDue) {
  SetRules([](v1::EarningRules& rules) { rules.set_pending_days(14); });
  auto purchase = Purchase(alice_, "o1", 20000);
  ASSERT_THAT(purchase, IsOk());
  EXPECT_TRUE(purchase->pending());
  v1::Balance balance = Balance(alice_);
  EXPECT_EQ(balance.pending(), 200);
  EXPECT_EQ(balance.available(), 0);
  ASSERT_EQ(balance.upcoming_available_size(), 1);
  // The purchase's own answer already showed it, exactly as a read does.
  EXPECT_EQ(purchase->balance().DebugString(), balance.DebugString());
  auto second = Purchase(alice_, "o1b", 10000);  // Same instant: the same release date.
  ASSERT_THAT(second, IsOk());
  ASSERT_EQ(second->balance().upcoming_available_size(), 1);
  EXPECT_EQ(second->balance().upcoming_available(0).points(), 300);
  EXPECT_EQ(second->balance().DebugString(), Balance(alice_).DebugString());
  // Not spendable yet.
  EXPECT_THAT(Hold(alice_, "too-early", 10),
              StatusIs(C::kFailedPrecondition, "INSUFFICIENT_POINTS"));
  clock_.Advance(absl::Hours(24 * 15));
  balance = Balance(alice_);  // Reading releases what is due.
  EXPECT_EQ(balance.pending(), 0);
  EXPECT_EQ(balance.available(), 300);

  // The background release does the same without a read.
  ASSERT_THAT(Purchase(bob_, "o2", 10000), IsOk());
  clock_.Advance(absl::Hours(24 * 15));
  auto released = handler_->ReleaseDuePending("shop", 100);
  ASSERT_THAT(released, IsOk());
  EXPECT_EQ(*released, 1);
  EXPECT_EQ(Balance(bob_).available(), 100);
}

// Purchases written together in one batch, some by members with pending points and some by
// members without: each answer's upcoming dates are its own member's (the batch reads them only
// for the members that have pending points, and maps them back by position). All credits here
// come due at one instant, so each member has a single date carrying all its pending points.
TEST_F(PointsServiceTest, BatchedPurchasesEachShowTheirOwnMembersPendingDates) {
  SetRules([](v1::EarningRules& rules) { rules.set_pending_days(14); });
  std::vector<std::string> members = {alice_, bob_};
  for (int i = 0; i < 6; ++i) members.push_back(Enroll(absl::StrCat("buyer", i, "@example.com")));
  for (size_t m = 0; m < members.size(); m += 2) {  // Every other member has pending points.
    ASSERT_THAT(Purchase(members[m], absl::StrCat("before-", m), 1000 * (m + 1)), IsOk());
  }
  std::vector<std::thread> buyers;
  std::mutex mutex;
  std::vector<v1::RecordPurchaseResponse> answers;
  for (size_t m = 0; m < members.size(); ++m) {
    buyers.emplace_back([&, m] {
      for (int round = 0; round < 3; ++round) {
        auto answer = Purchase(members[m], absl::StrCat("together-", m, "-", round), 500 * (m + 1));
        ASSERT_THAT(answer, IsOk());
        std::lock_guard<std::mutex> lock(mutex);
        answers.push_back(*answer);
      }
    });
  }
  for (std::thread& buyer : buyers) buyer.join();
  ASSERT_EQ(answers.size(), members.size() * 3);
  for (const v1::RecordPurchaseResponse& answer : answers) {
    ASSERT_EQ(answer.balance().upcoming_available_size(), 1) << answer.DebugString();
    EXPECT_EQ(answer.balance().upcoming_available(0).points(), answer.balance().pending())
        << answer.DebugString();
  }
  for (const std::string& member : members) {
    const v1::Balance balance = Balance(member);
    ASSERT_EQ(balance.upcoming_available_size(), 1);
    EXPECT_EQ(balance.upcoming_available(0).points(), balance.pending());
  }
}

// Lots that never expire (a program without expiry, before its rules changed) are not dates: a
// member's next expiries skip them, and they never take the place of a later date.
TEST_F(PointsServiceTest, NextExpiriesSkipLotsThatNeverExpire) {
  SetRules([](v1::EarningRules& rules) { rules.set_expiry_months(0); });
  ASSERT_THAT(Purchase(alice_, "forever-1", 10000), IsOk());
  ASSERT_THAT(Purchase(bob_, "forever-2", 10000), IsOk());
  SetRules([](v1::EarningRules& rules) { rules.set_expiry_months(12); });
  for (int day = 0; day < 3; ++day) {
    clock_.Advance(absl::Hours(24));
    ASSERT_THAT(Purchase(alice_, absl::StrCat("dated-", day), 1000 * (day + 1)), IsOk());
  }

  auto connection = points_pool_->Acquire();
  ASSERT_THAT(connection, IsOk());
  const MemberRef members[] = {{"shop", alice_}, {"shop", bob_}};
  for (const int dates : {2, 3, 5}) {
    const pg::Statement statements[] = {NextExpiries(members, dates)};
    auto read = (**connection).ExecutePipeline(statements);
    ASSERT_THAT(read, IsOk());
    const std::vector<DatedBalance> dated = ParseDatedBalances((*read)[0], nullptr, 2);
    ASSERT_EQ(dated[0].next_expiries.size(), static_cast<size_t>(std::min(dates, 3))) << dates;
    EXPECT_EQ(dated[0].next_expiries[0].points, 10);
    EXPECT_EQ(dated[0].next_expiries[1].points, 20);
    EXPECT_TRUE(dated[1].next_expiries.empty()) << dates;
  }
  auto view = ReadBalanceForView(**connection, {"shop", alice_}, clock_.Now(), 5);
  ASSERT_THAT(view, IsOk());
  EXPECT_EQ(view->balance.available, 160);
  ASSERT_EQ(view->dated.next_expiries.size(), 3u);
  EXPECT_EQ(view->dated.next_expiries[2].points, 30);
}

// Both lots reads keep to member-scoped indexes whatever the planner thinks of the table: with
// every other index gone and sequential scans discouraged, their generic plans still cannot use
// lots_due_idx, the program-wide (program, expiry) index. A plan through it reads every lot of
// the program for each member, and a generic plan stays cached as the table grows (seen in
// bench-points: 5,000 rows read per member).
TEST_F(PointsServiceTest, LotsReadsCannotWalkTheProgramWideExpiryIndex) {
  auto connection = points_pool_->Acquire();
  ASSERT_THAT(connection, IsOk());
  pg::Connection& session = **connection;
  ASSERT_THAT(session.ExecuteScript("begin", "BEGIN"), IsOk());
  ASSERT_THAT(session.ExecuteScript("strip lots",
                                    "ALTER TABLE lots DROP CONSTRAINT lots_pkey; "
                                    "DROP INDEX lots_open_idx; SET LOCAL enable_seqscan = off; "
                                    "SET LOCAL plan_cache_mode = force_generic_plan"),
              IsOk());
  const struct {
    std::string name;
    const pg::Query& query;
    std::string arguments;
  } reads[] = {
      {"expiries", queries::kNextExpiriesBatch, "('{shop}', '{m}', 5)"},
      {"views", queries::kSelectBalanceViews, "('{shop}', '{m}', '{2026-01-01T00:00:00Z}', 5)"},
  };
  for (const auto& read : reads) {
    ASSERT_THAT(session.ExecuteScript(read.name, absl::StrCat("PREPARE plan_", read.name, " AS ",
                                                              std::string(read.query.sql))),
                IsOk());
    auto plan = session.ExecuteScript(
        read.name, absl::StrCat("EXPLAIN EXECUTE plan_", read.name, read.arguments));
    ASSERT_THAT(plan, IsOk());
    std::string text;
    for (int row = 0; row < plan->rows(); ++row) absl::StrAppend(&text, plan->String(row, 0), "\n");
    EXPECT_THAT(text, Not(HasSubstr("lots_due_idx"))) << read.name << ":\n" << text;
    EXPECT_THAT(text, HasSubstr("Seq Scan on lots")) << read.name << ":\n" << text;
  }
  ASSERT_THAT(session.ExecuteScript("rollback", "ROLLBACK"), IsOk());
}

// GetBalance reads in one statement what it read in five: the same balance and dates as the
// separate reads, at most `dates` of each, and "due" exactly when a pending credit came due or an
// open hold ran out.
TEST_F(PointsServiceTest, BalanceReadInOneStatementMatchesTheSeparateReads) {
  SetRules([](v1::EarningRules& rules) { rules.set_pending_days(14); });
  for (int day = 0; day < 3; ++day) {
    ASSERT_THAT(Purchase(alice_, absl::StrCat("pending-", day), 10000 * (day + 1)), IsOk());
    clock_.Advance(absl::Hours(24));
  }
  SetRules([](v1::EarningRules& rules) { rules.set_pending_days(0); });
  for (int day = 0; day < 3; ++day) {
    ASSERT_THAT(Purchase(alice_, absl::StrCat("now-", day), 1000 * (day + 1)), IsOk());
    clock_.Advance(absl::Hours(24));
  }
  ASSERT_THAT(Hold(alice_, "h1", 10, /*ttl_seconds=*/3600), IsOk());

  auto connection = points_pool_->Acquire();
  ASSERT_THAT(connection, IsOk());
  constexpr int kDates = 2;
  auto separate = [&](const std::string& member) {
    const MemberRef ref[] = {{"shop", member}};
    const pg::Statement reads[] = {{&queries::kSelectBalance, pg::Params().Add("shop").Add(member)},
                                   NextExpiries(ref, kDates),
                                   UpcomingPending(ref, kDates)};
    auto results = (**connection).ExecutePipeline(reads);
    LOYALTY_CHECK(results.ok());
    return std::make_pair(BalanceFromRows((*results)[0]),
                          ParseDatedBalances((*results)[1], &(*results)[2], 1)[0]);
  };
  auto dated_text = [](const std::vector<DatedPoints>& dated) {
    std::string text;
    for (const DatedPoints& d : dated)
      absl::StrAppend(&text, absl::FormatTime(d.time), "=", d.points, " ");
    return text;
  };

  auto read = ReadBalanceForView(**connection, {"shop", alice_}, clock_.Now(), kDates);
  ASSERT_THAT(read, IsOk());
  const auto [balance, dated] = separate(alice_);
  EXPECT_FALSE(read->due);
  EXPECT_EQ(read->balance.available, balance.available);
  EXPECT_EQ(read->balance.pending, balance.pending);
  EXPECT_EQ(read->balance.held, 10);
  EXPECT_EQ(read->balance.lifetime_earned, balance.lifetime_earned);
  EXPECT_EQ(read->balance.pending, 600);
  ASSERT_EQ(read->dated.next_expiries.size(), 2u);
  ASSERT_EQ(read->dated.upcoming_available.size(), 2u);
  EXPECT_EQ(dated_text(read->dated.next_expiries), dated_text(dated.next_expiries));
  EXPECT_EQ(dated_text(read->dated.upcoming_available), dated_text(dated.upcoming_available));

  // A member without a balance row reads as zeros.
  auto empty = ReadBalanceForView(**connection, {"shop", bob_}, clock_.Now(), kDates);
  ASSERT_THAT(empty, IsOk());
  EXPECT_FALSE(empty->due);
  EXPECT_EQ(empty->balance.available, 0);
  EXPECT_EQ(empty->balance.lifetime_earned, 0);
  EXPECT_TRUE(empty->dated.next_expiries.empty());
  EXPECT_TRUE(empty->dated.upcoming_available.empty());

  // The hold runs out after an hour, the first pending credit after 14 days: each alone is due.
  auto hold_out =
      ReadBalanceForView(**connection, {"shop", alice_}, clock_.Now() + absl::Hours(2), kDates);
  ASSERT_THAT(hold_out, IsOk());
  EXPECT_TRUE(hold_out->due);
  ASSERT_THAT(Void("h1"), IsOk());
  auto before_due = ReadBalanceForView(**connection, {"shop", alice_}, clock_.Now(), kDates);
  ASSERT_THAT(before_due, IsOk());
  EXPECT_FALSE(before_due->due);
  auto pending_due =
      ReadBalanceForView(**connection, {"shop", alice_}, kStart + absl::Hours(24 * 14), kDates);
  ASSERT_THAT(pending_due, IsOk());
  EXPECT_TRUE(pending_due->due);
}

// --- Refunds -------------------------------------------------------------------------------

TEST_F(PointsServiceTest, PartialRefundsTakeBackExactlyWhatThePurchaseEarned) {
  ASSERT_THAT(Purchase(alice_, "o1", 10000), IsOk());  // 100 points.
  int64_t reversed = 0;
  for (auto [amount, key] :
       std::vector<std::pair<int64_t, std::string>>{{3333, "r1"}, {3333, "r2"}, {3334, "r3"}}) {
    auto refund = Refund(alice_, "o1", amount, key);
    ASSERT_THAT(refund, IsOk());
    reversed += refund->points_reversed();
  }
  EXPECT_EQ(reversed, 100);
  EXPECT_EQ(Balance(alice_).available(), 0);
  EXPECT_THAT(Refund(alice_, "o1", 0, "r4"),
              StatusIs(C::kFailedPrecondition, "ORDER_FULLY_REFUNDED"));
  EXPECT_THAT(Refund(alice_, "nope", 0, "r5"), StatusIs(C::kNotFound, "ORDER_NOT_FOUND"));
}

TEST_F(PointsServiceTest, RefundAfterSpendingCreatesDebtThatLaterEarningsPayFirst) {
  ASSERT_THAT(Purchase(alice_, "o1", 10000), IsOk());  // 100 points.
  ASSERT_THAT(Adjust(alice_, -80, "spent"), IsOk());
  auto refund = Refund(alice_, "o1", 0, "full");
  ASSERT_THAT(refund, IsOk());
  EXPECT_EQ(refund->points_reversed(), 100);
  EXPECT_EQ(refund->debt_added(), 80);
  EXPECT_EQ(refund->balance().available(), 0);
  EXPECT_EQ(refund->balance().debt(), 80);
  auto next = Purchase(alice_, "o2", 5000);  // 50 points: all go to the debt.
  ASSERT_THAT(next, IsOk());
  EXPECT_EQ(next->balance().debt(), 30);
  EXPECT_EQ(next->balance().available(), 0);
  auto more = Purchase(alice_, "o3", 5000);
  ASSERT_THAT(more, IsOk());
  EXPECT_EQ(more->balance().debt(), 0);
  EXPECT_EQ(more->balance().available(), 20);
}

// --- Holds ---------------------------------------------------------------------------------

TEST_F(PointsServiceTest, HoldsResolveExactlyOnceByCaptureVoidOrExpiry) {
  ASSERT_THAT(Adjust(alice_, 100, "seed"), IsOk());
  auto held = Hold(alice_, "h1", 40);
  ASSERT_THAT(held, IsOk());
  EXPECT_EQ(Balance(alice_).held(), 40);
  EXPECT_EQ(Balance(alice_).available(), 60);
  ASSERT_THAT(Capture("h1"), IsOk());
  auto again = Capture("h1");  // A retried capture answers the same and spends nothing more.
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->hold().status(), v1::HOLD_STATUS_CAPTURED);
  EXPECT_THAT(Void("h1"), StatusIs(C::kFailedPrecondition, "HOLD_ALREADY_CAPTURED"));
  EXPECT_EQ(Balance(alice_).available(), 60);
  EXPECT_EQ(Balance(alice_).held(), 0);

  ASSERT_THAT(Hold(alice_, "h2", 30), IsOk());
  ASSERT_THAT(Void("h2"), IsOk());
  ASSERT_THAT(Void("h2"), IsOk());
  EXPECT_THAT(Capture("h2"), StatusIs(C::kFailedPrecondition, "HOLD_NOT_OPEN"));
  EXPECT_EQ(Balance(alice_).available(), 60);

  ASSERT_THAT(Hold(alice_, "h3", 50, /*ttl_seconds=*/60), IsOk());
  clock_.Advance(absl::Minutes(2));
  EXPECT_THAT(Capture("h3"), StatusIs(C::kFailedPrecondition, "HOLD_EXPIRED"));
  EXPECT_EQ(Balance(alice_).available(), 60);
  EXPECT_THAT(Hold(alice_, "h1", 99), StatusIs(C::kInvalidArgument, "IDEMPOTENCY_KEY_REUSED"));
  EXPECT_THAT(Capture("missing"), StatusIs(C::kNotFound, "HOLD_NOT_FOUND"));
}

TEST_F(PointsServiceTest, CapturedHoldIsRefundedOnceAsFreshPoints) {
  ASSERT_THAT(Adjust(alice_, 100, "seed"), IsOk());
  ASSERT_THAT(Hold(alice_, "h1", 40), IsOk());
  EXPECT_THAT(RefundHold("h1"), StatusIs(C::kFailedPrecondition, "HOLD_NOT_CAPTURED"));
  ASSERT_THAT(Capture("h1"), IsOk());
  EXPECT_EQ(Balance(alice_).available(), 60);

  auto refunded = RefundHold("h1");
  ASSERT_THAT(refunded, IsOk());
  EXPECT_EQ(refunded->hold().status(), v1::HOLD_STATUS_REFUNDED);
  EXPECT_EQ(refunded->hold().points(), 40);
  auto again = RefundHold("h1");  // The saga's retry: same answer, no second credit.
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->hold().status(), v1::HOLD_STATUS_REFUNDED);
  const v1::Balance balance = Balance(alice_);
  EXPECT_EQ(balance.available(), 100);
  EXPECT_EQ(balance.lifetime_earned(), 100);  // Given back, not earned again.
  EXPECT_THAT(Capture("h1"), StatusIs(C::kFailedPrecondition, "HOLD_NOT_OPEN"));
  EXPECT_THAT(Void("h1"), StatusIs(C::kFailedPrecondition, "HOLD_ALREADY_CAPTURED"));

  ASSERT_THAT(Hold(alice_, "h2", 10), IsOk());
  ASSERT_THAT(Void("h2"), IsOk());
  EXPECT_THAT(RefundHold("h2"), StatusIs(C::kFailedPrecondition, "HOLD_NOT_CAPTURED"));
  EXPECT_THAT(RefundHold("missing"), StatusIs(C::kNotFound, "HOLD_NOT_FOUND"));
}

// CreateHolds / CaptureHolds: one call, each hold answered as its single-hold call would be.
TEST_F(PointsServiceTest, BatchedHoldsAnswerEachHoldAloneAndExactlyOnce) {
  ASSERT_THAT(Adjust(alice_, 100, "seed-a"), IsOk());
  ASSERT_THAT(Adjust(bob_, 50, "seed-b"), IsOk());
  ASSERT_THAT(Hold(alice_, "old", 10), IsOk());  // Stored before the batch: a retry in it.
  const auto hold = [](const std::string& member, const std::string& id, int64_t points) {
    v1::CreateHoldRequest request;
    request.set_program("shop");
    request.set_member(member);
    request.set_hold_id(id);
    request.set_points(points);
    return request;
  };
  v1::CreateHoldsRequest create;
  *create.add_holds() = hold(alice_, "a1", 50);   // 90 available: held, 40 left.
  *create.add_holds() = hold(alice_, "a2", 60);   // Only 40 left after a1: refused alone.
  *create.add_holds() = hold(bob_, "b1", 50);     // Another member: held.
  *create.add_holds() = hold(alice_, "a1", 50);   // Twice in one call: the same hold.
  *create.add_holds() = hold(alice_, "old", 10);  // Stored earlier: the same hold.
  *create.add_holds() = hold(bob_, "old", 10);    // Someone else's id.
  *create.add_holds() = hold(alice_, "a3", 0);    // Bad input.
  *create.add_holds() = hold(alice_, "a4", 40);   // Exactly what is left: held.
  const std::string carol = Enroll("carol@example.com");
  *create.add_holds() = hold(carol, "c1", 1);  // Never earned, no balance row: refused.
  const auto check_created = [&](const v1::CreateHoldsResponse& created) {
    ASSERT_EQ(created.outcomes_size(), 9);
    const auto error = [&](int i) { return FromRpcStatus(created.outcomes(i).error()); };
    EXPECT_EQ(created.outcomes(0).hold().status(), v1::HOLD_STATUS_OPEN);
    EXPECT_EQ(created.outcomes(0).hold().points(), 50);
    EXPECT_THAT(error(1), StatusIs(C::kFailedPrecondition, "INSUFFICIENT_POINTS"));
    EXPECT_EQ(created.outcomes(2).hold().member(), bob_);
    EXPECT_EQ(created.outcomes(3).hold().hold_id(), "a1");
    EXPECT_EQ(created.outcomes(3).hold().expire_time().seconds(),
              created.outcomes(0).hold().expire_time().seconds());
    EXPECT_EQ(created.outcomes(4).hold().status(), v1::HOLD_STATUS_OPEN);
    EXPECT_THAT(error(5), StatusIs(C::kInvalidArgument, "IDEMPOTENCY_KEY_REUSED"));
    EXPECT_THAT(error(6), StatusIs(C::kInvalidArgument, "INVALID_POINTS"));
    EXPECT_EQ(created.outcomes(7).hold().status(), v1::HOLD_STATUS_OPEN);
    EXPECT_THAT(error(8), StatusIs(C::kFailedPrecondition, "INSUFFICIENT_POINTS"));
  };
  auto created = Call(&v1::PointsService::Stub::CreateHolds, create);
  ASSERT_THAT(created, IsOk());
  check_created(*created);
  EXPECT_EQ(Balance(alice_).available(), 0);
  EXPECT_EQ(Balance(alice_).held(), 100);
  EXPECT_EQ(Balance(bob_).held(), 50);
  // The whole call again: every hold answers the same, nothing more is held.
  auto again = Call(&v1::PointsService::Stub::CreateHolds, create);
  ASSERT_THAT(again, IsOk());
  check_created(*again);
  EXPECT_EQ(Balance(alice_).held(), 100);
  EXPECT_EQ(Balance(bob_).held(), 50);
  {  // Refusing carol's hold wrote nothing for her, not even an empty balance row.
    auto connection = points_pool_->Acquire();
    ASSERT_THAT(connection, IsOk());
    auto rows =
        (**connection).Execute(queries::kSelectBalance, pg::Params().Add("shop").Add(carol));
    ASSERT_THAT(rows, IsOk());
    EXPECT_EQ(rows->rows(), 0);
  }

  ASSERT_THAT(Void("a4"), IsOk());
  v1::CaptureHoldsRequest capture;
  capture.set_program("shop");
  for (const char* id : {"a1", "b1", "a1", "a4", "missing", "old"}) capture.add_hold_ids(id);
  const auto check_captured = [&](const v1::CaptureHoldsResponse& captured) {
    ASSERT_EQ(captured.outcomes_size(), 6);
    EXPECT_EQ(captured.outcomes(0).hold().status(), v1::HOLD_STATUS_CAPTURED);
    EXPECT_EQ(captured.outcomes(1).hold().status(), v1::HOLD_STATUS_CAPTURED);
    EXPECT_EQ(captured.outcomes(2).hold().status(), v1::HOLD_STATUS_CAPTURED);
    EXPECT_THAT(FromRpcStatus(captured.outcomes(3).error()),
                StatusIs(C::kFailedPrecondition, "HOLD_NOT_OPEN"));
    EXPECT_THAT(FromRpcStatus(captured.outcomes(4).error()),
                StatusIs(C::kNotFound, "HOLD_NOT_FOUND"));
    EXPECT_EQ(captured.outcomes(5).hold().status(), v1::HOLD_STATUS_CAPTURED);
  };
  auto captured = Call(&v1::PointsService::Stub::CaptureHolds, capture);
  ASSERT_THAT(captured, IsOk());
  check_captured(*captured);
  auto recaptured = Call(&v1::PointsService::Stub::CaptureHolds, capture);
  ASSERT_THAT(recaptured, IsOk());
  check_captured(*recaptured);
  // Spent once each: alice 50 + 10 of 100 (the voided 40 back), bob all of his 50.
  EXPECT_EQ(Balance(alice_).available(), 40);
  EXPECT_EQ(Balance(alice_).held(), 0);
  EXPECT_EQ(Balance(bob_).available(), 0);
  EXPECT_EQ(Balance(bob_).held(), 0);
  // A capture refunds as any other: the lots were spent.
  ASSERT_THAT(RefundHold("b1"), IsOk());
  EXPECT_EQ(Balance(bob_).available(), 50);

  v1::CaptureHoldsRequest empty;
  empty.set_program("shop");
  EXPECT_THAT(Call(&v1::PointsService::Stub::CaptureHolds, empty),
              StatusIs(C::kInvalidArgument, "INVALID_BATCH_SIZE"));
}

// A hold made with `capture` is spent in the transaction that makes it, oldest lots first, as a
// hold captured a moment later would be; CreateHold and CreateHolds alike.
TEST_F(PointsServiceTest, AHoldCapturedAsItIsMadeSpendsAtOnceOldestLotsFirst) {
  ASSERT_THAT(Adjust(alice_, 30, "first"), IsOk());
  clock_.Advance(absl::Hours(24));
  ASSERT_THAT(Adjust(alice_, 70, "second"), IsOk());
  ASSERT_THAT(Adjust(bob_, 50, "seed-b"), IsOk());
  const auto spend = [](const std::string& member, const std::string& id, int64_t points,
                        bool capture = true) {
    v1::CreateHoldRequest request;
    request.set_program("shop");
    request.set_member(member);
    request.set_hold_id(id);
    request.set_points(points);
    request.set_reason("reward:r1");
    request.set_capture(capture);
    return request;
  };
  auto spent = Call(&v1::PointsService::Stub::CreateHold, spend(alice_, "s1", 50));
  ASSERT_THAT(spent, IsOk());
  EXPECT_EQ(spent->hold().status(), v1::HOLD_STATUS_CAPTURED);
  v1::Balance balance = Balance(alice_);
  EXPECT_EQ(balance.available(), 50);
  EXPECT_EQ(balance.held(), 0);
  // The first lot (30, a day older) is gone, 20 came out of the second.
  ASSERT_EQ(balance.next_expiries_size(), 1);
  EXPECT_EQ(balance.next_expiries(0).points(), 50);
  // A repeat, with or without capture, answers with the hold as it is and spends nothing more.
  for (bool capture : {true, false}) {
    auto again = Call(&v1::PointsService::Stub::CreateHold, spend(alice_, "s1", 50, capture));
    ASSERT_THAT(again, IsOk());
    EXPECT_EQ(again->hold().status(), v1::HOLD_STATUS_CAPTURED);
  }
  ASSERT_THAT(Capture("s1"), IsOk());
  EXPECT_THAT(Void("s1"), StatusIs(C::kFailedPrecondition, "HOLD_ALREADY_CAPTURED"));
  EXPECT_EQ(Balance(alice_).available(), 50);

  v1::CreateHoldsRequest batch;
  *batch.add_holds() = spend(alice_, "b1", 20);         // Spent: 30 left.
  *batch.add_holds() = spend(alice_, "b2", 40);         // More than is left: refused alone.
  *batch.add_holds() = spend(alice_, "b3", 10, false);  // Held, not spent.
  *batch.add_holds() = spend(bob_, "b4", 50);           // All of bob's.
  *batch.add_holds() = spend(alice_, "s1", 50);         // Made before: as it is.
  const auto check = [&](const v1::CreateHoldsResponse& answered) {
    ASSERT_EQ(answered.outcomes_size(), 5);
    EXPECT_EQ(answered.outcomes(0).hold().status(), v1::HOLD_STATUS_CAPTURED);
    EXPECT_THAT(FromRpcStatus(answered.outcomes(1).error()),
                StatusIs(C::kFailedPrecondition, "INSUFFICIENT_POINTS"));
    EXPECT_EQ(answered.outcomes(2).hold().status(), v1::HOLD_STATUS_OPEN);
    EXPECT_EQ(answered.outcomes(3).hold().status(), v1::HOLD_STATUS_CAPTURED);
    EXPECT_EQ(answered.outcomes(4).hold().status(), v1::HOLD_STATUS_CAPTURED);
  };
  for (int round = 0; round < 2; ++round) {  // The whole call again changes nothing.
    auto answered = Call(&v1::PointsService::Stub::CreateHolds, batch);
    ASSERT_THAT(answered, IsOk());
    check(*answered);
    EXPECT_EQ(Balance(alice_).available(), 20);
    EXPECT_EQ(Balance(alice_).held(), 10);
    EXPECT_EQ(Balance(bob_).available(), 0);
  }
  EXPECT_EQ(Balance(alice_).next_expiries(0).points(), 30);  // Lots: 20 free, 10 held.

  // Each spend published PointsSpent with its ledger transaction, and refunds as any capture.
  std::vector<std::string> spent_holds;
  for (const events::v1::Event& event : Events()) {
    if (event.event_type() != v1::PointsSpent::descriptor()->full_name()) continue;
    v1::PointsSpent payload;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(event.payload(), &payload).ok());
    EXPECT_GT(payload.transaction_id(), 0);
    spent_holds.push_back(payload.hold_id());
  }
  EXPECT_THAT(spent_holds, ::testing::UnorderedElementsAre("s1", "b1", "b4"));
  ASSERT_THAT(RefundHold("s1"), IsOk());
  ASSERT_THAT(RefundHold("b4"), IsOk());
  EXPECT_EQ(Balance(alice_).available(), 70);
  EXPECT_EQ(Balance(bob_).available(), 50);
  ASSERT_THAT(Void("b3"), IsOk());
  EXPECT_EQ(Balance(alice_).available(), 80);
}

// A batch of holds for a member whose pending points came due meanwhile releases them first, as
// CreateHold does, and a capture spends from the lot the release opened.
TEST_F(PointsServiceTest, BatchedHoldsReleaseDuePendingPointsBeforeSpendingThem) {
  SetRules([](v1::EarningRules& rules) { rules.set_pending_days(14); });
  ASSERT_THAT(Purchase(alice_, "o1", 20000), IsOk());  // 200 points, pending for 14 days.
  ASSERT_THAT(Adjust(bob_, 50, "seed-b"), IsOk());
  clock_.Advance(absl::Hours(24 * 15));
  v1::CreateHoldsRequest batch;
  for (const auto& [member, id, points] :
       {std::tuple(alice_, "a1", 150), std::tuple(bob_, "b1", 20)}) {
    v1::CreateHoldRequest* hold = batch.add_holds();
    hold->set_program("shop");
    hold->set_member(member);
    hold->set_hold_id(id);
    hold->set_points(points);
    hold->set_capture(true);
  }
  auto answered = Call(&v1::PointsService::Stub::CreateHolds, batch);
  ASSERT_THAT(answered, IsOk());
  ASSERT_EQ(answered->outcomes_size(), 2);
  EXPECT_EQ(answered->outcomes(0).hold().status(), v1::HOLD_STATUS_CAPTURED);
  EXPECT_EQ(answered->outcomes(1).hold().status(), v1::HOLD_STATUS_CAPTURED);
  const v1::Balance alice = Balance(alice_);
  EXPECT_EQ(alice.pending(), 0);
  EXPECT_EQ(alice.available(), 50);
  ASSERT_EQ(alice.next_expiries_size(), 1);
  EXPECT_EQ(alice.next_expiries(0).points(), 50);
  EXPECT_EQ(Balance(bob_).available(), 30);
}

TEST_F(PointsServiceTest, ExpiredHoldsAreVoidedByTheBackgroundSweep) {
  ASSERT_THAT(Adjust(alice_, 100, "seed"), IsOk());
  ASSERT_THAT(Hold(alice_, "h1", 70, 30), IsOk());
  clock_.Advance(absl::Minutes(1));
  auto expired = handler_->ExpireHolds(100);
  ASSERT_THAT(expired, IsOk());
  EXPECT_EQ(*expired, 1);
  EXPECT_EQ(Balance(alice_).available(), 100);
  EXPECT_EQ(Balance(alice_).held(), 0);
}

// --- Events --------------------------------------------------------------------------------

TEST_F(PointsServiceTest, EachLedgerChangeWritesItsEventAndReplaysAndRefusalsWriteNone) {
  v1::RecordPurchaseRequest purchase;
  purchase.set_program("shop");
  purchase.set_member(alice_);
  purchase.set_request_id("p-o1");
  purchase.set_order_id("o1");
  purchase.set_currency_code("EUR");
  purchase.set_total_minor(10000);
  v1::PurchaseLine* line = purchase.add_lines();
  line->set_sku("COFFEE");
  line->set_category("drinks");
  line->set_quantity(4);
  line->set_unit_price_minor(2500);
  ASSERT_THAT(Call(&v1::PointsService::Stub::RecordPurchase, purchase), IsOk());
  ASSERT_THAT(Call(&v1::PointsService::Stub::RecordPurchase, purchase), IsOk());  // Replay.
  v1::RecordActivityRequest activity;
  activity.set_program("shop");
  activity.set_member(alice_);
  activity.set_request_id("review-1");
  activity.set_type(v1::ACTIVITY_TYPE_REVIEW);
  activity.set_reference("review-1");
  auto reviewed = Call(&v1::PointsService::Stub::RecordActivity, activity);
  ASSERT_THAT(reviewed, IsOk());
  ASSERT_THAT(Refund(alice_, "o1", 5000, "r1"), IsOk());
  ASSERT_THAT(Adjust(alice_, -10, "a1"), IsOk());
  v1::TransferPointsRequest transfer;
  transfer.set_program("shop");
  transfer.set_member(alice_);
  transfer.set_to_member(bob_);
  transfer.set_request_id("t1");
  transfer.set_points(20);
  ASSERT_THAT(Call(&v1::PointsService::Stub::TransferPoints, transfer), IsOk());
  transfer.set_request_id("t2");
  transfer.set_points(100'000);
  EXPECT_THAT(Call(&v1::PointsService::Stub::TransferPoints, transfer),
              StatusIs(C::kFailedPrecondition, "INSUFFICIENT_POINTS"));
  ASSERT_THAT(Hold(alice_, "h1", 30), IsOk());
  ASSERT_THAT(Capture("h1"), IsOk());
  ASSERT_THAT(Capture("h1"), IsOk());  // The saga's retry: no second event.
  ASSERT_THAT(RefundHold("h1"), IsOk());
  ASSERT_THAT(Hold(alice_, "h2", 5), IsOk());
  ASSERT_THAT(Void("h2"), IsOk());  // A hold voided moves nothing out: no event.
  clock_.Advance(absl::Hours(24 * 400));
  auto expired = Expire();
  ASSERT_THAT(expired, IsOk());

  const std::vector<events::v1::Event> events = Events();
  ASSERT_EQ(events.size(), 9u);
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_GT(events[i].sequence(), events[i - 1].sequence());
  }
  const auto earned = PayloadOf<v1::PointsEarned>(events[0], alice_);
  EXPECT_EQ(earned.source(), v1::EARN_SOURCE_PURCHASE);
  EXPECT_EQ(earned.points(), 100);
  EXPECT_EQ(earned.order_id(), "o1");
  EXPECT_EQ(earned.currency_code(), "EUR");
  EXPECT_EQ(earned.total_minor(), 10000);
  ASSERT_EQ(earned.lines_size(), 1);
  EXPECT_EQ(earned.lines(0).sku(), "COFFEE");
  EXPECT_EQ(earned.lines(0).quantity(), 4);
  EXPECT_GT(earned.transaction_id(), 0);
  const auto review = PayloadOf<v1::PointsEarned>(events[1], alice_);
  EXPECT_EQ(review.source(), v1::EARN_SOURCE_ACTIVITY);
  EXPECT_EQ(review.points(), reviewed->points());
  EXPECT_EQ(review.activity_type(), v1::ACTIVITY_TYPE_REVIEW);
  EXPECT_EQ(review.reference(), "review-1");
  const auto refunded = PayloadOf<v1::PointsRefunded>(events[2], alice_);
  EXPECT_EQ(refunded.order_id(), "o1");
  EXPECT_EQ(refunded.points(), 50);
  EXPECT_EQ(refunded.refund_minor(), 5000);
  EXPECT_FALSE(refunded.order_fully_refunded());  // Half of the order.
  EXPECT_EQ(PayloadOf<v1::PointsAdjusted>(events[3], alice_).points(), -10);
  const auto transferred = PayloadOf<v1::PointsTransferred>(events[4], alice_);
  EXPECT_EQ(transferred.to_member(), bob_);
  EXPECT_EQ(transferred.points(), 20);
  const auto spent = PayloadOf<v1::PointsSpent>(events[5], alice_);
  EXPECT_EQ(spent.hold_id(), "h1");
  EXPECT_EQ(spent.points(), 30);
  EXPECT_EQ(PayloadOf<v1::PointsReturned>(events[6], alice_).points(), 30);
  // Expiry, member by member: everything left of alice's and bob's lots.
  int64_t expired_points = 0;
  std::vector<std::string> expired_members;
  for (size_t i = 7; i < 9; ++i) {
    const std::string member = events[i].aggregate_id();
    expired_members.push_back(member);
    expired_points += PayloadOf<v1::PointsExpired>(events[i], member).points();
  }
  EXPECT_THAT(expired_members, ::testing::UnorderedElementsAre(alice_, bob_));
  EXPECT_EQ(expired_points, expired->points_expired());
  EXPECT_EQ(Balance(alice_).available() + Balance(bob_).available(), 0);
}

// --- Transfers and history -----------------------------------------------------------------

TEST_F(PointsServiceTest, TransfersMovePointsAndShowOnBothSides) {
  ASSERT_THAT(Adjust(alice_, 100, "seed"), IsOk());
  v1::TransferPointsRequest request;
  request.set_program("shop");
  request.set_member(alice_);
  request.set_to_member(bob_);
  request.set_request_id("t1");
  request.set_points(40);
  ASSERT_THAT(Call(&v1::PointsService::Stub::TransferPoints, request), IsOk());
  EXPECT_EQ(Balance(alice_).available(), 60);
  EXPECT_EQ(Balance(bob_).available(), 40);
  request.set_request_id("t2");
  request.set_points(61);
  EXPECT_THAT(Call(&v1::PointsService::Stub::TransferPoints, request),
              StatusIs(C::kFailedPrecondition, "INSUFFICIENT_POINTS"));
  request.set_to_member(alice_);
  EXPECT_THAT(Call(&v1::PointsService::Stub::TransferPoints, request),
              StatusIs(C::kInvalidArgument, "SELF_TRANSFER"));

  v1::ListTransactionsRequest list;
  list.set_program("shop");
  list.set_member(bob_);
  auto bobs = Call(&v1::PointsService::Stub::ListTransactions, list);
  ASSERT_THAT(bobs, IsOk());
  ASSERT_EQ(bobs->transactions_size(), 1);
  EXPECT_EQ(bobs->transactions(0).kind(), v1::TRANSACTION_KIND_TRANSFER_IN);
  EXPECT_EQ(bobs->transactions(0).points(), 40);
  EXPECT_EQ(bobs->transactions(0).counterparty_member(), alice_);
}

TEST_F(PointsServiceTest, TransactionsPageNewestFirst) {
  for (int i = 0; i < 5; ++i) ASSERT_THAT(Adjust(alice_, i + 1, absl::StrCat("a", i)), IsOk());
  v1::ListTransactionsRequest list;
  list.set_program("shop");
  list.set_member(alice_);
  list.set_page_size(2);
  std::vector<int64_t> points;
  for (int page = 0; page < 5; ++page) {
    auto response = Call(&v1::PointsService::Stub::ListTransactions, list);
    ASSERT_THAT(response, IsOk());
    for (const auto& t : response->transactions()) points.push_back(t.points());
    if (response->next_page_token().empty()) break;
    list.set_page_token(response->next_page_token());
  }
  EXPECT_EQ(points, (std::vector<int64_t>{5, 4, 3, 2, 1}));
}

TEST_F(PointsServiceTest, LeaderboardRanksByPointsEarnedInThePeriod) {
  ASSERT_THAT(Purchase(alice_, "a1", 30000), IsOk());
  ASSERT_THAT(Purchase(bob_, "b1", 50000), IsOk());
  v1::GetLeaderboardRequest request;
  request.set_program("shop");
  request.set_period(v1::LEADERBOARD_PERIOD_MONTH);
  request.set_member(alice_);
  auto board = Call(&v1::PointsService::Stub::GetLeaderboard, request);
  ASSERT_THAT(board, IsOk());
  ASSERT_EQ(board->entries_size(), 2);
  EXPECT_EQ(board->entries(0).member(), bob_);
  EXPECT_EQ(board->entries(0).rank(), 1);
  EXPECT_EQ(board->member_entry().rank(), 2);
  EXPECT_EQ(board->member_entry().points(), 300);
}

// --- Concurrency ---------------------------------------------------------------------------

TEST_F(PointsServiceTest, AThousandConcurrentCreditsToOneMemberLoseNothing) {
  constexpr int kThreads = 16;
  constexpr int kCredits = 1000;
  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = next++; i < kCredits; i = next++) {
        auto result = Adjust(alice_, 1, absl::StrCat("credit-", i));
        if (!result.ok()) {
          if (failures++ == 0) ADD_FAILURE() << result.status();
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Balance(alice_).available(), kCredits);
}

// Batched reads: concurrent GetBalance calls share statements, yet each caller gets its own
// member's balance; and one statement for several members answers each in its place.
TEST_F(PointsServiceTest, ConcurrentBalanceReadsEachGetTheirOwnMember) {
  constexpr int kMembers = 12;
  std::vector<std::string> members;
  for (int m = 0; m < kMembers; ++m) {
    members.push_back(Enroll(absl::StrCat("reader", m, "@example.com")));
    ASSERT_THAT(Adjust(members.back(), 10 * (m + 1), absl::StrCat("seed-", m)), IsOk());
  }
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        // Half the threads read one member over and over: its reads share batches too.
        const int m = t % 2 == 0 ? 0 : (t * 7 + i) % kMembers;
        if (Balance(members[m]).available() != 10 * (m + 1)) ++wrong;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);

  auto connection = points_pool_->Acquire();
  ASSERT_THAT(connection, IsOk());
  const MemberRef batch[] = {{"shop", members[2]}, {"shop", bob_}, {"shop", members[0]}};
  const absl::Time times[] = {clock_.Now(), clock_.Now(), clock_.Now()};
  const pg::Statement statement = BalanceViews(batch, times, 5);
  auto rows = (**connection).Execute(*statement.query, statement.params);
  ASSERT_THAT(rows, IsOk());
  const std::vector<BalanceRead> reads = ParseBalanceViews(*rows, 3);
  EXPECT_EQ(reads[0].balance.available, 30);
  EXPECT_EQ(reads[1].balance.available, 0);
  EXPECT_EQ(reads[2].balance.available, 10);
}

// Group commit: concurrent purchases are written in shared transactions, yet each caller gets
// the answer a transaction of its own would have given.
TEST_F(PointsServiceTest, ConcurrentPurchasesShareTransactionsAndEachGetsItsOwnAnswer) {
  constexpr int kMembers = 12;
  constexpr int kPurchases = 96;
  constexpr int kThreads = 32;
  std::vector<std::string> members;
  for (int i = 0; i < kMembers; ++i) {
    members.push_back(Enroll(absl::StrCat("m", i, "@example.com")));
  }
  handler_->ExportMetrics(server_->registry());

  std::mutex mutex;
  std::map<std::string, std::vector<v1::RecordPurchaseResponse>> answers;  // By member.
  std::vector<v1::RecordPurchaseResponse> replays;
  std::map<std::string, absl::Status> duplicates;  // By member.
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = next++; i < kPurchases + 16; i = next++) {
        if (i < kPurchases) {  // Purchase i earns i + 1 points.
          auto answer = Purchase(members[i % kMembers], absl::StrCat("o-", i), 100 * (i + 1));
          std::lock_guard lock(mutex);
          if (answer.ok()) {
            answers[members[i % kMembers]].push_back(*answer);
          } else {
            ADD_FAILURE() << "purchase " << i << ": " << answer.status();
          }
        } else if (i < kPurchases + 8) {  // Retries of purchase 0, racing it.
          auto replay = Purchase(members[0], "o-0", 100);
          std::lock_guard lock(mutex);
          if (replay.ok()) replays.push_back(*replay);
          if (!replay.ok()) ADD_FAILURE() << "replay: " << replay.status();
        } else {  // One order id sent for eight members under eight keys.
          const int k = i - kPurchases - 8;
          auto duplicate = Purchase(members[k], "same-order", 5000, absl::StrCat("same-order-", k));
          std::lock_guard lock(mutex);
          duplicates[members[k]] = duplicate.status();
          if (duplicate.ok()) answers[members[k]].push_back(*duplicate);
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();

  // Exactly one of the eight claims on the order id won; the rest were told why.
  ASSERT_EQ(duplicates.size(), 8u);
  std::string winner;
  for (const auto& [member, status] : duplicates) {
    if (status.ok()) {
      EXPECT_EQ(winner, "") << "two purchases recorded one order id";
      winner = member;
    } else {
      EXPECT_THAT(status, StatusIs(C::kAlreadyExists, "ORDER_ALREADY_RECORDED"));
    }
  }
  EXPECT_NE(winner, "");
  // Every retry of purchase 0 got purchase 0's one answer.
  const auto& first = answers[members[0]];
  auto original = std::find_if(first.begin(), first.end(), [](const auto& answer) {
    return answer.transaction().order_id() == "o-0";
  });
  ASSERT_NE(original, first.end());
  for (const auto& replay : replays) {
    EXPECT_EQ(replay.transaction().id(), original->transaction().id());
    EXPECT_EQ(replay.balance().available(), original->balance().available());
  }

  // Each answer shows its member's balance right after its own purchase: in ledger order, each
  // available balance is the one before plus the purchase's points.
  int64_t written = 0;
  for (const std::string& member : members) {
    auto mine = answers[member];
    std::sort(mine.begin(), mine.end(), [](const auto& a, const auto& b) {
      return std::stoll(a.transaction().id()) < std::stoll(b.transaction().id());
    });
    int64_t available = 0;
    for (const auto& answer : mine) {
      available += answer.points();
      EXPECT_EQ(answer.balance().available(), available) << member;
      EXPECT_EQ(answer.balance().lifetime_earned(), available) << member;
    }
    EXPECT_EQ(Balance(member).available(), available) << member;
    // The last answer's balance, dates included, is what GetBalance reads afterwards.
    ASSERT_FALSE(mine.empty());
    EXPECT_EQ(mine.back().balance().DebugString(), Balance(member).DebugString()) << member;
    EXPECT_EQ(mine.back().balance().next_expiries_size(), 1) << member;
    written += static_cast<int64_t>(mine.size());
  }
  EXPECT_EQ(written, kPurchases + 1);  // With the one purchase of the shared order id.

  // And they were written together: fewer database transactions than purchases.
  auto connection = points_pool_->Acquire();
  ASSERT_THAT(connection, IsOk());
  auto transactions =
      (*connection)
          ->Execute(pg::Query{"t_purchase_xids",
                              "SELECT count(DISTINCT xmin::text) FROM ledger_transactions"});
  ASSERT_THAT(transactions, IsOk());
  EXPECT_LT(transactions->Int64(0, 0), kPurchases);
  EXPECT_GE(transactions->Int64(0, 0), 1);

  // The metrics count every purchase handed to a writer once, in fewer batches than purchases.
  const std::vector<prometheus::MetricFamily> families = server_->registry().Collect();
  auto sizes = std::find_if(families.begin(), families.end(), [](const auto& family) {
    return family.name == "loyalty_points_purchase_batch_size";
  });
  ASSERT_NE(sizes, families.end());
  const prometheus::ClientMetric::Histogram& batches = sizes->metric.at(0).histogram;
  EXPECT_EQ(batches.sample_sum, kPurchases + 16);  // With the replays and the shared order id.
  EXPECT_LT(batches.sample_count, static_cast<uint64_t>(kPurchases + 16));
}

TEST_F(PointsServiceTest, OfFiftyConcurrentSpendsOfSixtyFromOneHundredExactlyOneSucceeds) {
  ASSERT_THAT(Adjust(alice_, 100, "seed"), IsOk());
  constexpr int kSpends = 50;
  std::atomic<int> succeeded{0};
  std::atomic<int> insufficient{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kSpends; ++i) {
    threads.emplace_back([&, i] {
      auto result = Hold(alice_, absl::StrCat("spend-", i), 60);
      if (result.ok()) {
        ++succeeded;
      } else if (ErrorReason(result.status()) == "INSUFFICIENT_POINTS") {
        ++insufficient;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(succeeded.load(), 1);
  EXPECT_EQ(insufficient.load(), kSpends - 1);
  EXPECT_EQ(Balance(alice_).available(), 40);
  EXPECT_EQ(Balance(alice_).held(), 60);
}

// --- Bad input -----------------------------------------------------------------------------

TEST_F(PointsServiceTest, BadInputIsInvalidArgumentAndWritesNothing) {
  v1::RecordPurchaseRequest request;
  request.set_program("shop");
  request.set_member(alice_);
  request.set_request_id("bad");
  request.set_order_id("bad");
  request.set_currency_code("EUR");
  request.set_total_minor(-5);
  EXPECT_THAT(Call(&v1::PointsService::Stub::RecordPurchase, request),
              StatusIs(C::kInvalidArgument));
  request.set_total_minor(100);
  request.set_order_id("");
  EXPECT_THAT(Call(&v1::PointsService::Stub::RecordPurchase, request),
              StatusIs(C::kInvalidArgument, "FIELD_REQUIRED"));
  EXPECT_THAT(Adjust(alice_, 0, "zero"), StatusIs(C::kInvalidArgument, "INVALID_POINTS"));
  EXPECT_THAT(Adjust(alice_, -1, "negative"),
              StatusIs(C::kFailedPrecondition, "INSUFFICIENT_POINTS"));
  v1::ListTransactionsRequest list;
  list.set_program("shop");
  list.set_member(alice_);
  list.set_page_size(-1);
  EXPECT_THAT(Call(&v1::PointsService::Stub::ListTransactions, list),
              StatusIs(C::kInvalidArgument, "INVALID_PAGE_SIZE"));
  EXPECT_EQ(Balance(alice_).available(), 0);
  v1::GetBalanceRequest unknown;
  unknown.set_program("shop");
  unknown.set_member("mnosuchmember00");
  EXPECT_THAT(Call(&v1::PointsService::Stub::GetBalance, unknown),
              StatusIs(C::kNotFound, "MEMBER_NOT_FOUND"));
}

}  // namespace
}  // namespace loyalty::points
