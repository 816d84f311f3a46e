#include "gateway/transcode/errors.h"

#include <string>

#include "common/status/error.h"
#include "common/status/grpc_status.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/rpc/error_details.pb.h"
#include "gtest/gtest.h"

namespace loyalty::gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using G = grpc::StatusCode;

google::protobuf::Struct ParseBody(const std::string& body) {
  google::protobuf::Struct parsed;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(body, &parsed).ok()) << body;
  return parsed;
}

TEST(HttpStatusFromCode, FollowsGoogleRpcCodeProto) {
  EXPECT_EQ(HttpStatusFromCode(G::OK), 200);
  EXPECT_EQ(HttpStatusFromCode(G::CANCELLED), 499);
  EXPECT_EQ(HttpStatusFromCode(G::UNKNOWN), 500);
  EXPECT_EQ(HttpStatusFromCode(G::INVALID_ARGUMENT), 400);
  EXPECT_EQ(HttpStatusFromCode(G::DEADLINE_EXCEEDED), 504);
  EXPECT_EQ(HttpStatusFromCode(G::NOT_FOUND), 404);
  EXPECT_EQ(HttpStatusFromCode(G::ALREADY_EXISTS), 409);
  EXPECT_EQ(HttpStatusFromCode(G::PERMISSION_DENIED), 403);
  EXPECT_EQ(HttpStatusFromCode(G::RESOURCE_EXHAUSTED), 429);
  EXPECT_EQ(HttpStatusFromCode(G::FAILED_PRECONDITION), 400);
  EXPECT_EQ(HttpStatusFromCode(G::ABORTED), 409);
  EXPECT_EQ(HttpStatusFromCode(G::OUT_OF_RANGE), 400);
  EXPECT_EQ(HttpStatusFromCode(G::UNIMPLEMENTED), 501);
  EXPECT_EQ(HttpStatusFromCode(G::INTERNAL), 500);
  EXPECT_EQ(HttpStatusFromCode(G::UNAVAILABLE), 503);
  EXPECT_EQ(HttpStatusFromCode(G::DATA_LOSS), 500);
  EXPECT_EQ(HttpStatusFromCode(G::UNAUTHENTICATED), 401);
}

TEST(UpstreamErrorReply, PassesTheServicesStatusWithItsDetailsThrough) {
  const grpc::Status status = ToGrpcStatus(
      InvalidField("profile.email", "INVALID_EMAIL", "not an email address"), "members.loyalty");
  const ErrorReply reply = UpstreamErrorReply(status, "members", "trace");
  EXPECT_EQ(reply.http_status, 400);
  EXPECT_EQ(reply.status.code(), 3);
  EXPECT_THAT(reply.body, HasSubstr(R"("reason":"INVALID_EMAIL")"));
  EXPECT_THAT(reply.body, HasSubstr(R"("domain":"members.loyalty")"));
  EXPECT_THAT(reply.body, HasSubstr("type.googleapis.com/google.rpc.BadRequest"));
  EXPECT_THAT(reply.body, HasSubstr(R"("field":"profile.email")"));
  const google::protobuf::Struct body = ParseBody(reply.body);
  EXPECT_EQ(body.fields().at("code").number_value(), 3);
  EXPECT_EQ(body.fields().at("message").string_value(), "profile.email: not an email address");
}

TEST(UpstreamErrorReply, MapsEachCodeMembersCanProduce) {
  struct Case {
    absl::StatusCode code;
    int http;
  };
  for (const Case& c :
       {Case{absl::StatusCode::kNotFound, 404}, Case{absl::StatusCode::kAlreadyExists, 409},
        Case{absl::StatusCode::kFailedPrecondition, 400}, Case{absl::StatusCode::kAborted, 409},
        Case{absl::StatusCode::kUnavailable, 503}, Case{absl::StatusCode::kDeadlineExceeded, 504},
        Case{absl::StatusCode::kResourceExhausted, 429}}) {
    const grpc::Status status =
        ToGrpcStatus(ErrorWithReason(c.code, "SOME_REASON", "message"), "members.loyalty");
    const ErrorReply reply = UpstreamErrorReply(status, "members", "trace");
    EXPECT_EQ(reply.http_status, c.http) << absl::StatusCodeToString(c.code);
    EXPECT_THAT(reply.body, HasSubstr(R"("reason":"SOME_REASON")"));
  }
}

TEST(UpstreamErrorReply, InternalErrorsHideMessageAndDetailsAndQuoteTheTraceId) {
  for (absl::StatusCode code :
       {absl::StatusCode::kInternal, absl::StatusCode::kUnknown, absl::StatusCode::kDataLoss}) {
    const grpc::Status status = ToGrpcStatus(
        ErrorWithReason(code, "DATABASE_ERROR", "query members.select_member: SQLSTATE 42P01"),
        "members.loyalty");
    const ErrorReply reply =
        UpstreamErrorReply(status, "members", "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_EQ(reply.http_status, 500);
    EXPECT_THAT(reply.body, Not(HasSubstr("SQLSTATE")));
    EXPECT_THAT(reply.body, Not(HasSubstr("DATABASE_ERROR")));
    EXPECT_THAT(reply.body, Not(HasSubstr("members.loyalty")));
    EXPECT_THAT(reply.body, HasSubstr(R"("reason":"INTERNAL")"));
    EXPECT_THAT(reply.body, HasSubstr("4bf92f3577b34da6a3ce929d0e0e4736"));
  }
}

TEST(UpstreamErrorReply, TransportErrorsWithoutDetailsNeverShowTheLibrarysText) {
  const ErrorReply unavailable =
      UpstreamErrorReply(grpc::Status(G::UNAVAILABLE,
                                      "failed to connect to all addresses; last error: "
                                      "ipv4:10.1.2.3:50051: Connection refused"),
                         "members", "t");
  EXPECT_EQ(unavailable.http_status, 503);
  EXPECT_THAT(unavailable.body, Not(HasSubstr("10.1.2.3")));
  EXPECT_THAT(unavailable.body, HasSubstr(R"("reason":"UPSTREAM_UNAVAILABLE")"));
  EXPECT_THAT(unavailable.body, HasSubstr(R"("domain":"gateway.loyalty")"));

  const ErrorReply deadline =
      UpstreamErrorReply(grpc::Status(G::DEADLINE_EXCEEDED, "Deadline Exceeded"), "members", "t");
  EXPECT_EQ(deadline.http_status, 504);
  EXPECT_THAT(deadline.body, HasSubstr(R"("reason":"UPSTREAM_DEADLINE_EXCEEDED")"));

  const ErrorReply busy = UpstreamErrorReply(
      grpc::Status(G::RESOURCE_EXHAUSTED, "sync server ran out of threads"), "members", "t");
  EXPECT_EQ(busy.http_status, 503);
  EXPECT_EQ(busy.retry_after_seconds, 1);
  EXPECT_THAT(busy.body, HasSubstr(R"("reason":"UPSTREAM_OVERLOADED")"));
  EXPECT_THAT(busy.body, Not(HasSubstr("threads")));

  const ErrorReply cancelled =
      UpstreamErrorReply(grpc::Status(G::CANCELLED, "Cancelled"), "members", "t");
  EXPECT_EQ(cancelled.http_status, 499);
}

TEST(GatewayErrorReply, UsesTheGatewayDomainAndAnOverridingHttpStatus) {
  const ErrorReply reply = GatewayErrorReply(
      ErrorWithReason(absl::StatusCode::kInvalidArgument, kReasonBodyTooLarge, "too big"), 413);
  EXPECT_EQ(reply.http_status, 413);
  EXPECT_THAT(reply.body, HasSubstr(R"("code":3)"));
  EXPECT_THAT(reply.body, HasSubstr(R"("reason":"BODY_TOO_LARGE")"));
  EXPECT_THAT(reply.body, HasSubstr(R"("domain":"gateway.loyalty")"));
  EXPECT_EQ(GatewayErrorReply(absl::NotFoundError("x")).http_status, 404);
}

TEST(StatusToJson, DropsDetailsOfUnknownTypesInsteadOfFailing) {
  google::rpc::Status status;
  status.set_code(5);
  status.set_message("gone");
  google::rpc::ErrorInfo info;
  info.set_reason("GONE");
  status.add_details()->PackFrom(info);
  google::protobuf::Any* unknown = status.add_details();
  unknown->set_type_url("type.googleapis.com/some.unknown.Type");
  unknown->set_value("\x08\x01");
  const std::string json = StatusToJson(status);
  EXPECT_THAT(json, HasSubstr(R"("reason":"GONE")"));
  EXPECT_THAT(json, Not(HasSubstr("some.unknown.Type")));
}

}  // namespace
}  // namespace loyalty::gateway
