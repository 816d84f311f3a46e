#include "rewards-svc/domain/voucher_code.h"

#include "common/check.h"
#include "common/status/error.h"

namespace loyalty::rewards {
namespace {

constexpr std::string_view kAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr int kBase = 32;

// The symbol's value, or -1.
int ValueOf(char c) {
  if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  if (c == 'O') c = '0';
  if (c == 'I' || c == 'L') c = '1';
  const size_t index = kAlphabet.find(c);
  return index == std::string_view::npos ? -1 : static_cast<int>(index);
}

// Luhn mod N: doubling every second symbol from the right catches every single substitution
// and most transpositions of neighbours.
char CheckCharacter(std::string_view data) {
  int factor = 2;
  int sum = 0;
  for (size_t i = data.size(); i-- > 0;) {
    int addend = factor * ValueOf(data[i]);
    factor = factor == 2 ? 1 : 2;
    sum += addend / kBase + addend % kBase;
  }
  return kAlphabet[(kBase - sum % kBase) % kBase];
}

}  // namespace

std::string VoucherCodeFromRandom(uint64_t random) {
  std::string code(kVoucherCodeDataChars, '0');
  for (size_t i = kVoucherCodeDataChars; i-- > 0;) {
    code[i] = kAlphabet[random & 31];
    random >>= 5;
  }
  code.push_back(CheckCharacter(code));
  return code;
}

absl::StatusOr<std::string> NormalizeVoucherCode(std::string_view input, std::string_view field) {
  const auto invalid = [&] {
    return InvalidField(field, "INVALID_VOUCHER_CODE",
                        "must be 13 characters of 0-9 and A-Z (without I, L, O, U) with a valid "
                        "check character; '-' and spaces are ignored");
  };
  if (input.size() > kVoucherCodeInputLengthMax) return invalid();
  std::string code;
  for (char c : input) {
    if (c == '-' || c == ' ') continue;
    const int value = ValueOf(c);
    if (value < 0) return invalid();
    code.push_back(kAlphabet[value]);
  }
  if (code.size() != kVoucherCodeChars ||
      CheckCharacter(std::string_view(code).substr(0, kVoucherCodeDataChars)) != code.back()) {
    return invalid();
  }
  return code;
}

std::string FormatVoucherCode(std::string_view canonical) {
  LOYALTY_CHECK(canonical.size() == kVoucherCodeChars);
  std::string out;
  out.append(canonical.substr(0, 4)).append("-");
  out.append(canonical.substr(4, 4)).append("-");
  out.append(canonical.substr(8));
  return out;
}

}  // namespace loyalty::rewards
