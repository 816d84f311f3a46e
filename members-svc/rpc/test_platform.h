#pragma once

// A test fixture with members-svc and points-svc in-process on PostgreSQL and gRPC on port 0,
// a FakeClock and one program "shop", for members-svc features that call points-svc (birthday
// bonuses, referral bonuses).

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/status/grpc_status.h"
#include "common/testkit/fake_clock.h"
#include "common/testkit/service_harness.h"
#include "gtest/gtest.h"
#include "members-svc/migrations.h"
#include "members-svc/rpc/birthdays.h"
#include "members-svc/rpc/grpc_service.h"
#include "members-svc/rpc/members_handler.h"
#include "points-svc/migrations.h"
#include "points-svc/rpc/grpc_service.h"
#include "points-svc/rpc/member_directory.h"
#include "points-svc/rpc/points_handler.h"

namespace loyalty::members::testing {

namespace mv1 = ::loyalty::members::v1;
namespace pv1 = ::loyalty::points::v1;

// 28 February 2027, 09:00 UTC: not a leap year.
inline const absl::Time kStart =
    absl::FromCivil(absl::CivilSecond(2027, 2, 28, 9, 0, 0), absl::UTCTimeZone());
inline constexpr char kKey[] = "members-points-test-page-token-key";
// The program's cap on referral bonuses per referrer.
inline constexpr int32_t kReferralRewardsMax = 2;

class MembersWithPointsTest : public ::testing::Test {
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
                                     .projection_ttl = absl::ZeroDuration(),
                                     .projection_stale_grace = absl::ZeroDuration()});
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
    request.mutable_program()->set_referral_rewards_max(kReferralRewardsMax);
    grpc::ClientContext context;
    mv1::CreateProgramResponse response;
    LOYALTY_CHECK(members_stub_->CreateProgram(&context, request, &response).ok());
  }

  // A call to members-svc's stub, as a StatusOr.
  template <typename Request, typename Response>
  absl::StatusOr<Response> CallMembers(grpc::Status (mv1::MembersService::Stub::*rpc)(
                                           grpc::ClientContext*, const Request&, Response*),
                                       const Request& request) {
    grpc::ClientContext context;
    Response response;
    const grpc::Status status = (members_stub_.get()->*rpc)(&context, request, &response);
    if (!status.ok()) return FromGrpcStatus(status);
    return response;
  }

  // Enrols a member by email, born on the given day of 1992, a leap year (month 0: no birthday),
  // with another member's referral code when given.
  absl::StatusOr<mv1::Member> EnrollMember(const std::string& email, int month = 0, int day = 0,
                                           const std::string& referral_code = "") {
    mv1::EnrollMemberRequest request;
    request.set_program("shop");
    request.set_request_id(absl::StrCat("enrol-", email, "-", referral_code));
    request.mutable_profile()->set_email(email);
    if (month > 0) {
      request.mutable_profile()->mutable_birthday()->set_year(1992);
      request.mutable_profile()->mutable_birthday()->set_month(month);
      request.mutable_profile()->mutable_birthday()->set_day(day);
    }
    request.set_referral_code(referral_code);
    absl::StatusOr<mv1::EnrollMemberResponse> response =
        CallMembers(&mv1::MembersService::Stub::EnrollMember, request);
    if (!response.ok()) return response.status();
    return response->member();
  }
  std::string Enroll(const std::string& email, int month = 0, int day = 0) {
    absl::StatusOr<mv1::Member> member = EnrollMember(email, month, day);
    EXPECT_TRUE(member.ok()) << member.status();
    return member.ok() ? member->id() : "";
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

}  // namespace loyalty::members::testing
