#pragma once

// Test support: a real members-svc and points-svc, each in-process on a gRPC port 0 with its own
// fresh schema of the test PostgreSQL, plus the calls rewards tests make on them (a program, its
// members and their points). Used by the in-process rewards tests and the crash matrix, which
// runs rewards-svc itself as a process against these two.

#include <chrono>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/clock.h"
#include "common/server/server.h"
#include "common/status/grpc_status.h"
#include "common/testkit/service_harness.h"
#include "members-svc/migrations.h"
#include "members-svc/rpc/grpc_service.h"
#include "members-svc/rpc/members_handler.h"
#include "points-svc/migrations.h"
#include "points-svc/rpc/grpc_service.h"
#include "points-svc/rpc/member_directory.h"
#include "points-svc/rpc/points_handler.h"

namespace loyalty::rewards::testing {

namespace mv1 = ::loyalty::members::v1;
namespace pv1 = ::loyalty::points::v1;

inline constexpr char kProgram[] = "shop";
inline constexpr char kPageTokenKey[] = "rewards-test-page-token-key";

// Calls like a well-behaved client: a call shed for load (RESOURCE_EXHAUSTED) is retried with
// the same request, which its request_id makes safe.
template <typename Stub, typename Request, typename Response>
absl::StatusOr<Response> Invoke(Stub& stub,
                                grpc::Status (Stub::*rpc)(grpc::ClientContext*, const Request&,
                                                          Response*),
                                const Request& request) {
  for (int attempt = 1;; ++attempt) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    Response response;
    grpc::Status status = (stub.*rpc)(&context, request, &response);
    if (status.ok()) return response;
    absl::Status mapped = FromGrpcStatus(status);
    if (mapped.code() != absl::StatusCode::kResourceExhausted || attempt == 50) return mapped;
    absl::SleepFor(absl::Milliseconds(attempt));
  }
}

class Platform {
 public:
  explicit Platform(const Clock& clock) {
    members_schema_ = testkit::MustSchema("members");
    points_schema_ = testkit::MustSchema("points");
    members_pool_ = members_schema_->MakePool(4);
    points_pool_ = points_schema_->MakePool(16);
    testkit::MustMigrate(*members_pool_, members::Migrations());
    testkit::MustMigrate(*points_pool_, points::Migrations());
    members_handler_ = std::make_unique<members::MembersHandler>(
        *members_pool_, clock, members::MembersHandlerOptions{.page_token_key = kPageTokenKey});
    members_service_ = std::make_unique<members::GrpcMembersService>(*members_handler_);
    members_server_ = testkit::MustServe("members-test", members_service_.get());
    members_stub_ = mv1::MembersService::NewStub(testkit::InsecureChannel(members_address()));
    directory_ = std::make_unique<points::GrpcMemberDirectory>(
        testkit::InsecureChannel(members_address()), absl::Seconds(10));
    points_handler_ = std::make_unique<points::PointsHandler>(
        *points_pool_, clock, *directory_,
        points::PointsHandlerOptions{.page_token_key = kPageTokenKey,
                                     .projection_ttl = absl::Minutes(10)});
    points_service_ = std::make_unique<points::GrpcPointsService>(*points_handler_);
    points_server_ = testkit::MustServe("points-test", points_service_.get());
    points_stub_ = pv1::PointsService::NewStub(testkit::InsecureChannel(points_address()));

    mv1::CreateProgramRequest program;
    program.set_request_id("program");
    program.mutable_program()->set_id(kProgram);
    program.mutable_program()->set_display_name("Shop");
    program.mutable_program()->set_currency_code("EUR");
    LOYALTY_CHECK(Invoke(*members_stub_, &mv1::MembersService::Stub::CreateProgram, program).ok());
  }

  std::string members_address() const { return testkit::AddressOf(*members_server_); }
  std::string points_address() const { return testkit::AddressOf(*points_server_); }
  pg::Pool& points_pool() { return *points_pool_; }
  points::PointsHandler& points_handler() { return *points_handler_; }

  // A new member holding `points` available points.
  std::string Member(const std::string& name, int64_t points) {
    mv1::EnrollMemberRequest enrol;
    enrol.set_program(kProgram);
    enrol.set_request_id("enrol-" + name);
    enrol.mutable_profile()->set_email(name + "@example.com");
    auto enrolled = Invoke(*members_stub_, &mv1::MembersService::Stub::EnrollMember, enrol);
    LOYALTY_CHECK(enrolled.ok());
    const std::string id = enrolled->member().id();
    if (points > 0) Grant(id, points, "grant-" + name);
    return id;
  }

  void Grant(const std::string& member, int64_t points, const std::string& key) {
    pv1::AdjustPointsRequest adjust;
    adjust.set_program(kProgram);
    adjust.set_member(member);
    adjust.set_request_id(key);
    adjust.set_points(points);
    adjust.set_reason("test grant");
    LOYALTY_CHECK(Invoke(*points_stub_, &pv1::PointsService::Stub::AdjustPoints, adjust).ok());
  }

  pv1::Balance Balance(const std::string& member) {
    pv1::GetBalanceRequest request;
    request.set_program(kProgram);
    request.set_member(member);
    auto response = Invoke(*points_stub_, &pv1::PointsService::Stub::GetBalance, request);
    LOYALTY_CHECK(response.ok());
    return response->balance();
  }

  // Holds of the program by status (loyalty.points.v1.HoldStatus).
  int64_t HoldsWithStatus(int status) {
    static constexpr pg::Query kCount{"t_holds_with_status",
                                      "SELECT count(*) FROM holds WHERE status = $1"};
    auto connection = points_pool_->Acquire();
    LOYALTY_CHECK(connection.ok());
    auto rows = (*connection)->Execute(kCount, pg::Params().Add(int64_t{status}));
    LOYALTY_CHECK(rows.ok());
    return rows->Int64(0, 0);
  }

 private:
  std::unique_ptr<testkit::TestSchema> members_schema_, points_schema_;
  std::unique_ptr<pg::Pool> members_pool_, points_pool_;
  std::unique_ptr<members::MembersHandler> members_handler_;
  std::unique_ptr<members::GrpcMembersService> members_service_;
  std::unique_ptr<server::GrpcServer> members_server_;
  std::unique_ptr<mv1::MembersService::Stub> members_stub_;
  std::unique_ptr<points::GrpcMemberDirectory> directory_;
  std::unique_ptr<points::PointsHandler> points_handler_;
  std::unique_ptr<points::GrpcPointsService> points_service_;
  std::unique_ptr<server::GrpcServer> points_server_;
  std::unique_ptr<pv1::PointsService::Stub> points_stub_;
};

}  // namespace loyalty::rewards::testing
