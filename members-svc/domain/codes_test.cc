#include "members-svc/domain/codes.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "members-svc/domain/test_util.h"

namespace loyalty::members {
namespace {

using ::loyalty::members::testing::IsInvalidField;

TEST(ReferralCode, FromRandomEncodesFortyBitsMostSignificantFirst) {
  EXPECT_EQ(ReferralCodeFromRandom(0), "00000000");
  EXPECT_EQ(ReferralCodeFromRandom(1), "00000001");
  EXPECT_EQ(ReferralCodeFromRandom(31), "0000000Z");
  EXPECT_EQ(ReferralCodeFromRandom(32), "00000010");
  EXPECT_EQ(ReferralCodeFromRandom(0x0123456789), "04HMASW9");
  EXPECT_EQ(ReferralCodeFromRandom((uint64_t{1} << 40) - 1), "ZZZZZZZZ");
  // Bits above the 40th are ignored.
  EXPECT_EQ(ReferralCodeFromRandom((uint64_t{1} << 40) | 1), "00000001");
  EXPECT_EQ(ReferralCodeFromRandom(UINT64_MAX), "ZZZZZZZZ");
}

TEST(ReferralCode, FromRandomUsesOnlyUnambiguousCharacters) {
  uint64_t x = 0x2545f4914f6cdd1d;
  for (int i = 0; i < 1000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const std::string code = ReferralCodeFromRandom(x);
    ASSERT_EQ(code.size(), kReferralCodeLength);
    EXPECT_EQ(code.find_first_not_of(std::string(kCrockfordAlphabet)), std::string::npos) << code;
    EXPECT_EQ(code.find_first_of("ILOU"), std::string::npos) << code;
    // What we hand out normalises to itself.
    absl::StatusOr<std::string> normalized = NormalizeReferralCode(code, "referral_code");
    ASSERT_TRUE(normalized.ok()) << normalized.status();
    EXPECT_EQ(*normalized, code);
  }
}

TEST(ReferralCode, NormalizeForgivesCaseSeparatorsAndLookalikes) {
  EXPECT_EQ(*NormalizeReferralCode("ABCD-EFGH", "f"), "ABCDEFGH");
  EXPECT_EQ(*NormalizeReferralCode("abcd efgh", "f"), "ABCDEFGH");
  EXPECT_EQ(*NormalizeReferralCode(" 04hm-asw9 ", "f"), "04HMASW9");
  EXPECT_EQ(*NormalizeReferralCode("O4HM-ASW9", "f"), "04HMASW9");
  EXPECT_EQ(*NormalizeReferralCode("oIlL-1234", "f"), "01111234");
  EXPECT_EQ(*NormalizeReferralCode("A-B-C-D-E-F-G-H", "f"), "ABCDEFGH");
}

TEST(ReferralCode, NormalizeRejectsWhatIsNotACode) {
  for (const std::string& input :
       std::vector<std::string>{"", "-", "ABCDEFG", "ABCDEFGHJ", "ABCDEFGU", "ABCD_EFGH",
                                "ABCD.EFGH", "ABCDÉFGH", std::string("ABCD\0EFG", 8), "ABCD\tEFGH",
                                std::string(40, '-') + "ABCDEFGH", std::string(10000, 'A')}) {
    EXPECT_TRUE(IsInvalidField(NormalizeReferralCode(input, "referral_code"), "referral_code",
                               "INVALID_REFERRAL_CODE"))
        << input;
  }
}

TEST(ReferralCode, NormalizeAcceptsSeparatorsUpToTheInputLimit) {
  const std::string padded = "ABCDEFGH" + std::string(kReferralCodeInputLengthMax - 8, ' ');
  EXPECT_TRUE(NormalizeReferralCode(padded, "f").ok());
  EXPECT_TRUE(
      IsInvalidField(NormalizeReferralCode(padded + " ", "f"), "f", "INVALID_REFERRAL_CODE"));
}

}  // namespace
}  // namespace loyalty::members
