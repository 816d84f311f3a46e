#include "members-svc/domain/card_number.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace loyalty::members {
namespace {

TEST(CardNumber, LuhnCheckDigitMatchesKnownVectors) {
  EXPECT_EQ(LuhnCheckDigit("7992739871"), 3);
  EXPECT_EQ(LuhnCheckDigit("411111111111111"), 1);  // 4111 1111 1111 1111
  EXPECT_EQ(LuhnCheckDigit("555555555555444"), 4);  // 5555 5555 5555 4444
  EXPECT_EQ(LuhnCheckDigit("453914880343646"), 7);  // 4539 1488 0343 6467
  EXPECT_EQ(LuhnCheckDigit("37828224631000"), 5);   // 3782 822463 10005
  EXPECT_EQ(LuhnCheckDigit("0"), 0);
  EXPECT_EQ(LuhnCheckDigit(""), 0);
}

TEST(CardNumber, LuhnCheckDigitOfNonDigitsIsAProgrammerError) {
  EXPECT_DEATH(LuhnCheckDigit("79927a9871"), "LOYALTY_CHECK");
  EXPECT_DEATH(LuhnCheckDigit("7992 739871"), "LOYALTY_CHECK");
}

TEST(CardNumber, ValidNumbersAreSixteenLuhnDigits) {
  EXPECT_TRUE(IsValidCardNumber("4111111111111111"));
  EXPECT_TRUE(IsValidCardNumber("4539148803436467"));
  EXPECT_FALSE(IsValidCardNumber("4111111111111112"));  // wrong check digit
  EXPECT_FALSE(IsValidCardNumber("79927398713"));       // Luhn-valid, too short
  EXPECT_FALSE(IsValidCardNumber("378282246310005"));   // Luhn-valid, 15 digits
  EXPECT_FALSE(IsValidCardNumber("41111111111111110"));
  EXPECT_FALSE(IsValidCardNumber("4111 1111 1111 1111"));
  EXPECT_FALSE(IsValidCardNumber("411111111111111a"));
  EXPECT_FALSE(IsValidCardNumber(std::string("411111111111111\0", 16)));
  EXPECT_FALSE(IsValidCardNumber(""));
}

TEST(CardNumber, FromRandomIsAValidNumberInTheLoyaltyRange) {
  for (uint64_t random : {uint64_t{0}, uint64_t{1}, uint64_t{123456789012345},
                          uint64_t{99'999'999'999'999}, UINT64_MAX}) {
    const std::string number = CardNumberFromRandom(random);
    EXPECT_EQ(number.size(), kCardNumberLength) << number;
    EXPECT_EQ(number[0], '9') << number;
    EXPECT_TRUE(IsValidCardNumber(number)) << number;
  }
  EXPECT_EQ(CardNumberFromRandom(0), "9000000000000001");
  EXPECT_EQ(CardNumberFromRandom(7), CardNumberFromRandom(100'000'000'000'007));
  EXPECT_EQ(CardNumberFromRandom(99'999'999'999'999).substr(0, 15), "999999999999999");
  EXPECT_EQ(CardNumberFromRandom(UINT64_MAX).substr(1, 14), "44073709551615");
}

std::vector<std::string> SampleNumbers() {
  std::vector<std::string> numbers;
  uint64_t x = 0x9e3779b97f4a7c15;
  for (int i = 0; i < 200; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    numbers.push_back(CardNumberFromRandom(x));
  }
  numbers.push_back("4111111111111111");
  numbers.push_back("9090909090909098");
  return numbers;
}

TEST(CardNumber, EverySingleDigitErrorIsDetected) {
  for (const std::string& number : SampleNumbers()) {
    ASSERT_TRUE(IsValidCardNumber(number)) << number;
    for (size_t i = 0; i < number.size(); ++i) {
      for (char digit = '0'; digit <= '9'; ++digit) {
        if (digit == number[i]) continue;
        std::string typo = number;
        typo[i] = digit;
        EXPECT_FALSE(IsValidCardNumber(typo)) << number << " -> " << typo;
      }
    }
  }
}

TEST(CardNumber, AdjacentTranspositionsAreDetectedExceptZeroNine) {
  int undetected_09 = 0;
  for (const std::string& number : SampleNumbers()) {
    for (size_t i = 0; i + 1 < number.size(); ++i) {
      if (number[i] == number[i + 1]) continue;
      std::string swapped = number;
      std::swap(swapped[i], swapped[i + 1]);
      const bool zero_nine =
          (number[i] == '0' && number[i + 1] == '9') || (number[i] == '9' && number[i + 1] == '0');
      if (zero_nine) {
        // Luhn's known blind spot: 0 and 9 both contribute 0 and 9 whether doubled or not.
        EXPECT_TRUE(IsValidCardNumber(swapped)) << number << " -> " << swapped;
        ++undetected_09;
      } else {
        EXPECT_FALSE(IsValidCardNumber(swapped)) << number << " -> " << swapped;
      }
    }
  }
  EXPECT_GT(undetected_09, 0);  // the sample exercised the exception
}

}  // namespace
}  // namespace loyalty::members
