#pragma once

// Who may call which route, and how each mutation gets its idempotency key: ONE table keyed by
// the RPC's full name (docs/gateway.md prints it).
//
// Function level: an admin key reaches every route; a merchant or app key, or a member token,
// only the RPCs the table grants it. An RPC missing from the table is admin-only (default deny),
// so a new annotated RPC is reachable by admins at once and by others once someone decides.
//
// Object level (BOLA, OWASP API1): a member token reaches a granted RPC only for its own
// resources: the request's `program` field must equal the token's program and, for
// member-scoped RPCs, its `member` field the token's subject. The gateway checks the request
// message it built (after path, query and body were all applied), so no way of naming a field
// gets around it. Another member's resource answers 404, exactly as a member that does not exist.

#include <cstdint>
#include <span>
#include <string_view>

#include "gateway/auth/principal.h"

namespace loyalty::gateway {

enum class MemberAccess {
  kNone,        // member tokens may not call it
  kOwnProgram,  // request.program must be the token's program (catalog-like reads), and
                // request.member, when the request names one, the token's subject
  kOwnMember,   // ... and request.member the token's subject
};

enum class IdempotencyKeyPolicy {
  // A mutation without an Idempotency-Key header (or request_id in the body) is refused with 400
  // IDEMPOTENCY_KEY_REQUIRED: retrying a purchase or a redemption must never double it.
  kRequired,
  // The gateway makes one up (and returns it in the Idempotency-Key response header), for calls
  // where a duplicate is caught anyway (enrolment: one member per email or phone).
  kGenerated,
};

// Role bits of RoutePolicy::roles. Admin is implied.
inline constexpr uint32_t kMerchant = 1u << 0;
inline constexpr uint32_t kApp = 1u << 1;

struct RoutePolicy {
  std::string_view rpc;
  uint32_t roles = 0;
  MemberAccess member = MemberAccess::kNone;
  IdempotencyKeyPolicy idempotency = IdempotencyKeyPolicy::kRequired;
};

// The full name the gateway's own wallet route is listed under.
inline constexpr std::string_view kWalletRpcName = "loyalty.gateway.v1.Gateway.GetWallet";

// Every entry of the table.
std::span<const RoutePolicy> RoutePolicies();

// The entry for `rpc`, or the default for RPCs the table does not list: admin only, key
// required.
const RoutePolicy& PolicyFor(std::string_view rpc);

// Whether `principal` may call an RPC with `policy` at all (function level).
bool MayCall(const Principal& principal, const RoutePolicy& policy);

// Whether a member `principal` owns the resource a request names; true for API keys, which are
// not scoped to members. `program` and `member` are the request's fields of those names ("" when
// it has none).
bool OwnsResource(const Principal& principal, const RoutePolicy& policy, std::string_view program,
                  std::string_view member);

}  // namespace loyalty::gateway
