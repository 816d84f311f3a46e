#include "common/status/grpc_status.h"

#include "common/status/error.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"

namespace loyalty {
namespace {

using ::testing::Optional;

google::rpc::Status DecodeDetails(const grpc::Status& status) {
  google::rpc::Status rpc_status;
  EXPECT_TRUE(rpc_status.ParseFromString(status.error_details()));
  return rpc_status;
}

TEST(ToGrpcStatus, OkStaysOk) { EXPECT_TRUE(ToGrpcStatus(absl::OkStatus(), "d").ok()); }

TEST(ToGrpcStatus, CarriesErrorInfoWithDomainAndBadRequest) {
  grpc::Status status =
      ToGrpcStatus(InvalidField("profile.phone", "INVALID_PHONE", "not E.164"), "members.loyalty");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "profile.phone: not E.164");
  google::rpc::Status rpc_status = DecodeDetails(status);
  EXPECT_EQ(rpc_status.code(), 3);
  ASSERT_EQ(rpc_status.details_size(), 2);
  google::rpc::ErrorInfo info;
  ASSERT_TRUE(rpc_status.details(0).UnpackTo(&info));
  EXPECT_EQ(info.reason(), "INVALID_PHONE");
  EXPECT_EQ(info.domain(), "members.loyalty");
  EXPECT_EQ(info.metadata().at("field"), "profile.phone");
  google::rpc::BadRequest bad_request;
  ASSERT_TRUE(rpc_status.details(1).UnpackTo(&bad_request));
  EXPECT_EQ(bad_request.field_violations(0).field(), "profile.phone");
}

TEST(ToGrpcStatus, PlainStatusGetsReasonFromItsCode) {
  grpc::Status status = ToGrpcStatus(absl::UnavailableError("pool exhausted"), "members.loyalty");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  google::rpc::ErrorInfo info;
  ASSERT_TRUE(DecodeDetails(status).details(0).UnpackTo(&info));
  EXPECT_EQ(info.reason(), "UNAVAILABLE");
}

TEST(FromGrpcStatus, RoundTripKeepsReasonMetadataAndViolations) {
  absl::Status original = ErrorWithReason(absl::StatusCode::kAlreadyExists,
                                          "MEMBER_ALREADY_ENROLLED", "exists", {{"member", "m7"}});
  absl::Status back = FromGrpcStatus(ToGrpcStatus(original, "members.loyalty"));
  EXPECT_EQ(back.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(back.message(), "exists");
  EXPECT_THAT(ErrorReason(back), Optional(std::string("MEMBER_ALREADY_ENROLLED")));
  EXPECT_EQ(ErrorMetadataOf(back).at("member"), "m7");
}

TEST(ToGrpcStatus, RelayedErrorKeepsItsOriginalDomain) {
  absl::Status relayed = FromGrpcStatus(ToGrpcStatus(
      ErrorWithReason(absl::StatusCode::kNotFound, "MEMBER_NOT_FOUND", "m1"), "members.loyalty"));
  google::rpc::ErrorInfo info;
  ASSERT_TRUE(DecodeDetails(ToGrpcStatus(relayed, "points.loyalty")).details(0).UnpackTo(&info));
  EXPECT_EQ(info.domain(), "members.loyalty");
}

}  // namespace
}  // namespace loyalty
