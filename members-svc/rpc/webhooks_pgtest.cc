// Webhooks against a real members-svc on PostgreSQL, over gRPC on port 0, delivering to real
// HTTP receivers on 127.0.0.1 (docs/webhooks.md): the API and its validation, the fan-out of
// events exactly once into the queue, signed delivery, retries with backoff, dead letters and
// their retry, a hanging endpoint beside a healthy one, and a lease that outlives its dispatcher.
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "boost/asio/ip/address.hpp"
#include "common/clock.h"
#include "common/events/consumer.h"
#include "common/rpc/proto_time.h"
#include "common/status/grpc_status.h"
#include "common/testkit/service_harness.h"
#include "common/testkit/status_matchers.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "loyalty/members/v1/webhooks_service.grpc.pb.h"
#include "loyalty/points/v1/points_events.pb.h"
#include "members-svc/migrations.h"
#include "members-svc/rpc/grpc_service.h"
#include "members-svc/rpc/members_handler.h"
#include "members-svc/rpc/testing/webhook_receiver.h"
#include "members-svc/rpc/webhook_dispatcher.h"
#include "members-svc/rpc/webhook_http.h"
#include "members-svc/rpc/webhook_signature.h"
#include "members-svc/rpc/webhooks_grpc_service.h"
#include "members-svc/rpc/webhooks_handler.h"
#include "openssl/evp.h"
#include "openssl/hmac.h"
#include "prometheus/registry.h"

namespace loyalty::members {
namespace {

using ::testing::HasSubstr;

namespace mv1 = ::loyalty::members::v1;
namespace pv1 = ::loyalty::points::v1;
using ::loyalty::testkit::IsOk;
using ::loyalty::testkit::StatusIs;
using testing::WebhookReceiver;
using C = absl::StatusCode;

constexpr char kKey[] = "webhooks-test-page-token-key";
constexpr char kEarned[] = "loyalty.points.v1.PointsEarned";
constexpr char kEnrolled[] = "loyalty.members.v1.MemberEnrolled";
constexpr char kRefunded[] = "loyalty.points.v1.PointsRefunded";
// Long enough for a loaded CI machine to send a handful of requests to a local receiver.
constexpr absl::Duration kPatience = absl::Seconds(15);

// The signature as a receiver computes it, independently of webhook_signature.cc.
std::string ExpectedSignature(const std::string& secret, const std::string& id,
                              const std::string& timestamp, const std::string& body) {
  std::string key;
  EXPECT_TRUE(absl::Base64Unescape(secret.substr(6), &key));
  const std::string content = id + "." + timestamp + "." + body;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(content.data()), content.size(), mac, &length);
  return "v1," + absl::Base64Escape(absl::string_view(reinterpret_cast<char*>(mac), length));
}

google::protobuf::Struct ParseJson(const std::string& json) {
  google::protobuf::Struct parsed;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok()) << json;
  return parsed;
}

class WebhooksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    schema_ = testkit::MustSchema("whmembers");
    pool_ = schema_->MakePool(8);
    testkit::MustMigrate(*pool_, Migrations());
    members_ = std::make_unique<MembersHandler>(*pool_, clock_,
                                                MembersHandlerOptions{.page_token_key = kKey});
    webhooks_ = std::make_unique<WebhooksHandler>(*pool_, clock_,
                                                  WebhooksHandlerOptions{.page_token_key = kKey});
    members_service_ = std::make_unique<GrpcMembersService>(*members_);
    webhooks_service_ = std::make_unique<GrpcWebhooksService>(*webhooks_);
    auto server = server::GrpcServer::Start({.service_name = "webhooks-test",
                                             .listen_address = "127.0.0.1",
                                             .grpc_port = 0,
                                             .metrics_port = -1},
                                            {members_service_.get(), webhooks_service_.get()});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    auto channel = testkit::InsecureChannel(testkit::AddressOf(*server_));
    members_stub_ = mv1::MembersService::NewStub(channel);
    webhooks_stub_ = mv1::WebhooksService::NewStub(channel);
    for (const char* program : {"shop", "other"}) CreateProgram(program);
  }

  void TearDown() override {
    if (dispatcher_ != nullptr) dispatcher_->Stop();
  }

  void CreateProgram(const std::string& id) {
    mv1::CreateProgramRequest request;
    request.set_request_id("program-" + id);
    request.mutable_program()->set_id(id);
    request.mutable_program()->set_display_name(id);
    request.mutable_program()->set_currency_code("EUR");
    grpc::ClientContext context;
    mv1::CreateProgramResponse response;
    ASSERT_TRUE(members_stub_->CreateProgram(&context, request, &response).ok());
  }

  template <typename Request, typename Response>
  absl::StatusOr<Response> Call(grpc::Status (mv1::WebhooksService::Stub::*rpc)(
                                    grpc::ClientContext*, const Request&, Response*),
                                const Request& request) {
    grpc::ClientContext context;
    Response response;
    const grpc::Status status = (webhooks_stub_.get()->*rpc)(&context, request, &response);
    if (!status.ok()) return FromGrpcStatus(status);
    return response;
  }

  absl::StatusOr<mv1::Webhook> Create(const std::string& program, const std::string& url,
                                      const std::vector<std::string>& types,
                                      const std::string& request_id = "") {
    mv1::CreateWebhookRequest request;
    request.set_program(program);
    request.set_request_id(request_id.empty() ? absl::StrCat("create-", ++creates_) : request_id);
    request.mutable_webhook()->set_url(url);
    for (const std::string& type : types) request.mutable_webhook()->add_event_types(type);
    request.mutable_webhook()->set_description("order system");
    auto response = Call(&mv1::WebhooksService::Stub::CreateWebhook, request);
    if (!response.ok()) return response.status();
    return response->webhook();
  }

  absl::StatusOr<std::vector<mv1::WebhookDelivery>> Deliveries(
      const mv1::Webhook& webhook, mv1::DeliveryState state = mv1::DELIVERY_STATE_UNSPECIFIED) {
    mv1::ListWebhookDeliveriesRequest request;
    request.set_program(webhook.name().substr(9, webhook.name().find('/', 9) - 9));
    request.set_webhook(webhook.id());
    request.set_state(state);
    auto response = Call(&mv1::WebhooksService::Stub::ListWebhookDeliveries, request);
    if (!response.ok()) return response.status();
    return std::vector<mv1::WebhookDelivery>(response->deliveries().begin(),
                                             response->deliveries().end());
  }

  std::string Enroll(const std::string& email) {
    mv1::EnrollMemberRequest request;
    request.set_program("shop");
    request.set_request_id("enrol-" + email);
    request.mutable_profile()->set_email(email);
    grpc::ClientContext context;
    mv1::EnrollMemberResponse response;
    EXPECT_TRUE(members_stub_->EnrollMember(&context, request, &response).ok());
    return response.member().id();
  }

  // What the service's background loop does: members-svc's own events into deliveries.
  void FanOutOwnEvents() {
    auto applied =
        events::FollowOutbox(*pool_, "members-webhooks", "members-svc-webhooks", FanOut(), 100, 10);
    ASSERT_THAT(applied.status(), IsOk());
  }

  // As members-svc/main.cc wires it: a whole message at once.
  events::ApplyBatchFn FanOut() {
    return
        [this](pg::Connection& connection, std::span<const events::v1::Event* const> fresh_events) {
          return webhooks_->ApplyEvents(connection, fresh_events);
        };
  }

  // points-svc's events as its stream would bring them: applied in one consumer transaction.
  void ConsumePointsEvents(const std::vector<events::v1::Event>& batch) {
    events::v1::SubscribeResponse message;
    for (const events::v1::Event& event : batch) {
      *message.add_events() = event;
      message.set_scanned_sequence(event.sequence());
    }
    message.set_head_sequence(message.scanned_sequence());
    ASSERT_THAT(
        events::ApplyMessage(*pool_, "points-webhooks", message, nullptr, FanOut()).status(),
        IsOk());
  }

  events::v1::Event PointsEvent(const std::string& program, const std::string& type,
                                int64_t points) {
    ++sequence_;
    events::v1::Event event;
    event.set_event_id(absl::StrCat("evt", sequence_, "-", program));
    event.set_sequence(sequence_);
    event.set_program(program);
    event.set_aggregate_type("member");
    event.set_aggregate_id("m1");
    event.set_event_type(type);
    if (type == kEarned) {
      pv1::PointsEarned earned;
      earned.set_program(program);
      earned.set_member("m1");
      earned.set_points(points);
      EXPECT_TRUE(
          google::protobuf::util::MessageToJsonString(earned, event.mutable_payload()).ok());
    } else {
      pv1::PointsRefunded refunded;
      refunded.set_program(program);
      refunded.set_member("m1");
      refunded.set_points(points);
      EXPECT_TRUE(
          google::protobuf::util::MessageToJsonString(refunded, event.mutable_payload()).ok());
    }
    *event.mutable_occur_time() = ToTimestamp(absl::FromUnixSeconds(1'800'000'000));
    return event;
  }

  void StartDispatcher(WebhookDispatcherOptions options, prometheus::Registry* registry = nullptr) {
    client_ =
        *WebhookHttpClient::Create({.timeout = options.timeout, .allow_private_targets = true});
    dispatcher_ = std::make_unique<WebhookDispatcher>(*pool_, clock_, *client_, options);
    if (registry != nullptr) dispatcher_->ExportMetrics(*registry);
    dispatcher_->Start();
  }

  // The value of the sample of `family` whose labels include `label`=`value`.
  static double MetricValue(prometheus::Registry& registry, const std::string& family,
                            const std::string& label, const std::string& value) {
    for (const prometheus::MetricFamily& metrics : registry.Collect()) {
      if (metrics.name != family) continue;
      for (const prometheus::ClientMetric& metric : metrics.metric) {
        for (const prometheus::ClientMetric::Label& pair : metric.label) {
          if (pair.name == label && pair.value == value) {
            return metric.counter.value + metric.gauge.value;
          }
        }
      }
    }
    return -1;
  }

  static WebhookDispatcherOptions Fast() {
    return WebhookDispatcherOptions{.workers = 4,
                                    .endpoint_concurrency = 2,
                                    .max_attempts = 3,
                                    .backoff_initial = absl::Milliseconds(50),
                                    .backoff_max = absl::Milliseconds(200),
                                    .timeout = absl::Seconds(5),
                                    .lease_margin = absl::Milliseconds(100),
                                    .poll_interval = absl::Milliseconds(20)};
  }

  // Waits until `predicate` holds, at most kPatience.
  template <typename Predicate>
  bool Eventually(Predicate predicate) {
    const absl::Time deadline = absl::Now() + kPatience;
    while (absl::Now() < deadline) {
      if (predicate()) return true;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return predicate();
  }

  RealClock clock_;
  std::unique_ptr<testkit::TestSchema> schema_;
  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<MembersHandler> members_;
  std::unique_ptr<WebhooksHandler> webhooks_;
  std::unique_ptr<GrpcMembersService> members_service_;
  std::unique_ptr<GrpcWebhooksService> webhooks_service_;
  std::unique_ptr<server::GrpcServer> server_;
  std::unique_ptr<mv1::MembersService::Stub> members_stub_;
  std::unique_ptr<mv1::WebhooksService::Stub> webhooks_stub_;
  std::unique_ptr<WebhookHttpClient> client_;
  std::unique_ptr<WebhookDispatcher> dispatcher_;
  int creates_ = 0;
  int64_t sequence_ = 0;
};

TEST(WebhookSignature, MatchesTheStandardWebhooksTestVector) {
  auto signature =
      WebhookSignature("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
                       1614265330, R"({"test": 2432232314})");
  ASSERT_TRUE(signature.ok());
  EXPECT_EQ(*signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  EXPECT_THAT(WebhookSignature("secret", "id", 1, "{}").status(), StatusIs(C::kInvalidArgument));
}

TEST(WebhookHttpClient, IsPublicAddressRefusesEveryInternalRange) {
  for (const char* internal : {"127.0.0.1",
                               "127.255.0.9",
                               "10.1.2.3",
                               "172.16.0.1",
                               "172.31.255.255",
                               "192.168.1.1",
                               "169.254.169.254",
                               "100.64.0.1",
                               "0.0.0.0",
                               "224.0.0.251",
                               "255.255.255.255",
                               "198.18.0.1",
                               "192.0.2.10",
                               "::1",
                               "::",
                               "fe80::1",
                               "fc00::1",
                               "fd12:3456::1",
                               "ff02::1",
                               "::ffff:127.0.0.1",
                               "::ffff:10.0.0.1",
                               "64:ff9b::a9fe:a9fe",
                               "2001:db8::1"}) {
    EXPECT_FALSE(IsPublicAddress(boost::asio::ip::make_address(internal))) << internal;
  }
  for (const char* external : {"8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "193.0.0.1",
                               "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"}) {
    EXPECT_TRUE(IsPublicAddress(boost::asio::ip::make_address(external))) << external;
  }
}

// By default nothing is sent to an address inside the network (server-side request forgery).
TEST(WebhookHttpClient, RefusesPrivateTargetsUnlessAllowed) {
  auto client = WebhookHttpClient::Create({.timeout = absl::Seconds(5)});
  ASSERT_THAT(client.status(), IsOk());
  const std::atomic<bool> cancelled{false};
  WebhookReceiver receiver([](int, const auto&) { return 204; });
  for (const std::string& address :
       {receiver.url(), absl::StrReplaceAll(receiver.url(), {{"127.0.0.1", "localhost"}})}) {
    auto url = ParseWebhookUrl(address, "url");
    ASSERT_TRUE(url.ok()) << address;
    HttpOutcome outcome = (*client)->Post(*url, {}, "{}", cancelled);
    EXPECT_EQ(outcome.status_code, 0) << address;
    EXPECT_THAT(outcome.error, HasSubstr("no public address")) << address;
  }
  EXPECT_TRUE(receiver.requests().empty());
}

// The HTTP client alone, against local receivers: what it reports for each kind of failure.
TEST(WebhookHttpClient, ReportsStatusesTimeoutsRefusalsAndFailedTlsHandshakes) {
  auto client = WebhookHttpClient::Create(
      {.timeout = absl::Milliseconds(500), .allow_private_targets = true});
  ASSERT_THAT(client.status(), IsOk());
  const std::atomic<bool> cancelled{false};
  WebhookReceiver answering([](int, const auto&) { return 503; });
  auto url = ParseWebhookUrl(answering.url(), "url");
  ASSERT_TRUE(url.ok());
  HttpOutcome outcome =
      (*client)->Post(*url, {{"content-type", "application/json"}}, "{}", cancelled);
  EXPECT_EQ(outcome.status_code, 503);
  EXPECT_FALSE(outcome.delivered());
  ASSERT_EQ(answering.requests().size(), 1u);
  EXPECT_EQ(answering.requests()[0].headers.at("content-type"), "application/json");

  WebhookReceiver hanging([](int, const auto&) { return WebhookReceiver::kHang; });
  url = ParseWebhookUrl(hanging.url(), "url");
  const absl::Time start = absl::Now();
  outcome = (*client)->Post(*url, {}, "{}", cancelled);
  EXPECT_EQ(outcome.status_code, 0);
  EXPECT_EQ(outcome.error, "timed out");
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));

  // https to a server that speaks plain HTTP: no TLS session comes up (it waits for a request
  // line, the client for a ServerHello), and no request is ever sent in clear.
  WebhookReceiver plain([](int, const auto&) { return 200; });
  url = ParseWebhookUrl(absl::StrCat("https://127.0.0.1:", plain.url().substr(17)), "url");
  ASSERT_TRUE(url.ok()) << url.status();
  outcome = (*client)->Post(*url, {}, "{}", cancelled);
  EXPECT_EQ(outcome.status_code, 0);
  EXPECT_FALSE(outcome.error.empty());
  EXPECT_TRUE(plain.requests().empty());

  url = ParseWebhookUrl("http://127.0.0.1:1/", "url");
  outcome = (*client)->Post(*url, {}, "{}", cancelled);
  EXPECT_EQ(outcome.status_code, 0);
  EXPECT_EQ(outcome.error.rfind("connect", 0), 0u) << outcome.error;

  EXPECT_THAT(WebhookHttpClient::Create({.ca_file = "/nonexistent/ca.pem"}).status(),
              StatusIs(C::kInvalidArgument));
}

TEST_F(WebhooksTest, CreateGetListAndDeleteThroughGrpc) {
  auto created = Create("shop", "https://orders.example.com/loyalty", {kEarned, kEnrolled});
  ASSERT_THAT(created, IsOk());
  EXPECT_EQ(created->name(), "programs/shop/webhooks/" + created->id());
  EXPECT_EQ(created->state(), mv1::WEBHOOK_STATE_ACTIVE);
  ASSERT_EQ(created->secret().rfind("whsec_", 0), 0u);
  std::string key;
  ASSERT_TRUE(absl::Base64Unescape(created->secret().substr(6), &key));
  EXPECT_EQ(key.size(), 32u);
  EXPECT_EQ(created->event_types_size(), 2);

  mv1::GetWebhookRequest get;
  get.set_program("shop");
  get.set_webhook(created->id());
  auto got = Call(&mv1::WebhooksService::Stub::GetWebhook, get);
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->webhook().url(), "https://orders.example.com/loyalty");
  EXPECT_EQ(got->webhook().description(), "order system");
  EXPECT_TRUE(got->webhook().secret().empty()) << "the secret is shown once, at creation";

  auto second = Create("shop", "http://127.0.0.1:9/second", {kRefunded});
  ASSERT_THAT(second, IsOk());
  ASSERT_THAT(Create("other", "http://127.0.0.1:9/other", {kRefunded}), IsOk());
  mv1::ListWebhooksRequest list;
  list.set_program("shop");
  list.set_page_size(1);
  auto first_page = Call(&mv1::WebhooksService::Stub::ListWebhooks, list);
  ASSERT_THAT(first_page, IsOk());
  ASSERT_EQ(first_page->webhooks_size(), 1);
  EXPECT_EQ(first_page->webhooks(0).id(), created->id());
  EXPECT_TRUE(first_page->webhooks(0).secret().empty());
  list.set_page_token(first_page->next_page_token());
  auto second_page = Call(&mv1::WebhooksService::Stub::ListWebhooks, list);
  ASSERT_THAT(second_page, IsOk());
  ASSERT_EQ(second_page->webhooks_size(), 1);
  EXPECT_EQ(second_page->webhooks(0).id(), second->id());
  EXPECT_TRUE(second_page->next_page_token().empty());

  mv1::DeleteWebhookRequest remove;
  remove.set_program("shop");
  remove.set_webhook(created->id());
  remove.set_request_id("delete-1");
  ASSERT_THAT(Call(&mv1::WebhooksService::Stub::DeleteWebhook, remove), IsOk());
  EXPECT_THAT(Call(&mv1::WebhooksService::Stub::GetWebhook, get),
              StatusIs(C::kNotFound, "WEBHOOK_NOT_FOUND"));
  // A retry of the same call gets its answer again; another delete finds nothing.
  EXPECT_THAT(Call(&mv1::WebhooksService::Stub::DeleteWebhook, remove), IsOk());
  remove.set_request_id("delete-2");
  EXPECT_THAT(Call(&mv1::WebhooksService::Stub::DeleteWebhook, remove),
              StatusIs(C::kNotFound, "WEBHOOK_NOT_FOUND"));
  // Another program's endpoint is not found through this one.
  get.set_webhook(second->id());
  get.set_program("other");
  EXPECT_THAT(Call(&mv1::WebhooksService::Stub::GetWebhook, get),
              StatusIs(C::kNotFound, "WEBHOOK_NOT_FOUND"));
}

TEST_F(WebhooksTest, BadInputIsRefusedWithAReasonAndTheField) {
  auto expect_invalid = [](const absl::StatusOr<mv1::Webhook>& result, const std::string& field,
                           const std::string& reason) {
    EXPECT_THAT(result, StatusIs(C::kInvalidArgument, reason));
    if (!result.ok()) {
      const auto violations = FieldViolations(result.status());
      ASSERT_EQ(violations.size(), 1u);
      EXPECT_EQ(violations[0].field, field);
    }
  };
  expect_invalid(Create("shop", "ftp://example.com/", {kEarned}), "webhook.url",
                 "INVALID_WEBHOOK_URL");
  expect_invalid(Create("shop", "http://user:secret@example.com/", {kEarned}), "webhook.url",
                 "INVALID_WEBHOOK_URL");
  expect_invalid(Create("shop", "", {kEarned}), "webhook.url", "FIELD_REQUIRED");
  expect_invalid(Create("shop", "http://example.com/", {}), "webhook.event_types",
                 "EVENT_TYPES_REQUIRED");
  expect_invalid(Create("shop", "http://example.com/", {kEarned, "PointsEarned"}),
                 "webhook.event_types", "UNKNOWN_EVENT_TYPE");
  EXPECT_THAT(Create("nowhere", "http://example.com/", {kEarned}),
              StatusIs(C::kNotFound, "PROGRAM_NOT_FOUND"));
  // Types of every service are known.
  EXPECT_THAT(Create("shop", "http://example.com/",
                     {"loyalty.rewards.v1.VoucherConsumed", "loyalty.members.v1.TierChanged"}),
              IsOk());
}

TEST_F(WebhooksTest, CreateIsIdempotentByRequestId) {
  auto first = Create("shop", "http://example.com/a", {kEarned}, "same-key");
  ASSERT_THAT(first, IsOk());
  auto again = Create("shop", "http://example.com/a", {kEarned}, "same-key");
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->id(), first->id());
  EXPECT_EQ(again->secret(), first->secret());
  EXPECT_THAT(Create("shop", "http://example.com/b", {kEarned}, "same-key"),
              StatusIs(C::kInvalidArgument, "IDEMPOTENCY_KEY_REUSED"));
  mv1::ListWebhooksRequest list;
  list.set_program("shop");
  auto all = Call(&mv1::WebhooksService::Stub::ListWebhooks, list);
  ASSERT_THAT(all, IsOk());
  EXPECT_EQ(all->webhooks_size(), 1);
}

TEST_F(WebhooksTest, SubscribedEventsAreDeliveredOnceSignedAndOthersAreNotSent) {
  WebhookReceiver shop_receiver([](int, const auto&) { return 200; });
  WebhookReceiver other_receiver([](int, const auto&) { return 204; });
  auto shop = Create("shop", shop_receiver.url("/hooks?src=loyalty"), {kEarned, kEnrolled});
  ASSERT_THAT(shop, IsOk());
  auto other = Create("other", other_receiver.url(), {kEarned});
  ASSERT_THAT(other, IsOk());

  const std::string member = Enroll("ada@example.com");  // MemberEnrolled in shop
  FanOutOwnEvents();
  const events::v1::Event earned = PointsEvent("shop", kEarned, 120);
  // Unsubscribed type, and another program's event: not for the shop endpoint.
  ConsumePointsEvents(
      {earned, PointsEvent("shop", kRefunded, 20), PointsEvent("other", kEarned, 7)});
  // A redelivered stream adds nothing.
  ConsumePointsEvents({earned});
  FanOutOwnEvents();

  StartDispatcher(Fast());
  ASSERT_TRUE(shop_receiver.WaitFor(2, kPatience));
  ASSERT_TRUE(other_receiver.WaitFor(1, kPatience));
  ASSERT_TRUE(Eventually([&] {
    auto delivered = Deliveries(*shop, mv1::DELIVERY_STATE_DELIVERED);
    return delivered.ok() && delivered->size() == 2;
  }));
  absl::SleepFor(absl::Milliseconds(200));  // Nothing more arrives.
  const std::vector<testing::ReceivedRequest> received = shop_receiver.requests();
  ASSERT_EQ(received.size(), 2u);
  ASSERT_EQ(other_receiver.requests().size(), 1u);

  std::set<std::string> types;
  for (const testing::ReceivedRequest& request : received) {
    EXPECT_EQ(request.method, "POST");
    EXPECT_EQ(request.target, "/hooks?src=loyalty");
    EXPECT_EQ(request.headers.at("content-type"), "application/json");
    EXPECT_EQ(request.headers.at("user-agent"), "loyalty-webhooks/1");
    const std::string& id = request.headers.at("webhook-id");
    const std::string& timestamp = request.headers.at("webhook-timestamp");
    EXPECT_NEAR(std::stoll(timestamp), absl::ToUnixSeconds(absl::Now()), 60);
    EXPECT_EQ(request.headers.at("webhook-signature"),
              ExpectedSignature(shop->secret(), id, timestamp, request.body));
    const google::protobuf::Struct body = ParseJson(request.body);
    EXPECT_EQ(body.fields().at("id").string_value(), id);
    EXPECT_EQ(body.fields().at("program").string_value(), "shop");
    EXPECT_FALSE(body.fields().at("occurredAt").string_value().empty());
    const std::string type = body.fields().at("type").string_value();
    types.insert(type);
    const auto& data = body.fields().at("data").struct_value().fields();
    if (type == kEarned) {
      EXPECT_EQ(id, earned.event_id());
      EXPECT_EQ(data.at("points").string_value(), "120");
      EXPECT_EQ(body.fields().at("occurredAt").string_value(), "2027-01-15T08:00:00Z");
    } else {
      EXPECT_EQ(data.at("member").string_value(), member);
    }
  }
  EXPECT_EQ(types, (std::set<std::string>{kEarned, kEnrolled}));
  const google::protobuf::Struct other_body = ParseJson(other_receiver.requests()[0].body);
  EXPECT_EQ(other_body.fields().at("program").string_value(), "other");

  auto delivered = Deliveries(*shop);
  ASSERT_THAT(delivered, IsOk());
  for (const mv1::WebhookDelivery& delivery : *delivered) {
    EXPECT_EQ(delivery.state(), mv1::DELIVERY_STATE_DELIVERED);
    EXPECT_EQ(delivery.attempts(), 1);
    EXPECT_EQ(delivery.last_status_code(), 200);
    EXPECT_TRUE(delivery.has_finish_time());
  }
}

TEST_F(WebhooksTest, NoEndpointNoDeliveryStored) {
  ConsumePointsEvents({PointsEvent("shop", kEarned, 10)});
  auto connection = pool_->Acquire();
  ASSERT_TRUE(connection.ok());
  auto rows = (*connection)->ExecuteScript("count", "SELECT count(*) FROM webhook_deliveries");
  ASSERT_THAT(rows.status(), IsOk());
  EXPECT_EQ(rows->Int64(0, 0), 0);
}

TEST_F(WebhooksTest, OwnEventsAreFollowedFromTheOutboxPageByPageAndPrunedAfterwards) {
  for (const char* email : {"a@example.com", "b@example.com", "c@example.com"}) Enroll(email);
  auto first = events::FollowOutbox(*pool_, "members-webhooks", "members-svc-webhooks", FanOut(),
                                    /*page_size=*/1, /*pages_max=*/2);
  ASSERT_THAT(first.status(), IsOk());
  EXPECT_EQ(*first, 2);
  auto rest =
      events::FollowOutbox(*pool_, "members-webhooks", "members-svc-webhooks", FanOut(), 1, 10);
  ASSERT_THAT(rest.status(), IsOk());
  EXPECT_EQ(*rest, 1);
  auto none =
      events::FollowOutbox(*pool_, "members-webhooks", "members-svc-webhooks", FanOut(), 1, 10);
  ASSERT_THAT(none.status(), IsOk());
  EXPECT_EQ(*none, 0);
  auto cursor = events::LoadCursor(*pool_, "members-webhooks");
  ASSERT_THAT(cursor.status(), IsOk());
  auto connection = pool_->Acquire();
  ASSERT_TRUE(connection.ok());
  // Registered as a consumer of the outbox at its cursor, so pruning keeps what it still needs.
  auto registered =
      (*connection)
          ->ExecuteScript("registered",
                          "SELECT after_sequence, (SELECT max(sequence) FROM outbox_events) "
                          "FROM outbox_consumers WHERE consumer = 'members-svc-webhooks'");
  ASSERT_THAT(registered.status(), IsOk());
  ASSERT_EQ(registered->rows(), 1);
  EXPECT_EQ(registered->Int64(0, 0), *cursor);
  EXPECT_EQ(registered->Int64(0, 1), *cursor);
  auto pruned =
      events::PruneApplied(*pool_, "members-webhooks", absl::Now() + absl::Minutes(1), 100);
  ASSERT_THAT(pruned.status(), IsOk());
  EXPECT_EQ(*pruned, 3);
}

TEST_F(WebhooksTest, FailedAttemptsAreRetriedWithBackoffUntilDelivered) {
  WebhookReceiver receiver([](int index, const auto&) { return index < 2 ? 500 : 200; });
  auto webhook = Create("shop", receiver.url(), {kEarned});
  ASSERT_THAT(webhook, IsOk());
  ConsumePointsEvents({PointsEvent("shop", kEarned, 5)});
  StartDispatcher(Fast());
  ASSERT_TRUE(receiver.WaitFor(3, kPatience));
  ASSERT_TRUE(Eventually([&] {
    auto delivered = Deliveries(*webhook, mv1::DELIVERY_STATE_DELIVERED);
    return delivered.ok() && delivered->size() == 1;
  }));
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 3u);
  for (const auto& request : requests) {
    EXPECT_EQ(request.headers.at("webhook-id"), requests[0].headers.at("webhook-id"));
    EXPECT_EQ(request.body, requests[0].body) << "every attempt sends the same bytes";
  }
  // Backoff: the second retry waited longer than the first (50 ms, then 100 ms, less jitter).
  EXPECT_GE(requests[1].time - requests[0].time, absl::Milliseconds(40));
  EXPECT_GE(requests[2].time - requests[1].time, absl::Milliseconds(80));
  auto deliveries = Deliveries(*webhook);
  ASSERT_THAT(deliveries, IsOk());
  ASSERT_EQ(deliveries->size(), 1u);
  EXPECT_EQ((*deliveries)[0].attempts(), 3);
  EXPECT_EQ((*deliveries)[0].last_status_code(), 200);
}

TEST_F(WebhooksTest, AlwaysFailingDeliveryIsDeadAndRetriedByHand) {
  std::atomic<int> status{500};
  WebhookReceiver receiver([&status](int, const auto&) { return status.load(); });
  auto webhook = Create("shop", receiver.url(), {kEarned});
  ASSERT_THAT(webhook, IsOk());
  ConsumePointsEvents({PointsEvent("shop", kEarned, 5)});
  prometheus::Registry registry;
  StartDispatcher(Fast(), &registry);
  ASSERT_TRUE(Eventually([&] {
    auto dead = Deliveries(*webhook, mv1::DELIVERY_STATE_DEAD);
    return dead.ok() && dead->size() == 1;
  }));
  // Two failed attempts, then the last one: dead. The retention round counts the dead letter.
  EXPECT_EQ(MetricValue(registry, "loyalty_webhook_deliveries_total", "result", "failed"), 2);
  EXPECT_EQ(MetricValue(registry, "loyalty_webhook_deliveries_total", "result", "dead"), 1);
  ASSERT_THAT(dispatcher_->PruneFinished(absl::Now() - absl::Hours(1), 100).status(), IsOk());
  EXPECT_EQ(MetricValue(registry, "loyalty_webhook_deliveries_stored", "state", "dead"), 1);
  EXPECT_EQ(MetricValue(registry, "loyalty_webhook_deliveries_stored", "state", "pending"), 0);
  auto dead = Deliveries(*webhook, mv1::DELIVERY_STATE_DEAD);
  ASSERT_THAT(dead, IsOk());
  const mv1::WebhookDelivery letter = (*dead)[0];
  EXPECT_EQ(letter.attempts(), 3);
  EXPECT_EQ(letter.last_status_code(), 500);
  EXPECT_EQ(letter.last_error(), "HTTP 500");
  EXPECT_EQ(receiver.requests().size(), 3u);
  auto pending = Deliveries(*webhook, mv1::DELIVERY_STATE_PENDING);
  ASSERT_THAT(pending, IsOk());
  EXPECT_TRUE(pending->empty());

  status.store(200);
  mv1::RetryWebhookDeliveryRequest retry;
  retry.set_program("shop");
  retry.set_webhook(webhook->id());
  retry.set_delivery(letter.id());
  retry.set_request_id("retry-1");
  auto retried = Call(&mv1::WebhooksService::Stub::RetryWebhookDelivery, retry);
  ASSERT_THAT(retried, IsOk());
  EXPECT_EQ(retried->delivery().attempts(), 0);
  ASSERT_TRUE(Eventually([&] {
    auto delivered = Deliveries(*webhook, mv1::DELIVERY_STATE_DELIVERED);
    return delivered.ok() && delivered->size() == 1 && (*delivered)[0].attempts() == 1;
  }));
  EXPECT_EQ(receiver.requests().size(), 4u);
  EXPECT_EQ(MetricValue(registry, "loyalty_webhook_deliveries_total", "result", "delivered"), 1);
  retry.set_request_id("retry-2");
  EXPECT_THAT(Call(&mv1::WebhooksService::Stub::RetryWebhookDelivery, retry),
              StatusIs(C::kFailedPrecondition, "DELIVERY_NOT_DEAD"));
  // Retention removes finished deliveries once they are older than the cutoff.
  auto pruned = dispatcher_->PruneFinished(absl::Now() + absl::Minutes(1), 100);
  ASSERT_THAT(pruned.status(), IsOk());
  EXPECT_EQ(*pruned, 1);
  retry.set_request_id("retry-3");
  EXPECT_THAT(Call(&mv1::WebhooksService::Stub::RetryWebhookDelivery, retry),
              StatusIs(C::kNotFound, "DELIVERY_NOT_FOUND"));
  retry.set_delivery("999999");
  EXPECT_THAT(Call(&mv1::WebhooksService::Stub::RetryWebhookDelivery, retry),
              StatusIs(C::kNotFound, "DELIVERY_NOT_FOUND"));
  retry.set_delivery("x");
  EXPECT_THAT(Call(&mv1::WebhooksService::Stub::RetryWebhookDelivery, retry),
              StatusIs(C::kInvalidArgument, "INVALID_DELIVERY_ID"));
}

TEST_F(WebhooksTest, AHangingEndpointDoesNotDelayAnotherEndpoint) {
  WebhookReceiver hanging([](int, const auto&) { return WebhookReceiver::kHang; });
  WebhookReceiver healthy([](int, const auto&) { return 200; });
  ASSERT_THAT(Create("shop", hanging.url(), {kEarned}), IsOk());
  auto good = Create("shop", healthy.url(), {kEarned});
  ASSERT_THAT(good, IsOk());
  std::vector<events::v1::Event> batch;
  for (int i = 0; i < 6; ++i) batch.push_back(PointsEvent("shop", kEarned, i + 1));
  ConsumePointsEvents(batch);
  WebhookDispatcherOptions options = Fast();
  options.workers = 2;
  options.endpoint_concurrency = 1;
  options.timeout = absl::Seconds(30);
  StartDispatcher(options);
  const absl::Time start = absl::Now();
  ASSERT_TRUE(healthy.WaitFor(6, kPatience));
  // Every healthy delivery went through while the hanging endpoint's first attempt was still
  // waiting for its 30 s timeout, and that endpoint never held more than its one worker.
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_EQ(hanging.requests().size(), 1u);
  ASSERT_TRUE(Eventually([&] {
    auto delivered = Deliveries(*good, mv1::DELIVERY_STATE_DELIVERED);
    return delivered.ok() && delivered->size() == 6;
  }));
}

TEST_F(WebhooksTest, OneEndpointsBacklogDrainsWithoutWaitingForPolls) {
  WebhookReceiver receiver([](int, const auto&) { return 200; });
  ASSERT_THAT(Create("shop", receiver.url(), {kEarned}), IsOk());
  std::vector<events::v1::Event> batch;
  for (int i = 0; i < 20; ++i) batch.push_back(PointsEvent("shop", kEarned, i + 1));
  ConsumePointsEvents(batch);
  WebhookDispatcherOptions options = Fast();
  options.endpoint_concurrency = 1;
  // Were the next claim to wait for a poll after each attempt, 20 attempts would take 40 s.
  options.poll_interval = absl::Seconds(2);
  StartDispatcher(options);
  const absl::Time start = absl::Now();
  ASSERT_TRUE(receiver.WaitFor(20, kPatience));
  EXPECT_LT(absl::Now() - start, absl::Seconds(6));
}

TEST_F(WebhooksTest, AnAttemptLostWithItsDispatcherIsMadeAgainWhenTheLeaseExpires) {
  std::atomic<int> status{WebhookReceiver::kHang};
  WebhookReceiver receiver([&status](int, const auto&) { return status.load(); });
  auto webhook = Create("shop", receiver.url(), {kEarned});
  ASSERT_THAT(webhook, IsOk());
  ConsumePointsEvents({PointsEvent("shop", kEarned, 5)});
  WebhookDispatcherOptions options = Fast();
  options.timeout = absl::Seconds(1);
  options.lease_margin = absl::Milliseconds(200);
  StartDispatcher(options);
  ASSERT_TRUE(receiver.WaitFor(1, kPatience));
  // The dispatcher goes away mid-attempt, as in a crash: nothing is recorded.
  dispatcher_->Stop();
  auto pending = Deliveries(*webhook, mv1::DELIVERY_STATE_PENDING);
  ASSERT_THAT(pending, IsOk());
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].attempts(), 1);
  EXPECT_EQ((*pending)[0].last_status_code(), 0);

  status.store(200);
  StartDispatcher(options);
  ASSERT_TRUE(receiver.WaitFor(2, kPatience));
  ASSERT_TRUE(Eventually([&] {
    auto delivered = Deliveries(*webhook, mv1::DELIVERY_STATE_DELIVERED);
    return delivered.ok() && delivered->size() == 1;
  }));
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].headers.at("webhook-id"), requests[0].headers.at("webhook-id"));
  // Not before the first attempt's lease (timeout + margin) ran out.
  EXPECT_GE(requests[1].time - requests[0].time, absl::Milliseconds(1000));
  auto delivered = Deliveries(*webhook, mv1::DELIVERY_STATE_DELIVERED);
  ASSERT_THAT(delivered, IsOk());
  EXPECT_EQ((*delivered)[0].attempts(), 2);
}

TEST_F(WebhooksTest, UpdateChangesTheMaskedFieldsAndDisablingCancelsWhatWaits) {
  WebhookReceiver receiver([](int, const auto&) { return 200; });
  auto webhook = Create("shop", "http://127.0.0.1:9/old", {kRefunded});
  ASSERT_THAT(webhook, IsOk());
  mv1::UpdateWebhookRequest update;
  update.set_program("shop");
  update.set_webhook(webhook->id());
  update.set_request_id("update-1");
  update.mutable_webhook_patch()->set_url(receiver.url());
  update.mutable_webhook_patch()->add_event_types(kEarned);
  update.mutable_webhook_patch()->set_description("ignored: not in the mask");
  update.mutable_update_mask()->add_paths("url");
  update.mutable_update_mask()->add_paths("event_types");
  auto updated = Call(&mv1::WebhooksService::Stub::UpdateWebhook, update);
  ASSERT_THAT(updated, IsOk());
  EXPECT_EQ(updated->webhook().url(), receiver.url());
  ASSERT_EQ(updated->webhook().event_types_size(), 1);
  EXPECT_EQ(updated->webhook().event_types(0), kEarned);
  EXPECT_EQ(updated->webhook().description(), "order system");
  EXPECT_TRUE(updated->webhook().secret().empty());

  // Disabled: what waits is cancelled, nothing new is queued, and dead letters wait too.
  ConsumePointsEvents({PointsEvent("shop", kEarned, 1)});
  update.set_request_id("update-2");
  update.clear_webhook_patch();
  update.mutable_webhook_patch()->set_state(mv1::WEBHOOK_STATE_DISABLED);
  update.mutable_update_mask()->Clear();
  update.mutable_update_mask()->add_paths("state");
  updated = Call(&mv1::WebhooksService::Stub::UpdateWebhook, update);
  ASSERT_THAT(updated, IsOk());
  EXPECT_EQ(updated->webhook().state(), mv1::WEBHOOK_STATE_DISABLED);
  EXPECT_EQ(updated->cancelled_deliveries(), 1);
  ConsumePointsEvents({PointsEvent("shop", kEarned, 2)});
  auto deliveries = Deliveries(*webhook);
  ASSERT_THAT(deliveries, IsOk());
  ASSERT_EQ(deliveries->size(), 1u);
  EXPECT_EQ((*deliveries)[0].state(), mv1::DELIVERY_STATE_CANCELLED);

  // Enabled again: new events are sent.
  update.set_request_id("update-3");
  update.mutable_webhook_patch()->set_state(mv1::WEBHOOK_STATE_ACTIVE);
  ASSERT_THAT(Call(&mv1::WebhooksService::Stub::UpdateWebhook, update), IsOk());
  ConsumePointsEvents({PointsEvent("shop", kEarned, 3)});
  StartDispatcher(Fast());
  ASSERT_TRUE(receiver.WaitFor(1, kPatience));
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(receiver.requests().size(), 1u);

  update.set_request_id("update-4");
  update.mutable_update_mask()->Clear();
  EXPECT_THAT(Call(&mv1::WebhooksService::Stub::UpdateWebhook, update),
              StatusIs(C::kInvalidArgument, "INVALID_UPDATE_MASK"));
  update.mutable_update_mask()->add_paths("secret");
  EXPECT_THAT(Call(&mv1::WebhooksService::Stub::UpdateWebhook, update),
              StatusIs(C::kInvalidArgument, "INVALID_UPDATE_MASK"));
  update.mutable_update_mask()->Clear();
  update.mutable_update_mask()->add_paths("url");
  update.mutable_webhook_patch()->set_url("gopher://example.com/");
  auto bad_url = Call(&mv1::WebhooksService::Stub::UpdateWebhook, update);
  EXPECT_THAT(bad_url, StatusIs(C::kInvalidArgument, "INVALID_WEBHOOK_URL"));
  ASSERT_FALSE(bad_url.ok());
  EXPECT_EQ(FieldViolations(bad_url.status())[0].field, "webhook_patch.url");
  update.set_webhook("wnothere");
  update.mutable_webhook_patch()->set_url("http://example.com/");
  EXPECT_THAT(Call(&mv1::WebhooksService::Stub::UpdateWebhook, update),
              StatusIs(C::kNotFound, "WEBHOOK_NOT_FOUND"));
}

TEST_F(WebhooksTest, DeletingAnEndpointCancelsItsPendingDeliveries) {
  auto webhook = Create("shop", "http://127.0.0.1:9/nobody", {kEarned});
  ASSERT_THAT(webhook, IsOk());
  ConsumePointsEvents({PointsEvent("shop", kEarned, 1), PointsEvent("shop", kEarned, 2)});
  mv1::DeleteWebhookRequest remove;
  remove.set_program("shop");
  remove.set_webhook(webhook->id());
  remove.set_request_id("delete");
  auto deleted = Call(&mv1::WebhooksService::Stub::DeleteWebhook, remove);
  ASSERT_THAT(deleted, IsOk());
  EXPECT_EQ(deleted->cancelled_deliveries(), 2);
  // Nothing is queued for it any more.
  ConsumePointsEvents({PointsEvent("shop", kEarned, 3)});
  auto connection = pool_->Acquire();
  ASSERT_TRUE(connection.ok());
  auto rows = (*connection)
                  ->ExecuteScript(
                      "count",
                      "SELECT count(*) FILTER (WHERE state = 4), count(*) FROM webhook_deliveries");
  ASSERT_THAT(rows.status(), IsOk());
  EXPECT_EQ(rows->Int64(0, 0), 2);
  EXPECT_EQ(rows->Int64(0, 1), 2);
}

}  // namespace
}  // namespace loyalty::members
