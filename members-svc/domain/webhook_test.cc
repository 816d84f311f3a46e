#include "members-svc/domain/webhook.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "members-svc/domain/test_util.h"

namespace loyalty::members {
namespace {

using ::loyalty::members::testing::IsInvalidField;

TEST(ParseWebhookUrl, TakesHttpAndHttpsUrlsApart) {
  auto plain = ParseWebhookUrl("http://127.0.0.1:8080/hooks/loyalty?x=1", "url");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_FALSE(plain->tls);
  EXPECT_EQ(plain->host, "127.0.0.1");
  EXPECT_EQ(plain->port, 8080);
  EXPECT_EQ(plain->target, "/hooks/loyalty?x=1");
  auto secure = ParseWebhookUrl("HTTPS://shop.example.com", "url");
  ASSERT_TRUE(secure.ok()) << secure.status();
  EXPECT_TRUE(secure->tls);
  EXPECT_EQ(secure->host, "shop.example.com");
  EXPECT_EQ(secure->port, 443);
  EXPECT_EQ(secure->target, "/");
  auto query_only = ParseWebhookUrl("http://example.com?a=b", "url");
  ASSERT_TRUE(query_only.ok());
  EXPECT_EQ(query_only->target, "/?a=b");
  EXPECT_EQ(query_only->port, 80);
  auto v6 = ParseWebhookUrl("https://[::1]:8443/h", "url");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 8443);
}

TEST(ParseWebhookUrl, RefusesWhatCannotBeAMerchantEndpoint) {
  EXPECT_TRUE(
      IsInvalidField(ParseWebhookUrl("", "webhook.url").status(), "webhook.url", "FIELD_REQUIRED"));
  for (const std::string url :
       {"ftp://example.com/", "example.com/hook", "http://", "http:///path",
        "http://user:pass@example.com/", "http://example.com:0/", "http://example.com:65536/",
        "http://example.com:8x/", "http://exa mple.com/", "http://example.com/#frag",
        "http://[::1/", "javascript://alert(1)"}) {
    EXPECT_TRUE(IsInvalidField(ParseWebhookUrl(url, "webhook.url").status(), "webhook.url",
                               "INVALID_WEBHOOK_URL"))
        << url;
  }
  const std::string path(kWebhookUrlLengthMax, 'a');
  EXPECT_TRUE(IsInvalidField(ParseWebhookUrl("http://example.com/" + path, "u").status(), "u",
                             "INVALID_WEBHOOK_URL"));
}

TEST(NormalizeEventTypes, KeepsKnownTypesOnceInTheOrderGiven) {
  const absl::flat_hash_set<std::string> known = {"a.v1.One", "a.v1.Two"};
  auto types = NormalizeEventTypes({"a.v1.Two", "a.v1.One", "a.v1.Two"}, known, "t");
  ASSERT_TRUE(types.ok());
  EXPECT_EQ(*types, (std::vector<std::string>{"a.v1.Two", "a.v1.One"}));
  EXPECT_TRUE(
      IsInvalidField(NormalizeEventTypes({}, known, "t").status(), "t", "EVENT_TYPES_REQUIRED"));
  EXPECT_TRUE(IsInvalidField(NormalizeEventTypes({"a.v1.One", "One"}, known, "t").status(), "t",
                             "UNKNOWN_EVENT_TYPE"));
  EXPECT_TRUE(IsInvalidField(
      NormalizeEventTypes(std::vector<std::string>(kWebhookEventTypesMax + 1, "a.v1.One"), known,
                          "t")
          .status(),
      "t", "TOO_MANY_EVENT_TYPES"));
}

TEST(RetryDelay, DoublesFromTheInitialDelayUpToTheCapLessTheJitter) {
  const absl::Duration initial = absl::Seconds(5), max = absl::Hours(1);
  EXPECT_EQ(RetryDelay(1, initial, max, 0), absl::Seconds(5));
  EXPECT_EQ(RetryDelay(2, initial, max, 0), absl::Seconds(10));
  EXPECT_EQ(RetryDelay(5, initial, max, 0), absl::Seconds(80));
  EXPECT_EQ(RetryDelay(11, initial, max, 0), absl::Hours(1));
  EXPECT_EQ(RetryDelay(1000, initial, max, 0), absl::Hours(1));
  // Jitter takes off up to a fifth.
  EXPECT_EQ(RetryDelay(1, initial, max, 0.5), absl::Milliseconds(4500));
  EXPECT_GT(RetryDelay(1, initial, max, 0.999), absl::Seconds(4));
}

TEST(OutcomeOf, DeliveredOnSuccessDeadAfterTheLastAttemptElsePendingWithBackoff) {
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  const absl::Duration initial = absl::Seconds(5), max = absl::Hours(1);
  EXPECT_EQ(OutcomeOf(true, 12, 12, now, initial, max, 0).state, DeliveryState::kDelivered);
  EXPECT_EQ(OutcomeOf(false, 12, 12, now, initial, max, 0).state, DeliveryState::kDead);
  const AttemptOutcome again = OutcomeOf(false, 3, 12, now, initial, max, 0);
  EXPECT_EQ(again.state, DeliveryState::kPending);
  EXPECT_EQ(again.next_attempt_time, now + absl::Seconds(20));
}

}  // namespace
}  // namespace loyalty::members
