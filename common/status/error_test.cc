#include "common/status/error.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loyalty {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::Optional;
using ::testing::Pair;

TEST(ErrorWithReason, CarriesCodeMessageReasonAndMetadata) {
  absl::Status status = ErrorWithReason(absl::StatusCode::kFailedPrecondition, "MEMBER_SUSPENDED",
                                        "member m1 is suspended", {{"member", "m1"}});
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(), "member m1 is suspended");
  EXPECT_THAT(ErrorReason(status), Optional(std::string("MEMBER_SUSPENDED")));
  EXPECT_THAT(ErrorMetadataOf(status), ElementsAre(Pair("member", "m1")));
  EXPECT_TRUE(FieldViolations(status).empty());
}

TEST(InvalidField, NamesTheFieldInBadRequestAndMessage) {
  absl::Status status = InvalidField("profile.email", "INVALID_EMAIL", "must contain one '@'");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "profile.email: must contain one '@'");
  EXPECT_THAT(ErrorReason(status), Optional(std::string("INVALID_EMAIL")));
  EXPECT_THAT(FieldViolations(status), ElementsAre(Field(&FieldViolation::field, "profile.email")));
}

TEST(InvalidFields, ListsEveryViolation) {
  absl::Status status = InvalidFields("INVALID_TIER_LADDER", {{"program.tiers[0].code", "empty"},
                                                              {"program.tiers[1].code", "dup"}});
  EXPECT_EQ(FieldViolations(status).size(), 2u);
  EXPECT_EQ(status.message(), "program.tiers[0].code: empty; program.tiers[1].code: dup");
}

TEST(StatusSummary, ShowsCodeReasonAndMessageWithoutPayloadBytes) {
  EXPECT_EQ(StatusSummary(ErrorWithReason(absl::StatusCode::kNotFound, "MEMBER_NOT_FOUND", "m1")),
            "NOT_FOUND MEMBER_NOT_FOUND: m1");
  EXPECT_EQ(StatusSummary(absl::UnavailableError("down")), "UNAVAILABLE: down");
  EXPECT_EQ(StatusSummary(absl::OkStatus()), "OK");
}

TEST(InvalidField, ReplacesMalformedUtf8FromRequestsSoDetailsStayValidProtos) {
  absl::Status status = InvalidField("na\xffme\xc3", "UNKNOWN_FIELD", "bad \xe2\x82");
  ASSERT_EQ(FieldViolations(status).size(), 1u);
  EXPECT_EQ(FieldViolations(status)[0].field, "na\xef\xbf\xbdme\xef\xbf\xbd");
  EXPECT_EQ(FieldViolations(status)[0].description, "bad \xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(ErrorMetadataOf(status).at("field"), "na\xef\xbf\xbdme\xef\xbf\xbd");
  // Well-formed text, multi-byte included, passes unchanged.
  EXPECT_EQ(FieldViolations(InvalidField("caf\xc3\xa9", "R_X", "ok"))[0].field, "caf\xc3\xa9");
}

TEST(ErrorReason, AbsentOnPlainStatus) {
  EXPECT_EQ(ErrorReason(absl::NotFoundError("x")), std::nullopt);
  EXPECT_TRUE(ErrorMetadataOf(absl::OkStatus()).empty());
}

TEST(ErrorWithReasonDeathTest, MalformedReasonIsAProgrammerError) {
  EXPECT_DEATH(ErrorWithReason(absl::StatusCode::kInternal, "lower_case", "x"), "LOYALTY_CHECK");
  EXPECT_DEATH(ErrorWithReason(absl::StatusCode::kOk, "REASON", "x"), "LOYALTY_CHECK");
}

}  // namespace
}  // namespace loyalty
