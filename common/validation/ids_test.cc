#include "common/validation/ids.h"

#include <string>

#include "common/testkit/invalid_field.h"
#include "gtest/gtest.h"

namespace loyalty {
namespace {

using ::loyalty::testkit::IsInvalidField;

TEST(ValidateMemberRef, NamesWhicheverHalfIsBad) {
  EXPECT_TRUE(ValidateMemberRef("demo", "m1").ok());
  EXPECT_TRUE(IsInvalidField(ValidateMemberRef("Demo", "m1"), "program", "INVALID_PROGRAM_ID"));
  EXPECT_TRUE(IsInvalidField(ValidateMemberRef("demo", "M1"), "member", "INVALID_MEMBER_ID"));
}

TEST(ResourceNames, FollowTheRestPaths) {
  EXPECT_EQ(ProgramName("demo"), "programs/demo");
  EXPECT_EQ(MemberName("demo", "m1"), "programs/demo/members/m1");
}

TEST(ValidateMemberId, AcceptsLowercaseAlphanumericUpTo64) {
  EXPECT_TRUE(ValidateMemberId("m3cfh3zk8mg8rkk8", "member").ok());
  EXPECT_TRUE(ValidateMemberId(std::string(kMemberIdLengthMax, 'a'), "member").ok());
  for (const std::string& id : {std::string(""), std::string("M1"), std::string("m-1"),
                                std::string(kMemberIdLengthMax + 1, 'a'), std::string("m 1")}) {
    EXPECT_TRUE(IsInvalidField(ValidateMemberId(id, "member"), "member", "INVALID_MEMBER_ID"))
        << id;
  }
}

TEST(ValidateProgramId, AcceptsLowercaseSlugs) {
  EXPECT_TRUE(ValidateProgramId("demo", "program").ok());
  EXPECT_TRUE(ValidateProgramId("a", "program").ok());
  EXPECT_TRUE(ValidateProgramId("acme-rewards-2026", "program").ok());
  EXPECT_TRUE(ValidateProgramId("a" + std::string(62, '-'), "program").ok());
}

TEST(ValidateProgramId, RejectsEverythingElse) {
  for (const std::string& id :
       {std::string(""), std::string("1demo"), std::string("-demo"), std::string("Demo"),
        std::string("de_mo"), std::string("de mo"), std::string("démo"), std::string("demo/x"),
        std::string(64, 'a'), std::string("demo\0", 5)}) {
    EXPECT_TRUE(
        IsInvalidField(ValidateProgramId(id, "program.id"), "program.id", "INVALID_PROGRAM_ID"))
        << id;
  }
}

TEST(ValidateRequestId, AcceptsPrintableAsciiUpTo128) {
  EXPECT_TRUE(ValidateRequestId("0b7e6c1e-4f1d-4a55-9a2f-0d9d1f3a2b11", "request_id").ok());
  EXPECT_TRUE(ValidateRequestId("x", "request_id").ok());
  EXPECT_TRUE(ValidateRequestId("order 42 / retry #1 ~", "request_id").ok());
  EXPECT_TRUE(ValidateRequestId(std::string(kRequestIdLengthMax, 'k'), "request_id").ok());
}

TEST(ValidateRequestId, MissingOrBadIdsHaveTheirOwnReasons) {
  EXPECT_TRUE(
      IsInvalidField(ValidateRequestId("", "request_id"), "request_id", "REQUEST_ID_REQUIRED"));
  for (const std::string& id :
       {std::string(kRequestIdLengthMax + 1, 'k'), std::string(1 << 20, 'k'),
        std::string("tab\tid"), std::string("new\nline"), std::string("nul\0", 4),
        std::string("ünïcode"), std::string("del\x7f")}) {
    EXPECT_TRUE(
        IsInvalidField(ValidateRequestId(id, "request_id"), "request_id", "INVALID_REQUEST_ID"))
        << id.substr(0, 80);
  }
}

TEST(ValidateCurrencyCode, AcceptsThreeUppercaseLetters) {
  EXPECT_TRUE(ValidateCurrencyCode("EUR", "program.currency_code").ok());
  EXPECT_TRUE(ValidateCurrencyCode("USD", "program.currency_code").ok());
  for (const std::string& code :
       {std::string(""), std::string("eur"), std::string("EU"), std::string("EURO"),
        std::string("E1R"), std::string("EÜR"), std::string(" EUR"), std::string(1000, 'E')}) {
    EXPECT_TRUE(IsInvalidField(ValidateCurrencyCode(code, "program.currency_code"),
                               "program.currency_code", "INVALID_CURRENCY"))
        << code;
  }
}

}  // namespace
}  // namespace loyalty
