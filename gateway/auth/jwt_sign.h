#pragma once

// Signing JWS compact tokens: for the development token tool (gateway-dev-token) and for tests,
// which need tokens of every algorithm and shape. Production member tokens come from the
// merchant's identity provider; the gateway only verifies them (jwt.h).

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/auth/jwt.h"

namespace loyalty::gateway {

// base64url without padding (RFC 7515 section 2).
std::string Base64UrlEncode(std::string_view data);

// "<b64url(header_json)>.<b64url(payload_json)>.<b64url(signature)>", the signature made with
// `algorithm` and `key`: the secret for HS256, a PEM private key for RS256 and ES256 (ES256
// signatures are written as raw r||s). The JSON texts are used as given, so tests can sign
// headers of any shape. INVALID_ARGUMENT for a key that does not fit the algorithm.
absl::StatusOr<std::string> SignJws(std::string_view header_json, std::string_view payload_json,
                                    JwsAlgorithm algorithm, std::string_view key);

struct MemberTokenSpec {
  std::string program;
  std::string member;
  std::string issuer;
  std::string audience;
  // "" leaves kid out of the header.
  std::string kid;
  absl::Time issue_time;
  absl::Duration lifetime = absl::Hours(1);
};

// The JSON header and claims of a member token: {"alg","typ":"JWT"[,"kid"]} and
// {"iss","aud","sub","program","iat","nbf","exp"}.
std::string MemberTokenHeader(JwsAlgorithm algorithm, std::string_view kid);
std::string MemberTokenClaims(const MemberTokenSpec& spec);

// A signed member token.
absl::StatusOr<std::string> MintMemberToken(const MemberTokenSpec& spec, JwsAlgorithm algorithm,
                                            std::string_view key);

}  // namespace loyalty::gateway
