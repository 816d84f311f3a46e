// members-svc applying a whole message of points-svc's events at once
// (MembersHandler::ApplyPointsEvents, ReferralBonus::ApplyPointsEvents) against applying the same
// events one at a time (ApplyPointsEvent), each in a schema of its own with the same members:
// tiers, qualifying activity, tier history, TierChanged events and referrals must come out the
// same. Real PostgreSQL and an in-process points-svc (the referral bonus calls it).
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/events/outbox.h"
#include "common/rpc/proto_time.h"
#include "common/testkit/status_matchers.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "loyalty/points/v1/points_events.pb.h"
#include "members-svc/rpc/referral_bonus.h"
#include "members-svc/rpc/test_platform.h"

namespace loyalty::members {
namespace {

namespace mv1 = ::loyalty::members::v1;
namespace pv1 = ::loyalty::points::v1;
using ::loyalty::testkit::IsOk;
using ::testing::ElementsAre;

// The same ids, card numbers and referral codes in both schemas.
RandomSource CountingRandom() {
  return [next = uint64_t{0x5eed}]() mutable { return next += 0x9e3779b97f4a7c15; };
}

events::v1::Event EventOf(const std::string& event_id, const google::protobuf::Message& payload,
                          absl::Time occur_time) {
  events::v1::Event event;
  event.set_event_id(event_id);
  event.set_event_type(payload.GetDescriptor()->full_name());
  std::string json;
  LOYALTY_CHECK(google::protobuf::util::MessageToJsonString(payload, &json).ok());
  event.set_payload(json);
  *event.mutable_occur_time() = ToTimestamp(occur_time);
  return event;
}

events::v1::Event Purchase(const std::string& event_id, const std::string& member, int64_t points,
                           absl::Time occur_time) {
  pv1::PointsEarned earned;
  earned.set_program("shop");
  earned.set_member(member);
  earned.set_source(pv1::EARN_SOURCE_PURCHASE);
  earned.set_points(points);
  *earned.mutable_occur_time() = ToTimestamp(occur_time);
  return EventOf(event_id, earned, occur_time);
}

events::v1::Event Refund(const std::string& event_id, const std::string& member, int64_t points,
                         absl::Time occur_time) {
  pv1::PointsRefunded refunded;
  refunded.set_program("shop");
  refunded.set_member(member);
  refunded.set_points(points);
  return EventOf(event_id, refunded, occur_time);
}

events::v1::Event Birthday(const std::string& event_id, const std::string& member,
                           absl::Time occur_time) {
  pv1::PointsEarned earned;
  earned.set_program("shop");
  earned.set_member(member);
  earned.set_source(pv1::EARN_SOURCE_ACTIVITY);
  earned.set_activity_type(pv1::ACTIVITY_TYPE_BIRTHDAY);
  earned.set_points(5000);
  return EventOf(event_id, earned, occur_time);
}

// One members-svc schema fed points events.
struct Side {
  std::unique_ptr<MembersHandler> handler;
  pg::Pool* pool = nullptr;

  std::string Enroll(const std::string& email, const std::string& referral_code = "") {
    mv1::EnrollMemberRequest request;
    request.set_program("shop");
    request.set_request_id(absl::StrCat("enrol-", email));
    request.mutable_profile()->set_email(email);
    request.set_referral_code(referral_code);
    absl::StatusOr<mv1::EnrollMemberResponse> response = handler->EnrollMember(request);
    LOYALTY_CHECK(response.ok());
    return response->member().id();
  }
  std::string ReferralCodeOf(const std::string& member) {
    mv1::GetMemberRequest request;
    request.set_program("shop");
    request.set_member(member);
    absl::StatusOr<mv1::GetMemberResponse> response = handler->GetMember(request);
    LOYALTY_CHECK(response.ok());
    return response->member().referral_code();
  }

  // Rows of `sql` as text, one string a row.
  std::vector<std::string> Rows(std::string_view name, std::string_view sql) {
    auto connection = pool->Acquire();
    LOYALTY_CHECK(connection.ok());
    absl::StatusOr<pg::Result> result = (*connection)->ExecuteScript(name, sql);
    LOYALTY_CHECK(result.ok());
    std::vector<std::string> rows;
    for (int row = 0; row < result->rows(); ++row) {
      std::vector<std::string> fields;
      for (int column = 0; column < result->columns(); ++column) {
        fields.push_back(result->IsNull(row, column) ? "NULL" : result->String(row, column));
      }
      rows.push_back(absl::StrJoin(fields, "|"));
    }
    return rows;
  }
  // Everything the points events can change, for comparing two schemas.
  std::vector<std::string> State() {
    std::vector<std::string> state;
    auto add = [&](const std::string& name, std::string_view sql) {
      for (std::string& row : Rows(name, sql)) state.push_back(absl::StrCat(name, ": ", row));
    };
    add("members",
        "SELECT member_id, tier_position, tier_period_start, update_time FROM members "
        "ORDER BY member_id");
    add("activity",
        "SELECT member_id, event_id, points, occur_time, record_time FROM qualifying_activity "
        "ORDER BY member_id, event_id");
    add("history",
        "SELECT member_id, from_tier, to_tier, kind, change_time FROM tier_history ORDER BY seq");
    add("referrals",
        "SELECT referral_id, referrer_id, referee_id, status, refusal_reason, resolve_time "
        "FROM referrals ORDER BY referral_id");
    auto connection = pool->Acquire();
    LOYALTY_CHECK(connection.ok());
    auto page = events::ReadPage(**connection, {.after_sequence = 0, .limit = 1000});
    LOYALTY_CHECK(page.ok());
    for (const events::v1::Event& event : page->events) {
      state.push_back(absl::StrCat("event: ", event.event_type(), " ", event.payload(), " ",
                                   event.occur_time().seconds()));
    }
    return state;
  }
};

class PointsEventsBatchTest : public testing::MembersWithPointsTest {
 protected:
  void SetUp() override {
    MembersWithPointsTest::SetUp();
    one_by_one_schema_ = testkit::MustSchema("bdmembersone");
    one_by_one_pool_ = one_by_one_schema_->MakePool(4);
    testkit::MustMigrate(*one_by_one_pool_, Migrations());
    // The same program on the other side (its own handler: creating it draws no ids here, but
    // the two sides' id sequences must not depend on that).
    MembersHandler creator(*one_by_one_pool_, clock_,
                           MembersHandlerOptions{.page_token_key = testing::kKey});
    mv1::CreateProgramRequest request;
    request.set_request_id("program");
    request.mutable_program()->set_id("shop");
    request.mutable_program()->set_display_name("Shop");
    request.mutable_program()->set_currency_code("EUR");
    request.mutable_program()->set_referral_rewards_max(testing::kReferralRewardsMax);
    LOYALTY_CHECK(creator.CreateProgram(request).ok());
    for (auto [side, pool] : {std::pair{&batched_, members_pool_.get()},
                              std::pair{&one_by_one_, one_by_one_pool_.get()}}) {
      side->pool = pool;
      side->handler = std::make_unique<MembersHandler>(
          *pool, clock_,
          MembersHandlerOptions{.page_token_key = testing::kKey, .random = CountingRandom()});
    }
    bonus_ = std::make_unique<ReferralBonus>(points_channel_, absl::Seconds(10));
  }

  // Enrols the same member on both sides; the member id.
  std::string Enroll(const std::string& email, const std::string& referral_code = "") {
    const std::string batched = batched_.Enroll(email, referral_code);
    LOYALTY_CHECK(batched == one_by_one_.Enroll(email, referral_code));
    return batched;
  }

  // Applies `events` as one message on the batched side and one at a time on the other.
  void Apply(const std::vector<events::v1::Event>& events) {
    std::vector<const events::v1::Event*> message;
    for (const events::v1::Event& event : events) message.push_back(&event);
    ASSERT_THAT(batched_.pool->InTransaction([&](pg::Connection& connection) -> absl::Status {
      if (absl::Status applied = batched_.handler->ApplyPointsEvents(connection, message);
          !applied.ok()) {
        return applied;
      }
      return bonus_->ApplyPointsEvents(connection, message);
    }),
                IsOk());
    ASSERT_THAT(one_by_one_.pool->InTransaction([&](pg::Connection& connection) -> absl::Status {
      for (const events::v1::Event& event : events) {
        if (absl::Status applied = one_by_one_.handler->ApplyPointsEvent(connection, event);
            !applied.ok()) {
          return applied;
        }
        if (absl::Status applied = bonus_->ApplyPointsEvent(connection, event); !applied.ok()) {
          return applied;
        }
      }
      return absl::OkStatus();
    }),
                IsOk());
  }

  std::unique_ptr<testkit::TestSchema> one_by_one_schema_;
  std::unique_ptr<pg::Pool> one_by_one_pool_;
  Side batched_, one_by_one_;
  std::unique_ptr<ReferralBonus> bonus_;
};

TEST_F(PointsEventsBatchTest, OneMessageAtOnceEqualsItsEventsOneByOne) {
  // A member upgraded a year ago, whose period has ended by the time of the message: a
  // downgrade is due first, so it takes the per-event path inside the batch.
  const std::string lapsed = Enroll("lapsed@example.com");
  Apply({Purchase("e-lapsed-1", lapsed, 1200, clock_.Now())});
  clock_.Advance(absl::Hours(24 * 370));
  const absl::Time now = clock_.Now();

  const std::string climber = Enroll("climber@example.com");
  const std::string refunder = Enroll("refunder@example.com");
  const std::string yoyo = Enroll("yoyo@example.com");
  const std::string referrer = Enroll("referrer@example.com");
  const std::string referee = Enroll("referee@example.com", batched_.ReferralCodeOf(referrer));
  const std::string late = Enroll("late@example.com");
  clock_.Advance(absl::Minutes(5));
  // Recorded in an earlier message: its id comes again below.
  Apply({Purchase("e-dup", late, 600, now)});
  clock_.Advance(absl::Minutes(5));

  Apply({
      Purchase("e-1", climber, 1500, now),     // bronze -> silver
      Purchase("e-2", refunder, 600, now),     // no change
      Purchase("e-3", referee, 100, now),      // the referee's first purchase: settles
      Purchase("e-4", climber, 4000, now),     // silver -> gold, a second upgrade
      Purchase("e-5", yoyo, 1200, now),        // bronze -> silver ...
      Refund("e-6", yoyo, 1200, now),          // ... and stays silver: no downgrade mid-period
      Refund("e-7", refunder, 200, now),       // 400 left
      Purchase("e-dup", late, 600, now),       // recorded before: nothing (twice would be silver)
      Purchase("e-8", "munknown", 9000, now),  // unknown member: skipped
      Purchase("e-9", referee, 50, now),       // not the first: the referral is settled
      Birthday("e-10", climber, now),          // bonuses do not qualify
      Purchase("e-11", lapsed, 100, now),      // downgrade due first, then counts
      Purchase("e-12", late, 800, now - absl::Hours(24 * 400)),  // outside the window
      Purchase("e-13", late, 300, now),                          // 900 in all: still bronze
  });

  const std::vector<std::string> batched = batched_.State();
  EXPECT_EQ(batched, one_by_one_.State());
  // And what both say is right.
  EXPECT_THAT(batched_.Rows("climber_history",
                            absl::StrCat("SELECT from_tier, to_tier, kind FROM tier_history "
                                         "WHERE member_id = '",
                                         climber, "' ORDER BY seq")),
              ElementsAre("NULL|bronze|ENROLLED", "bronze|silver|UPGRADE", "silver|gold|UPGRADE"));
  auto tier_of = [&](const std::string& member) {
    return batched_.Rows("tier", absl::StrCat("SELECT tier_position FROM members WHERE member_id "
                                              "= '",
                                              member, "'"));
  };
  EXPECT_THAT(tier_of(climber), ElementsAre("2"));
  EXPECT_THAT(tier_of(yoyo), ElementsAre("1"));
  EXPECT_THAT(tier_of(refunder), ElementsAre("0"));
  EXPECT_THAT(tier_of(lapsed), ElementsAre("0"));
  EXPECT_THAT(tier_of(late), ElementsAre("0"));
  EXPECT_THAT(batched_.Rows("referral", "SELECT status, refusal_reason FROM referrals"),
              ElementsAre("2|NULL"));
  EXPECT_THAT(batched_.Rows("unknown",
                            "SELECT count(*) FROM qualifying_activity "
                            "WHERE member_id = 'munknown' OR event_id = 'e-10'"),
              ElementsAre("0"));
  int tier_changed = 0;
  for (const std::string& row : batched) {
    tier_changed += row.find("loyalty.members.v1.TierChanged") != std::string::npos;
  }
  // Lapsed's earlier upgrade and its downgrade at the period's end, climber's two, yoyo's.
  EXPECT_EQ(tier_changed, 5);
}

}  // namespace
}  // namespace loyalty::members
