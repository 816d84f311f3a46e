#pragma once

// Keys that keep voucher codes out of the database in clear (issue 4: "a database dump does not
// leak usable codes"). From one configured secret (LOYALTY_REWARDS_VOUCHER_KEY) two keys are
// derived with HMAC-SHA256 so neither use weakens the other:
//   - a lookup key: a code is found by HMAC(lookup key, program '\0' code), which reveals
//     nothing without the secret and cannot be brute-forced offline from a dump alone;
//   - a sealing key: AES-256-GCM of the code, so a member can see their own voucher again.
// Rotating the secret makes existing codes unfindable: it is a deployment constant.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace loyalty::rewards {

inline constexpr size_t kVoucherSecretLengthMin = 32;

class VoucherKeys {
 public:
  // INVALID_ARGUMENT when `secret` is shorter than kVoucherSecretLengthMin bytes.
  static absl::StatusOr<VoucherKeys> Create(std::string_view secret);

  // 32 bytes identifying the canonical `code` within the program.
  std::string LookupHash(std::string_view program_id, std::string_view code) const;

  // 12-byte random nonce, ciphertext, 16-byte tag.
  std::string Seal(std::string_view code) const;

  // The code sealed by Seal; DATA_LOSS when it was sealed under another key or altered.
  absl::StatusOr<std::string> Open(std::string_view sealed) const;

 private:
  VoucherKeys(std::string lookup_key, std::string sealing_key)
      : lookup_key_(std::move(lookup_key)), sealing_key_(std::move(sealing_key)) {}
  std::string lookup_key_;
  std::string sealing_key_;
};

}  // namespace loyalty::rewards
