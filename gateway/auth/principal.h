#pragma once

// Who is calling: a server-to-server API key with a role, or a member holding a token.

#include <optional>
#include <string>
#include <string_view>

namespace loyalty::gateway {

// The roles an API key can have (docs/gateway.md has what each may call).
enum class Role {
  kAdmin,     // everything
  kMerchant,  // purchases, refunds, activities, vouchers, enrolment and member reads
  kApp,       // the mobile app backend: member-facing reads and redemptions
};

// "admin", "merchant", "app".
std::string_view RoleName(Role role);
// The inverse; nullopt for anything else (exact spelling).
std::optional<Role> ParseRole(std::string_view name);

struct Principal {
  enum class Kind { kApiKey, kMember };
  Kind kind = Kind::kApiKey;

  // kApiKey: the key's role, and an id for logs and rate limits: the first 12 hex digits of the
  // key's SHA-256, which identify the configured entry without revealing the key.
  Role role = Role::kApp;
  std::string key_id;

  // kMember: the token's `program` claim and `sub` (the member id).
  std::string program;
  std::string member;
};

}  // namespace loyalty::gateway
