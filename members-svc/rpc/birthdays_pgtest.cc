// The birthday job against real members-svc and points-svc on PostgreSQL, over gRPC on port 0.
#include "members-svc/rpc/birthdays.h"

#include <memory>
#include <string>

#include "common/check.h"
#include "common/testkit/fake_clock.h"
#include "common/testkit/service_harness.h"
#include "common/testkit/status_matchers.h"
#include "gtest/gtest.h"
#include "members-svc/migrations.h"
#include "members-svc/rpc/grpc_service.h"
#include "members-svc/rpc/members_handler.h"
#include "points-svc/migrations.h"
#include "points-svc/rpc/grpc_service.h"
#include "points-svc/rpc/member_directory.h"
#include "points-svc/rpc/points_handler.h"

namespace loyalty::members {
namespace {

namespace mv1 = ::loyalty::members::v1;
namespace pv1 = ::loyalty::points::v1;
using ::loyalty::testkit::IsOk;
using ::loyalty::testkit::StatusIs;

// 28 February 2027, 09:00 UTC: not a leap year, so 29 February birthdays are today too.
const absl::Time kStart =
    absl::FromCivil(absl::CivilSecond(2027, 2, 28, 9, 0, 0), absl::UTCTimeZone());
constexpr char kKey[] = "birthday-test-page-token-key";

class BirthdaysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    members_schema_ = testkit::MustSchema("bdmembers");
    points_schema_ = testkit::MustSchema("bdpoints");
    members_pool_ = members_schema_->MakePool(4);
    points_pool_ = points_schema_->MakePool(4);
    testkit::MustMigrate(*members_pool_, Migrations());
    testkit::MustMigrate(*points_pool_, points::Migrations());
    members_handler_ = std::make_unique<MembersHandler>(
        *members_pool_, clock_, MembersHandlerOptions{.page_token_key = kKey});
    members_service_ = std::make_unique<GrpcMembersService>(*members_handler_);
    members_server_ = testkit::MustServe("members-test", members_service_.get());
    const std::string members_address = testkit::AddressOf(*members_server_);
    members_stub_ = mv1::MembersService::NewStub(testkit::InsecureChannel(members_address));
    directory_ = std::make_unique<points::GrpcMemberDirectory>(
        testkit::InsecureChannel(members_address), absl::Seconds(10));
    StartPoints();
    CreateProgram();
  }

  void StartPoints() {
    points_handler_ = std::make_unique<points::PointsHandler>(
        *points_pool_, clock_, *directory_,
        points::PointsHandlerOptions{.page_token_key = kKey,
                                     .projection_ttl = absl::ZeroDuration()});
    points_service_ = std::make_unique<points::GrpcPointsService>(*points_handler_);
    points_server_ = testkit::MustServe("points-test", points_service_.get());
    points_channel_ = testkit::InsecureChannel(testkit::AddressOf(*points_server_));
    awarder_ = std::make_unique<BirthdayAwarder>(*members_pool_, clock_, points_channel_,
                                                 absl::Seconds(10));
  }

  void CreateProgram() {
    mv1::CreateProgramRequest request;
    request.set_request_id("program");
    request.mutable_program()->set_id("shop");
    request.mutable_program()->set_display_name("Shop");
    request.mutable_program()->set_currency_code("EUR");
    grpc::ClientContext context;
    mv1::CreateProgramResponse response;
    LOYALTY_CHECK(members_stub_->CreateProgram(&context, request, &response).ok());
  }

  // Enrols a member born on the given day of 1992 (a leap year) (month 0: no birthday given).
  std::string Enroll(const std::string& email, int month, int day) {
    mv1::EnrollMemberRequest request;
    request.set_program("shop");
    request.set_request_id("enrol-" + email);
    request.mutable_profile()->set_email(email);
    if (month > 0) {
      request.mutable_profile()->mutable_birthday()->set_year(1992);
      request.mutable_profile()->mutable_birthday()->set_month(month);
      request.mutable_profile()->mutable_birthday()->set_day(day);
    }
    grpc::ClientContext context;
    mv1::EnrollMemberResponse response;
    const grpc::Status status = members_stub_->EnrollMember(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.member().id();
  }

  int64_t Available(const std::string& member) {
    pv1::GetBalanceRequest request;
    request.set_program("shop");
    request.set_member(member);
    grpc::ClientContext context;
    pv1::GetBalanceResponse response;
    LOYALTY_CHECK(pv1::PointsService::NewStub(points_channel_)
                      ->GetBalance(&context, request, &response)
                      .ok());
    return response.balance().available();
  }

  void ForgetSettledYears() {
    auto connection = members_pool_->Acquire();
    LOYALTY_CHECK(connection.ok());
    LOYALTY_CHECK((*connection)->ExecuteScript("forget", "DELETE FROM birthday_awards").ok());
  }

  testkit::FakeClock clock_{kStart};
  std::unique_ptr<testkit::TestSchema> members_schema_, points_schema_;
  std::unique_ptr<pg::Pool> members_pool_, points_pool_;
  std::unique_ptr<MembersHandler> members_handler_;
  std::unique_ptr<GrpcMembersService> members_service_;
  std::unique_ptr<server::GrpcServer> members_server_;
  std::unique_ptr<mv1::MembersService::Stub> members_stub_;
  std::unique_ptr<points::GrpcMemberDirectory> directory_;
  std::unique_ptr<points::PointsHandler> points_handler_;
  std::unique_ptr<points::GrpcPointsService> points_service_;
  std::unique_ptr<server::GrpcServer> points_server_;
  std::shared_ptr<grpc::Channel> points_channel_;
  std::unique_ptr<BirthdayAwarder> awarder_;
};

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
