// The birthday job against real members-svc and points-svc on PostgreSQL, over gRPC on port 0.
#include "members-svc/rpc/birthdays.h"

#include <string>

#include "common/testkit/status_matchers.h"
#include "gtest/gtest.h"
#include "members-svc/rpc/test_platform.h"

namespace loyalty::members {
namespace {

namespace mv1 = ::loyalty::members::v1;
using ::loyalty::testkit::IsOk;
using ::loyalty::testkit::StatusIs;

using testing::kStart;
// Today is 28 February 2027, no leap year: 29 February birthdays are today too.
using BirthdaysTest = testing::MembersWithPointsTest;

TEST_F(BirthdaysTest, TodaysBirthdaysGetTheBonusOncePerYear) {
  const std::string today = Enroll("today@example.com", 2, 28);
  const std::string leap = Enroll("leap@example.com", 2, 29);
  const std::string tomorrow = Enroll("tomorrow@example.com", 3, 1);
  const std::string unknown = Enroll("unknown@example.com", 0, 0);

  auto first = awarder_->RunOnce(kBirthdayRoundMax);
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(*first, 2);
  EXPECT_EQ(Available(today), 200);  // The default BIRTHDAY rule.
  EXPECT_EQ(Available(leap), 200);   // 29 February, celebrated on the 28th in 2027.
  EXPECT_EQ(Available(tomorrow), 0);
  EXPECT_EQ(Available(unknown), 0);

  auto again = awarder_->RunOnce(kBirthdayRoundMax);  // Settled: nobody is asked twice.
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(*again, 0);

  // Settled rows lost (a crash between the call and the insert): points-svc's idempotency still
  // gives the bonus only once.
  ForgetSettledYears();
  auto replayed = awarder_->RunOnce(kBirthdayRoundMax);
  ASSERT_THAT(replayed, IsOk());
  EXPECT_EQ(*replayed, 2);
  EXPECT_EQ(Available(today), 200);

  clock_.Set(kStart + absl::Hours(24));  // 1 March: tomorrow's member.
  ASSERT_THAT(awarder_->RunOnce(kBirthdayRoundMax), IsOk());
  EXPECT_EQ(Available(tomorrow), 200);
  EXPECT_EQ(Available(leap), 200);

  clock_.Set(kStart + absl::Hours(24 * 365));  // 28 February 2028, a leap year: not the 29th.
  auto next_year = awarder_->RunOnce(kBirthdayRoundMax);
  ASSERT_THAT(next_year, IsOk());
  EXPECT_EQ(*next_year, 1);
  EXPECT_EQ(Available(today), 400);
  EXPECT_EQ(Available(leap), 200);
}

TEST_F(BirthdaysTest, APointsOutageLeavesTheYearOpenForTheNextRound) {
  const std::string member = Enroll("today@example.com", 2, 28);
  const std::string suspended = Enroll("suspended@example.com", 2, 28);
  mv1::SuspendMemberRequest suspend;
  suspend.set_program("shop");
  suspend.set_member(suspended);
  suspend.set_request_id("suspend");
  grpc::ClientContext context;
  mv1::SuspendMemberResponse suspended_response;
  ASSERT_TRUE(members_stub_->SuspendMember(&context, suspend, &suspended_response).ok());

  points_server_.reset();  // points-svc down.
  EXPECT_THAT(awarder_->RunOnce(kBirthdayRoundMax), StatusIs(absl::StatusCode::kUnavailable));
  StartPoints();
  auto settled = awarder_->RunOnce(kBirthdayRoundMax);
  ASSERT_THAT(settled, IsOk());
  EXPECT_EQ(*settled, 1);  // The suspended member is not due at all.
  EXPECT_EQ(Available(member), 200);
}

}  // namespace
}  // namespace loyalty::members
