#pragma once

// Member tokens: JWS compact serialisation (RFC 7515) of a JWT (RFC 7519), verified with OpenSSL
// directly, following the JWT best current practice (RFC 8725):
//
//   - the algorithm comes from OUR key, never from the token: each key is pinned to one of HS256,
//     RS256 or ES256, and a token whose header names another algorithm is refused. This stops
//     `alg: none` and the classic confusion of verifying an HS256 token with an RSA public key's
//     bytes as the HMAC secret;
//   - the header's `kid` only selects among configured keys; `jku`, `x5u` and friends are never
//     fetched, and a `crit` header (an extension we would have to understand) is refused;
//   - `exp` is required, `nbf` honoured, both with a leeway (60 s) for clock skew; `iss` and `aud`
//     must match the configuration;
//   - the claims the gateway uses: `sub` is the member id, `program` the program id.
//
// Headers and payloads are parsed as google.protobuf.Struct with protobuf's JSON parser, which
// rejects duplicate keys: a token cannot carry two `sub` claims for two parsers to disagree on.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

struct evp_pkey_st;

namespace loyalty::gateway {

enum class JwsAlgorithm { kHs256, kRs256, kEs256 };

// "HS256", "RS256", "ES256".
std::string_view AlgorithmName(JwsAlgorithm algorithm);
// The inverse (exact spelling); nullopt for anything else, "none" included.
std::optional<JwsAlgorithm> ParseAlgorithm(std::string_view name);

// ErrorInfo reasons of Verify's UNAUTHENTICATED errors. They go to the log; callers see a 401
// that tells only an expired token apart, so a client knows to refresh.
inline constexpr std::string_view kReasonTokenMalformed = "TOKEN_MALFORMED";
inline constexpr std::string_view kReasonTokenAlgorithmRejected = "TOKEN_ALGORITHM_REJECTED";
inline constexpr std::string_view kReasonTokenUnknownKey = "TOKEN_UNKNOWN_KEY";
inline constexpr std::string_view kReasonTokenBadSignature = "TOKEN_BAD_SIGNATURE";
inline constexpr std::string_view kReasonTokenExpired = "TOKEN_EXPIRED";
inline constexpr std::string_view kReasonTokenNotYetValid = "TOKEN_NOT_YET_VALID";
inline constexpr std::string_view kReasonTokenWrongIssuer = "TOKEN_WRONG_ISSUER";
inline constexpr std::string_view kReasonTokenWrongAudience = "TOKEN_WRONG_AUDIENCE";
inline constexpr std::string_view kReasonTokenClaimMissing = "TOKEN_CLAIM_MISSING";

// Tokens longer than this are refused before any decoding.
inline constexpr size_t kTokenBytesMax = 8192;
// RFC 7518 section 3.2: an HS256 key at least as long as the hash output.
inline constexpr size_t kHmacSecretBytesMin = 32;
// Key file lines and keys in it.
inline constexpr size_t kPublicKeysMax = 64;
inline constexpr size_t kKeyFileBytesMax = 64 * 1024;

struct JwtVerifierOptions {
  // Required `iss` and a value `aud` must hold (a string equal to it or an array containing it).
  std::string issuer;
  std::string audience;
  absl::Duration leeway = absl::Seconds(60);
};

struct MemberToken {
  std::string program;
  std::string member;
  absl::Time expire_time;
};

class JwtVerifier {
 public:
  explicit JwtVerifier(JwtVerifierOptions options);
  ~JwtVerifier();
  JwtVerifier(JwtVerifier&&) noexcept;
  JwtVerifier& operator=(JwtVerifier&&) noexcept;

  // Adds an HS256 secret under `kid`; the empty kid is the key for tokens whose header has no
  // kid. INVALID_ARGUMENT for a secret shorter than kHmacSecretBytesMin or a kid already taken.
  absl::Status AddHmacKey(std::string_view kid, std::string_view secret);

  // Adds a public key (PEM SubjectPublicKeyInfo, "-----BEGIN PUBLIC KEY-----") under a non-empty
  // `kid`, pinned to `algorithm`: RS256 takes an RSA key of at least 2048 bits, ES256 an EC key
  // on P-256. INVALID_ARGUMENT otherwise, or for HS256, or a kid already taken.
  absl::Status AddPublicKey(std::string_view kid, JwsAlgorithm algorithm, std::string_view pem);

  // Adds the keys listed in the file at `path`, one per line as "<kid> <RS256|ES256>
  // <pem-path>" separated by spaces or tabs; '#' starts a comment; relative PEM paths are taken
  // from the key file's directory. INVALID_ARGUMENT naming the line for a malformed line or key,
  // NOT_FOUND for a file that cannot be read.
  absl::Status LoadPublicKeyFile(const std::string& path);

  bool has_keys() const { return !keys_.empty(); }

  // The member and program of a valid `token` at time `now`; UNAUTHENTICATED with one of the
  // reasons above otherwise. Never logs, and no error message repeats the token.
  absl::StatusOr<MemberToken> Verify(std::string_view token, absl::Time now) const;

 private:
  struct Key {
    JwsAlgorithm algorithm;
    std::string secret;                       // HS256
    std::shared_ptr<evp_pkey_st> public_key;  // RS256, ES256
  };
  absl::Status AddKey(std::string_view kid, Key key);
  bool VerifySignature(const Key& key, std::string_view signing_input,
                       std::string_view signature) const;

  JwtVerifierOptions options_;
  std::map<std::string, Key, std::less<>> keys_;
};

}  // namespace loyalty::gateway
