#include "rewards-svc/domain/voucher_code.h"

#include <set>

#include "common/testkit/invalid_field.h"
#include "common/testkit/status_matchers.h"
#include "gtest/gtest.h"

namespace loyalty::rewards {
namespace {

using ::loyalty::testkit::IsInvalidField;

TEST(VoucherCode, CarriesSixtyBitsInTwelveCharactersPlusCheck) {
  const std::string code = VoucherCodeFromRandom(0);
  EXPECT_EQ(code.size(), kVoucherCodeChars);
  EXPECT_EQ(code.substr(0, 12), "000000000000");
  // Different 60-bit values give different codes; bits above 60 are ignored.
  EXPECT_NE(VoucherCodeFromRandom(1), VoucherCodeFromRandom(2));
  EXPECT_EQ(VoucherCodeFromRandom(5), VoucherCodeFromRandom(5 | (uint64_t{1} << 62)));
  EXPECT_EQ(VoucherCodeFromRandom((uint64_t{1} << 60) - 1).substr(0, 12), "ZZZZZZZZZZZZ");
}

TEST(VoucherCode, RoundTripsThroughTheDisplayForm) {
  for (uint64_t seed : {uint64_t{0}, uint64_t{12345}, uint64_t{0x0fffffffffffffff}}) {
    const std::string code = VoucherCodeFromRandom(seed * 0x9e3779b97f4a7c15ULL);
    const std::string shown = FormatVoucherCode(code);
    EXPECT_EQ(shown.size(), 15u);
    EXPECT_EQ(shown[4], '-');
    auto normalized = NormalizeVoucherCode(shown, "code");
    ASSERT_TRUE(normalized.ok()) << normalized.status();
    EXPECT_EQ(*normalized, code);
  }
}

TEST(VoucherCode, ReadsLowercaseAndLookalikes) {
  std::string code = VoucherCodeFromRandom(0);  // all zeros + check
  std::string typed = code;
  for (size_t i = 0; i < 12; i += 2) typed[i] = 'o';
  auto normalized = NormalizeVoucherCode(typed, "code");
  ASSERT_TRUE(normalized.ok());
  EXPECT_EQ(*normalized, code);
}

TEST(VoucherCode, CatchesEverySingleSubstitution) {
  const std::string code = VoucherCodeFromRandom(0x0123456789abcdefULL);
  const std::string alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  for (size_t i = 0; i < code.size(); ++i) {
    for (char c : alphabet) {
      if (c == code[i]) continue;
      std::string typo = code;
      typo[i] = c;
      EXPECT_TRUE(
          IsInvalidField(NormalizeVoucherCode(typo, "code"), "code", "INVALID_VOUCHER_CODE"))
          << typo;
    }
  }
}

TEST(VoucherCode, CatchesMostNeighbourSwaps) {
  int caught = 0, swaps = 0;
  for (uint64_t seed = 1; seed < 200; ++seed) {
    const std::string code = VoucherCodeFromRandom(seed * 0x9e3779b97f4a7c15ULL);
    for (size_t i = 0; i + 1 < 12; ++i) {
      if (code[i] == code[i + 1]) continue;
      std::string swapped = code;
      std::swap(swapped[i], swapped[i + 1]);
      ++swaps;
      caught += NormalizeVoucherCode(swapped, "code").ok() ? 0 : 1;
    }
  }
  EXPECT_GT(caught * 100, swaps * 95);
}

TEST(VoucherCode, RejectsMalformedInput) {
  for (std::string_view bad : {"", "ABC", "UUUU-UUUU-UUUUU", "0000-0000-0000-00", "0000-0000-000*0",
                               "0000000000000000000000000000000000000000000"}) {
    EXPECT_TRUE(IsInvalidField(NormalizeVoucherCode(bad, "code"), "code", "INVALID_VOUCHER_CODE"))
        << bad;
  }
}

}  // namespace
}  // namespace loyalty::rewards
