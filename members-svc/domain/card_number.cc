#include "members-svc/domain/card_number.h"

#include <algorithm>

#include "common/check.h"

namespace loyalty::members {
namespace {

constexpr uint64_t kCardSerialModulus = 100'000'000'000'000;  // 10^14
constexpr int kCardSerialDigits = 14;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

int LuhnCheckDigit(std::string_view digits_without_check) {
  // Walking from the right, every other digit starting with the rightmost is doubled, because
  // the check digit will take the rightmost place.
  int sum = 0;
  bool doubled = true;
  for (auto it = digits_without_check.rbegin(); it != digits_without_check.rend(); ++it) {
    LOYALTY_CHECK(IsDigit(*it));
    int digit = *it - '0';
    if (doubled) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
    doubled = !doubled;
  }
  return (10 - sum % 10) % 10;
}

bool IsValidCardNumber(std::string_view card_number) {
  if (card_number.size() != kCardNumberLength ||
      !std::all_of(card_number.begin(), card_number.end(), IsDigit)) {
    return false;
  }
  return LuhnCheckDigit(card_number.substr(0, kCardNumberLength - 1)) == card_number.back() - '0';
}

std::string CardNumberFromRandom(uint64_t random) {
  std::string number(kCardNumberLength, '0');
  number[0] = '9';
  uint64_t serial = random % kCardSerialModulus;
  for (int i = kCardSerialDigits; i >= 1; --i) {
    number[i] = static_cast<char>('0' + serial % 10);
    serial /= 10;
  }
  number[kCardNumberLength - 1] =
      static_cast<char>('0' + LuhnCheckDigit(std::string_view(number).substr(0, 15)));
  return number;
}

}  // namespace loyalty::members
