#pragma once

// Identifiers every service accepts: program ids, member ids, request ids (idempotency keys) and
// currency codes. Each check returns INVALID_ARGUMENT built with InvalidField, naming `field` and a
// stable reason, and never echoes the rejected value.

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace loyalty {

inline constexpr size_t kProgramIdLengthMax = 63;
inline constexpr size_t kMemberIdLengthMax = 64;
inline constexpr size_t kRequestIdLengthMax = 128;

// ^[a-z][a-z0-9-]{0,62}$. Fails with reason INVALID_PROGRAM_ID.
absl::Status ValidateProgramId(std::string_view id, std::string_view field);

// 1..64 characters of a-z and 0-9 (members-svc issues 'm' + 15 base32 characters). Fails with
// reason INVALID_MEMBER_ID.
absl::Status ValidateMemberId(std::string_view id, std::string_view field);

// 1..128 printable ASCII characters (0x20..0x7E). Fails with reason REQUEST_ID_REQUIRED when
// empty, else INVALID_REQUEST_ID.
absl::Status ValidateRequestId(std::string_view request_id, std::string_view field);

// Three uppercase ASCII letters (ISO 4217 form; whether the code is assigned is not checked).
// Fails with reason INVALID_CURRENCY.
absl::Status ValidateCurrencyCode(std::string_view code, std::string_view field);

// Both halves of a request's member reference, as the fields "program" and "member".
absl::Status ValidateMemberRef(std::string_view program_id, std::string_view member_id);

// Resource names (AIP-122): "programs/{program}" and "programs/{program}/members/{member}".
std::string ProgramName(std::string_view program_id);
std::string MemberName(std::string_view program_id, std::string_view member_id);

}  // namespace loyalty
