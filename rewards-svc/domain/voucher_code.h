#pragma once

// Voucher codes: 12 characters of Crockford base32 (0-9 and A-Z without I, L, O and U) carrying
// 60 random bits, then one check character (Luhn mod 32 over the 12), so a mistyped character or
// two swapped neighbours are caught before any lookup. Shown as XXXX-XXXX-XXXXX.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace loyalty::rewards {

inline constexpr size_t kVoucherCodeDataChars = 12;
inline constexpr size_t kVoucherCodeChars = kVoucherCodeDataChars + 1;
// Typed input longer than this is rejected unread.
inline constexpr size_t kVoucherCodeInputLengthMax = 40;

// The canonical code (13 characters, no separators) for the low 60 bits of `random`.
std::string VoucherCodeFromRandom(uint64_t random);

// The canonical form of a typed code: ASCII letters uppercased, '-' and ' ' dropped, O read as 0
// and I, L as 1. INVALID_ARGUMENT naming `field` with reason INVALID_VOUCHER_CODE when it is not
// 13 base32 characters or the check character does not match.
absl::StatusOr<std::string> NormalizeVoucherCode(std::string_view input, std::string_view field);

// XXXX-XXXX-XXXXX for a canonical code.
std::string FormatVoucherCode(std::string_view canonical);

}  // namespace loyalty::rewards
