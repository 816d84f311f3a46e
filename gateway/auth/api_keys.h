#pragma once

// Server-to-server API keys (header x-api-key). The configuration holds only each key's SHA-256,
// so a leaked configuration or memory dump does not hand out working keys, and a lookup hashes
// the presented key and compares it with every configured digest in constant time.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/auth/principal.h"

namespace loyalty::gateway {

inline constexpr size_t kApiKeysMax = 1000;
// Presented keys longer than this are refused unhashed.
inline constexpr size_t kApiKeyBytesMax = 256;

using Sha256Digest = std::array<uint8_t, 32>;

Sha256Digest Sha256(std::string_view data);
// Lowercase hex of Sha256(data): what LOYALTY_GATEWAY_API_KEYS lists per key.
std::string Sha256Hex(std::string_view data);

class ApiKeyTable {
 public:
  // Parses "<sha256-hex>:<role>[,<sha256-hex>:<role>...]" (empty: no keys). Hex is 64 digits in
  // either case; roles are admin, merchant, app. INVALID_ARGUMENT naming the entry by position,
  // never by its value, for a malformed entry, a repeated digest or more than kApiKeysMax keys.
  static absl::StatusOr<ApiKeyTable> Parse(std::string_view spec);

  // The principal of `presented_key`, or nullopt for an unknown key. Every configured digest is
  // compared (CRYPTO_memcmp), so the time taken says nothing about which entry, if any, matched.
  std::optional<Principal> Find(std::string_view presented_key) const;

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    Sha256Digest digest;
    Role role;
    std::string key_id;
  };
  std::vector<Entry> entries_;
};

}  // namespace loyalty::gateway
