// Referrals against real members-svc and points-svc on PostgreSQL, over gRPC on port 0: linking
// at enrolment, the refusals, and ListReferrals.
#include <string>
#include <vector>

#include "common/testkit/status_matchers.h"
#include "gtest/gtest.h"
#include "members-svc/rpc/referral_bonus.h"
#include "members-svc/rpc/test_platform.h"

namespace loyalty::members {
namespace {

namespace mv1 = ::loyalty::members::v1;
using ::loyalty::testkit::IsOk;
using ::loyalty::testkit::StatusIs;
using C = absl::StatusCode;
using ReferralsTest = testing::MembersWithPointsTest;

mv1::ListReferralsRequest ReferralsOf(const std::string& member, int page_size = 0,
                                      const std::string& token = "") {
  mv1::ListReferralsRequest request;
  request.set_program("shop");
  request.set_member(member);
  request.set_page_size(page_size);
  request.set_page_token(token);
  return request;
}

TEST_F(ReferralsTest, AMemberEnrolledWithACodeIsLinkedToTheReferrer) {
  auto bob = EnrollMember("bob@example.com");
  ASSERT_THAT(bob, IsOk());
  auto alice = EnrollMember("alice@example.com", 0, 0, bob->referral_code());
  ASSERT_THAT(alice, IsOk());
  EXPECT_EQ(alice->referred_by_code(), bob->referral_code());

  auto bobs = CallMembers(&mv1::MembersService::Stub::ListReferrals, ReferralsOf(bob->id()));
  ASSERT_THAT(bobs, IsOk());
  ASSERT_EQ(bobs->referrals_size(), 1);
  const mv1::Referral& referral = bobs->referrals(0);
  EXPECT_FALSE(referral.id().empty());
  EXPECT_EQ(referral.referrer(), bob->id());
  EXPECT_EQ(referral.referee(), alice->id());
  EXPECT_EQ(referral.status(), mv1::REFERRAL_STATUS_PENDING);
  EXPECT_FALSE(referral.has_resolve_time());
  EXPECT_TRUE(bobs->next_page_token().empty());
  auto alices = CallMembers(&mv1::MembersService::Stub::ListReferrals, ReferralsOf(alice->id()));
  ASSERT_THAT(alices, IsOk());
  EXPECT_EQ(alices->referrals_size(), 0);

  mv1::GetProgramRequest get;
  get.set_program("shop");
  auto program = CallMembers(&mv1::MembersService::Stub::GetProgram, get);
  ASSERT_THAT(program, IsOk());
  EXPECT_EQ(program->program().referral_rewards_max(), testing::kReferralRewardsMax);
}

TEST_F(ReferralsTest, SelfReferralsAndUnknownCodesAreRefusedAndWriteNothing) {
  auto bob = EnrollMember("bob@example.com");
  ASSERT_THAT(bob, IsOk());
  // Bob's own email with Bob's own code.
  EXPECT_THAT(EnrollMember("bob@example.com", 0, 0, bob->referral_code()),
              StatusIs(C::kInvalidArgument, "SELF_REFERRAL"));
  EXPECT_THAT(EnrollMember("carol@example.com", 0, 0, "ZZZZ-ZZZZ"),
              StatusIs(C::kInvalidArgument, "UNKNOWN_REFERRAL_CODE"));
  auto bobs = CallMembers(&mv1::MembersService::Stub::ListReferrals, ReferralsOf(bob->id()));
  ASSERT_THAT(bobs, IsOk());
  EXPECT_EQ(bobs->referrals_size(), 0);
  EXPECT_THAT(CallMembers(&mv1::MembersService::Stub::ListReferrals, ReferralsOf("munknown")),
              StatusIs(C::kNotFound));
}

TEST_F(ReferralsTest, ReferralsPageNewestFirstAndTokensStayWithTheirMember) {
  auto bob = EnrollMember("bob@example.com");
  ASSERT_THAT(bob, IsOk());
  std::vector<std::string> referees;
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(absl::Minutes(1));
    auto referee =
        EnrollMember("friend" + std::to_string(i) + "@example.com", 0, 0, bob->referral_code());
    ASSERT_THAT(referee, IsOk());
    referees.insert(referees.begin(), referee->id());  // Newest first.
  }
  std::vector<std::string> listed;
  std::string token;
  for (int page = 0; page < 3; ++page) {
    auto response =
        CallMembers(&mv1::MembersService::Stub::ListReferrals, ReferralsOf(bob->id(), 2, token));
    ASSERT_THAT(response, IsOk());
    for (const mv1::Referral& referral : response->referrals()) {
      listed.push_back(referral.referee());
    }
    token = response->next_page_token();
    if (page < 2) {
      ASSERT_FALSE(token.empty());
      // A page token of Bob's is refused for another member.
      EXPECT_THAT(CallMembers(&mv1::MembersService::Stub::ListReferrals,
                              ReferralsOf(referees[0], 2, token)),
                  StatusIs(C::kInvalidArgument));
    }
  }
  EXPECT_TRUE(token.empty());
  EXPECT_EQ(listed, referees);
}

TEST_F(ReferralsTest, AFirstPurchasePaysBothOnceUpToTheReferrersCap) {
  auto bob = EnrollMember("bob@example.com");
  ASSERT_THAT(bob, IsOk());
  std::vector<std::string> referees;
  for (const char* email : {"alice@example.com", "carol@example.com", "dave@example.com"}) {
    clock_.Advance(absl::Minutes(1));
    auto referee = EnrollMember(email, 0, 0, bob->referral_code());
    ASSERT_THAT(referee, IsOk());
    referees.push_back(referee->id());
  }
  ReferralBonus bonus(points_channel_, absl::Seconds(10));
  auto settle = [&](const std::string& referee) {
    return members_pool_->InTransaction([&](pg::Connection& connection) {
      return bonus.OnQualifyingPurchase(connection, "shop", referee, clock_.Now());
    });
  };
  for (const std::string& referee : referees) ASSERT_THAT(settle(referee), IsOk());
  ASSERT_THAT(settle(referees[0]), IsOk());  // Settled already: nothing more.
  ASSERT_THAT(settle(bob->id()), IsOk());    // Nobody referred Bob.

  // 500 points each (the default REFERRAL rule), for two referrals: the program's cap.
  EXPECT_EQ(Available(bob->id()), 2 * 500);
  EXPECT_EQ(Available(referees[0]), 500);
  EXPECT_EQ(Available(referees[1]), 500);
  EXPECT_EQ(Available(referees[2]), 0);
  auto bobs = CallMembers(&mv1::MembersService::Stub::ListReferrals, ReferralsOf(bob->id()));
  ASSERT_THAT(bobs, IsOk());
  ASSERT_EQ(bobs->referrals_size(), 3);
  EXPECT_EQ(bobs->referrals(0).referee(), referees[2]);  // Newest first.
  EXPECT_EQ(bobs->referrals(0).status(), mv1::REFERRAL_STATUS_REFUSED);
  EXPECT_EQ(bobs->referrals(0).refusal_reason(), "REFERRAL_CAP_REACHED");
  for (int i = 1; i < 3; ++i) {
    EXPECT_EQ(bobs->referrals(i).status(), mv1::REFERRAL_STATUS_REWARDED);
    EXPECT_TRUE(bobs->referrals(i).has_resolve_time());
  }

  // A settlement whose commit was lost (the event applied again): points-svc pays once.
  {
    auto connection = members_pool_->Acquire();
    ASSERT_THAT(connection, IsOk());
    ASSERT_THAT((*connection)->ExecuteScript("reopen", "UPDATE referrals SET status = 1"), IsOk());
  }
  ASSERT_THAT(settle(referees[0]), IsOk());
  EXPECT_EQ(Available(bob->id()), 2 * 500);
  EXPECT_EQ(Available(referees[0]), 500);
}

TEST_F(ReferralsTest, APointsOutageLeavesTheReferralPendingForTheNextDelivery) {
  auto bob = EnrollMember("bob@example.com");
  ASSERT_THAT(bob, IsOk());
  auto alice = EnrollMember("alice@example.com", 0, 0, bob->referral_code());
  ASSERT_THAT(alice, IsOk());
  points_server_.reset();
  ReferralBonus down(points_channel_, absl::Seconds(10));
  EXPECT_THAT(members_pool_->InTransaction([&](pg::Connection& connection) {
    return down.OnQualifyingPurchase(connection, "shop", alice->id(), clock_.Now());
  }),
              StatusIs(C::kUnavailable));
  auto bobs = CallMembers(&mv1::MembersService::Stub::ListReferrals, ReferralsOf(bob->id()));
  ASSERT_THAT(bobs, IsOk());
  EXPECT_EQ(bobs->referrals(0).status(), mv1::REFERRAL_STATUS_PENDING);
}

}  // namespace
}  // namespace loyalty::members
