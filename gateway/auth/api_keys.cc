#include "gateway/auth/api_keys.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gateway/strings.h"
#include "openssl/crypto.h"
#include "openssl/sha.h"

namespace loyalty::gateway {
namespace {

// Enough of the digest to tell configured keys apart in logs and metrics.
constexpr size_t kKeyIdHexDigits = 12;

bool IsHex(std::string_view text) {
  for (char c : text) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kAdmin:
      return "admin";
    case Role::kMerchant:
      return "merchant";
    case Role::kApp:
      return "app";
  }
  return "app";
}

std::optional<Role> ParseRole(std::string_view name) {
  if (name == "admin") return Role::kAdmin;
  if (name == "merchant") return Role::kMerchant;
  if (name == "app") return Role::kApp;
  return std::nullopt;
}

Sha256Digest Sha256(std::string_view data) {
  Sha256Digest digest;
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data());
  return digest;
}

std::string Sha256Hex(std::string_view data) {
  const Sha256Digest digest = Sha256(data);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

absl::StatusOr<ApiKeyTable> ApiKeyTable::Parse(std::string_view spec) {
  ApiKeyTable table;
  if (spec.empty()) return table;
  size_t position = 0;
  for (absl::string_view entry : absl::StrSplit(Absl(spec), ',')) {
    ++position;
    auto bad = [position](std::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat("API key entry ", position, " ", Absl(what),
                       " (expected <64 hex digits of SHA-256>:<admin|merchant|app>)"));
    };
    if (table.entries_.size() == kApiKeysMax) {
      return absl::InvalidArgumentError(absl::StrCat("more than ", kApiKeysMax, " API keys"));
    }
    const std::vector<absl::string_view> parts = absl::StrSplit(entry, ':');
    if (parts.size() != 2) return bad("is malformed");
    if (parts[0].size() != 64 || !IsHex(Std(parts[0]))) return bad("has no 64-digit hex digest");
    const std::optional<Role> role = ParseRole(Std(parts[1]));
    if (!role.has_value()) return bad("has an unknown role");
    const std::string hex = absl::AsciiStrToLower(parts[0]);
    const std::string bytes = absl::HexStringToBytes(hex);
    Entry parsed;
    std::copy(bytes.begin(), bytes.end(), parsed.digest.begin());
    parsed.role = *role;
    parsed.key_id = hex.substr(0, kKeyIdHexDigits);
    for (const Entry& other : table.entries_) {
      if (other.digest == parsed.digest) return bad("repeats an earlier key");
    }
    table.entries_.push_back(std::move(parsed));
  }
  return table;
}

std::optional<Principal> ApiKeyTable::Find(std::string_view presented_key) const {
  if (presented_key.empty() || presented_key.size() > kApiKeyBytesMax) return std::nullopt;
  const Sha256Digest digest = Sha256(presented_key);
  const Entry* found = nullptr;
  for (const Entry& entry : entries_) {
    // No early exit: the loop takes as long whichever entry matches.
    const bool equal = CRYPTO_memcmp(entry.digest.data(), digest.data(), digest.size()) == 0;
    if (equal) found = &entry;
  }
  if (found == nullptr) return std::nullopt;
  Principal principal;
  principal.kind = Principal::Kind::kApiKey;
  principal.role = found->role;
  principal.key_id = found->key_id;
  return principal;
}

}  // namespace loyalty::gateway
