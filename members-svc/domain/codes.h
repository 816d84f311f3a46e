#pragma once

// Referral codes: 8 characters of Crockford base32 (0-9 and A-Z without I, L, O and U), which
// people can read aloud and type without confusing 0/O or 1/I/L.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace loyalty::members {

inline constexpr size_t kReferralCodeLength = 8;
// Inputs longer than this are refused before normalisation (separators included).
inline constexpr size_t kReferralCodeInputLengthMax = 32;
inline constexpr std::string_view kCrockfordAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

// An opaque id: `prefix` and 15 characters of lowercase base32 carrying 75 bits of `first` and
// `second` (random in production): unguessable, and collision-free in practice.
std::string RandomId(char prefix, uint64_t first, uint64_t second);

// The code for the low 40 bits of `random` (higher bits are ignored), most significant 5-bit group
// first. The caller supplies the randomness (a CSPRNG in production).
std::string ReferralCodeFromRandom(uint64_t random);

// The canonical form of a referral code typed by a person: ASCII letters uppercased, '-' and
// spaces removed, O read as 0 and I, L as 1. Fails with INVALID_ARGUMENT and reason
// INVALID_REFERRAL_CODE for `field` unless that leaves exactly 8 Crockford base32 characters, or
// when the input is longer than kReferralCodeInputLengthMax.
absl::StatusOr<std::string> NormalizeReferralCode(std::string_view input, std::string_view field);

}  // namespace loyalty::members
