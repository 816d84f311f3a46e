#include "members-svc/domain/codes.h"

#include "absl/strings/str_cat.h"
#include "common/status/error.h"

namespace loyalty::members {
namespace {

constexpr int kBitsPerChar = 5;

absl::Status InvalidReferralCode(std::string_view field) {
  return InvalidField(field, "INVALID_REFERRAL_CODE",
                      absl::StrCat("must be ", kReferralCodeLength,
                                   " characters of Crockford base32 (0-9, A-Z without I, L, O, "
                                   "U), optionally with '-' or spaces"));
}

}  // namespace

std::string RandomId(char prefix, uint64_t first, uint64_t second) {
  constexpr std::string_view kAlphabet = "0123456789abcdefghjkmnpqrstvwxyz";
  std::string id(1, prefix);
  uint64_t bits = first;
  for (int i = 0; i < 15; ++i) {
    if (i == 12) bits = second;
    id.push_back(kAlphabet[bits & 31]);
    bits >>= 5;
  }
  return id;
}

std::string ReferralCodeFromRandom(uint64_t random) {
  std::string code(kReferralCodeLength, '0');
  for (size_t i = 0; i < kReferralCodeLength; ++i) {
    const int shift = kBitsPerChar * static_cast<int>(kReferralCodeLength - 1 - i);
    code[i] = kCrockfordAlphabet[(random >> shift) & 0x1f];
  }
  return code;
}

absl::StatusOr<std::string> NormalizeReferralCode(std::string_view input, std::string_view field) {
  if (input.size() > kReferralCodeInputLengthMax) return InvalidReferralCode(field);
  std::string code;
  code.reserve(kReferralCodeLength);
  for (char c : input) {
    if (c == '-' || c == ' ') continue;
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c == 'O') c = '0';
    if (c == 'I' || c == 'L') c = '1';
    if (kCrockfordAlphabet.find(c) == std::string_view::npos) return InvalidReferralCode(field);
    code.push_back(c);
  }
  if (code.size() != kReferralCodeLength) return InvalidReferralCode(field);
  return code;
}

}  // namespace loyalty::members
