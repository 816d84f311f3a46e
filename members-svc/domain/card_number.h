#pragma once

// Loyalty card numbers: 16 digits, the last a Luhn (ISO/IEC 7812-1) check digit, so a mistyped
// digit or a swap of two adjacent digits (other than 09/90) is caught before any lookup.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace loyalty::members {

inline constexpr size_t kCardNumberLength = 16;

// The Luhn check digit (0..9) to append to `digits_without_check`, which holds only ASCII digits
// (checked; a programmer error otherwise).
int LuhnCheckDigit(std::string_view digits_without_check);

// True when `card_number` is exactly 16 ASCII digits whose last digit is the Luhn check digit of
// the first 15.
bool IsValidCardNumber(std::string_view card_number);

// A valid card number in the loyalty card range: "9", then `random` mod 10^14 as 14 digits
// (zero-padded), then the check digit. The caller supplies the randomness (a CSPRNG in
// production); the modulo bias of a 64-bit input is below 10^-5 and harmless for uniqueness.
std::string CardNumberFromRandom(uint64_t random);

}  // namespace loyalty::members
