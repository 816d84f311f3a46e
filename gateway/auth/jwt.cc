#include "gateway/auth/jwt.h"

#include <cmath>
#include <fstream>
#include <iterator>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status/error.h"
#include "gateway/strings.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "openssl/bio.h"
#include "openssl/bn.h"
#include "openssl/core_names.h"
#include "openssl/crypto.h"
#include "openssl/ecdsa.h"
#include "openssl/evp.h"
#include "openssl/hmac.h"
#include "openssl/pem.h"

namespace loyalty::gateway {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

// Claims are ids, far shorter than this; longer ones are refused rather than carried around.
constexpr size_t kClaimBytesMax = 128;
// Seconds since the epoch that a double holds exactly (2^53), far beyond any real exp.
constexpr double kNumericDateMax = 9007199254740992.0;
constexpr size_t kEs256SignatureBytes = 64;
constexpr int kRsaBitsMin = 2048;

absl::Status Unauthenticated(std::string_view reason, std::string_view message) {
  return ErrorWithReason(absl::StatusCode::kUnauthenticated, reason, message);
}

struct PkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};

std::optional<std::string> DecodeBase64Url(std::string_view text) {
  // RFC 7515 section 2: base64url without padding. Padding or the standard alphabet would make
  // several encodings of one token valid, so neither is accepted.
  if (text.find('=') != std::string_view::npos) return std::nullopt;
  std::string out;
  if (!absl::WebSafeBase64Unescape(absl::string_view(text.data(), text.size()), &out)) {
    return std::nullopt;
  }
  return out;
}

std::optional<Struct> ParseJsonObject(std::string_view json) {
  Struct object;
  if (!google::protobuf::util::JsonStringToMessage(json, &object).ok()) {
    return std::nullopt;
  }
  return object;
}

const Value* Field(const Struct& object, const char* name) {
  const auto it = object.fields().find(name);
  return it == object.fields().end() ? nullptr : &it->second;
}

// A claim that must be a non-empty string of at most kClaimBytesMax bytes.
std::optional<std::string> StringClaim(const Struct& claims, const char* name) {
  const Value* value = Field(claims, name);
  if (value == nullptr || value->kind_case() != Value::kStringValue ||
      value->string_value().empty() || value->string_value().size() > kClaimBytesMax) {
    return std::nullopt;
  }
  return value->string_value();
}

// A NumericDate claim (RFC 7519 section 2): seconds since the epoch, possibly fractional.
// nullopt when absent; an error when present but not a sane number.
absl::StatusOr<std::optional<absl::Time>> TimeClaim(const Struct& claims, const char* name) {
  const Value* value = Field(claims, name);
  if (value == nullptr) return std::optional<absl::Time>();
  if (value->kind_case() != Value::kNumberValue || !std::isfinite(value->number_value()) ||
      std::fabs(value->number_value()) > kNumericDateMax) {
    return Unauthenticated(kReasonTokenMalformed, absl::StrCat("claim ", name, " is not a date"));
  }
  return std::optional<absl::Time>(absl::FromUnixSeconds(0) + absl::Seconds(value->number_value()));
}

bool AudienceMatches(const Value* aud, const std::string& audience) {
  if (aud == nullptr) return false;
  if (aud->kind_case() == Value::kStringValue) return aud->string_value() == audience;
  if (aud->kind_case() != Value::kListValue) return false;
  for (const Value& item : aud->list_value().values()) {
    if (item.kind_case() == Value::kStringValue && item.string_value() == audience) return true;
  }
  return false;
}

// JWS ES256 signatures are the raw 32-byte r and s (RFC 7518 section 3.4); OpenSSL verifies the
// DER ECDSA-Sig-Value. Returns "" when the conversion fails.
std::string RawEcSignatureToDer(std::string_view raw) {
  ECDSA_SIG* signature = ECDSA_SIG_new();
  if (signature == nullptr) return "";
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr);
  if (r == nullptr || s == nullptr || ECDSA_SIG_set0(signature, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(signature);
    return "";
  }
  unsigned char* der = nullptr;
  const int length = i2d_ECDSA_SIG(signature, &der);
  ECDSA_SIG_free(signature);
  if (length <= 0) return "";
  std::string out(reinterpret_cast<const char*>(der), static_cast<size_t>(length));
  OPENSSL_free(der);
  return out;
}

bool DigestVerify(EVP_PKEY* key, std::string_view data, std::string_view signature) {
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  if (context == nullptr) return false;
  const bool ok =
      EVP_DigestVerifyInit(context, nullptr, EVP_sha256(), nullptr, key) == 1 &&
      EVP_DigestVerify(context, reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                       data.size()) == 1;
  EVP_MD_CTX_free(context);
  return ok;
}

}  // namespace

std::string_view AlgorithmName(JwsAlgorithm algorithm) {
  switch (algorithm) {
    case JwsAlgorithm::kHs256:
      return "HS256";
    case JwsAlgorithm::kRs256:
      return "RS256";
    case JwsAlgorithm::kEs256:
      return "ES256";
  }
  return "";
}

std::optional<JwsAlgorithm> ParseAlgorithm(std::string_view name) {
  if (name == "HS256") return JwsAlgorithm::kHs256;
  if (name == "RS256") return JwsAlgorithm::kRs256;
  if (name == "ES256") return JwsAlgorithm::kEs256;
  return std::nullopt;
}

JwtVerifier::JwtVerifier(JwtVerifierOptions options) : options_(std::move(options)) {}
JwtVerifier::~JwtVerifier() = default;
JwtVerifier::JwtVerifier(JwtVerifier&&) noexcept = default;
JwtVerifier& JwtVerifier::operator=(JwtVerifier&&) noexcept = default;

absl::Status JwtVerifier::AddKey(std::string_view kid, Key key) {
  if (keys_.find(kid) != keys_.end()) {
    return absl::InvalidArgumentError(
        kid.empty()
            ? std::string("a key without kid is configured twice")
            : absl::StrCat("kid \"", absl::CHexEscape(std::string(kid)), "\" is configured twice"));
  }
  keys_.emplace(std::string(kid), std::move(key));
  return absl::OkStatus();
}

absl::Status JwtVerifier::AddHmacKey(std::string_view kid, std::string_view secret) {
  if (secret.size() < kHmacSecretBytesMin) {
    return absl::InvalidArgumentError(
        absl::StrCat("an HS256 secret needs at least ", kHmacSecretBytesMin, " bytes"));
  }
  return AddKey(kid, Key{JwsAlgorithm::kHs256, std::string(secret), nullptr});
}

absl::Status JwtVerifier::AddPublicKey(std::string_view kid, JwsAlgorithm algorithm,
                                       std::string_view pem) {
  if (kid.empty()) return absl::InvalidArgumentError("a public key needs a kid");
  if (algorithm == JwsAlgorithm::kHs256) {
    return absl::InvalidArgumentError("HS256 takes a secret, not a public key");
  }
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return absl::ResourceExhaustedError("BIO_new_mem_buf failed");
  std::shared_ptr<EVP_PKEY> key(PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr), PkeyDeleter());
  BIO_free(bio);
  const std::string which = absl::StrCat("key \"", absl::CHexEscape(std::string(kid)), "\"");
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(which, " is not a PEM public key (-----BEGIN PUBLIC KEY-----)"));
  }
  if (algorithm == JwsAlgorithm::kRs256) {
    if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) {
      return absl::InvalidArgumentError(absl::StrCat(which, " is RS256 but not an RSA key"));
    }
    if (EVP_PKEY_get_bits(key.get()) < kRsaBitsMin) {
      return absl::InvalidArgumentError(
          absl::StrCat(which, " has fewer than ", kRsaBitsMin, " bits"));
    }
  } else {
    char group[64] = {};
    size_t group_length = 0;
    if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_EC ||
        EVP_PKEY_get_group_name(key.get(), group, sizeof(group), &group_length) != 1 ||
        std::string_view(group, group_length) != "prime256v1") {
      return absl::InvalidArgumentError(absl::StrCat(which, " is ES256 but not an EC P-256 key"));
    }
  }
  return AddKey(kid, Key{algorithm, "", std::move(key)});
}

absl::Status JwtVerifier::LoadPublicKeyFile(const std::string& path) {
  std::ifstream file(path);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot read JWT key file ", path));
  std::string text;
  text.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  if (text.size() > kKeyFileBytesMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("JWT key file ", path, " is larger than ", kKeyFileBytesMax, " bytes"));
  }
  const size_t slash = path.rfind('/');
  const std::string directory = slash == std::string::npos ? "." : path.substr(0, slash);
  int line_number = 0;
  size_t keys = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = line.substr(0, std::min(line.find('#'), line.size()));
    const std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (fields.empty()) continue;
    auto bad = [&](absl::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat("JWT key file ", path, " line ", line_number, ": ", what));
    };
    if (fields.size() != 3) return bad("expected <kid> <RS256|ES256> <pem-path>");
    const std::optional<JwsAlgorithm> algorithm = ParseAlgorithm(Std(fields[1]));
    if (!algorithm.has_value() || *algorithm == JwsAlgorithm::kHs256) {
      return bad("the algorithm must be RS256 or ES256");
    }
    if (++keys > kPublicKeysMax) return bad(absl::StrCat("more than ", kPublicKeysMax, " keys"));
    const std::string pem_path =
        fields[2].front() == '/' ? std::string(fields[2]) : absl::StrCat(directory, "/", fields[2]);
    std::ifstream pem_file(pem_path);
    if (!pem_file) return bad(absl::StrCat("cannot read ", pem_path));
    std::string pem;
    pem.assign(std::istreambuf_iterator<char>(pem_file), std::istreambuf_iterator<char>());
    if (pem.size() > kKeyFileBytesMax) return bad(absl::StrCat(pem_path, " is too large"));
    if (absl::Status status = AddPublicKey(Std(fields[0]), *algorithm, pem); !status.ok()) {
      return bad(status.message());
    }
  }
  return absl::OkStatus();
}

bool JwtVerifier::VerifySignature(const Key& key, std::string_view signing_input,
                                  std::string_view signature) const {
  switch (key.algorithm) {
    case JwsAlgorithm::kHs256: {
      unsigned char mac[EVP_MAX_MD_SIZE];
      unsigned int mac_length = 0;
      if (HMAC(EVP_sha256(), key.secret.data(), static_cast<int>(key.secret.size()),
               reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(),
               mac, &mac_length) == nullptr) {
        return false;
      }
      return signature.size() == mac_length &&
             CRYPTO_memcmp(mac, signature.data(), mac_length) == 0;
    }
    case JwsAlgorithm::kRs256:
      return DigestVerify(key.public_key.get(), signing_input, signature);
    case JwsAlgorithm::kEs256: {
      if (signature.size() != kEs256SignatureBytes) return false;
      const std::string der = RawEcSignatureToDer(signature);
      return !der.empty() && DigestVerify(key.public_key.get(), signing_input, der);
    }
  }
  return false;
}

absl::StatusOr<MemberToken> JwtVerifier::Verify(std::string_view token, absl::Time now) const {
  if (token.empty() || token.size() > kTokenBytesMax) {
    return Unauthenticated(kReasonTokenMalformed, "token empty or too long");
  }
  const std::vector<absl::string_view> split = absl::StrSplit(Absl(token), '.');
  std::vector<std::string_view> parts;
  for (absl::string_view part : split) parts.push_back(Std(part));
  if (parts.size() != 3 || parts[0].empty() || parts[1].empty() || parts[2].empty()) {
    return Unauthenticated(kReasonTokenMalformed, "not a JWS compact serialization");
  }
  const std::optional<std::string> header_json = DecodeBase64Url(parts[0]);
  const std::optional<std::string> payload_json = DecodeBase64Url(parts[1]);
  const std::optional<std::string> signature = DecodeBase64Url(parts[2]);
  if (!header_json || !payload_json || !signature) {
    return Unauthenticated(kReasonTokenMalformed, "bad base64url");
  }
  const std::optional<Struct> header = ParseJsonObject(*header_json);
  if (!header.has_value()) return Unauthenticated(kReasonTokenMalformed, "header is not JSON");

  const Value* alg = Field(*header, "alg");
  if (alg == nullptr || alg->kind_case() != Value::kStringValue) {
    return Unauthenticated(kReasonTokenMalformed, "header has no alg");
  }
  if (Field(*header, "crit") != nullptr) {
    return Unauthenticated(kReasonTokenMalformed, "critical header extensions are not supported");
  }
  if (const Value* typ = Field(*header, "typ"); typ != nullptr) {
    const bool jwt = typ->kind_case() == Value::kStringValue &&
                     (absl::EqualsIgnoreCase(typ->string_value(), "JWT") ||
                      absl::EqualsIgnoreCase(typ->string_value(), "at+jwt"));
    if (!jwt) return Unauthenticated(kReasonTokenMalformed, "typ is not JWT");
  }
  std::string kid;
  if (const Value* kid_value = Field(*header, "kid"); kid_value != nullptr) {
    if (kid_value->kind_case() != Value::kStringValue || kid_value->string_value().empty()) {
      return Unauthenticated(kReasonTokenMalformed, "kid is not a string");
    }
    kid = kid_value->string_value();
  }
  // The token's alg is only compared with the key's pinned algorithm, never used to choose how
  // to verify: "none", or HS256 against an RSA key, fail right here.
  const std::optional<JwsAlgorithm> algorithm = ParseAlgorithm(alg->string_value());
  if (!algorithm.has_value()) {
    return Unauthenticated(kReasonTokenAlgorithmRejected, "algorithm not accepted");
  }
  const auto key = keys_.find(kid);
  if (key == keys_.end()) return Unauthenticated(kReasonTokenUnknownKey, "unknown key");
  if (key->second.algorithm != *algorithm) {
    return Unauthenticated(kReasonTokenAlgorithmRejected, "algorithm does not match the key");
  }
  const std::string_view signing_input = token.substr(0, parts[0].size() + 1 + parts[1].size());
  if (!VerifySignature(key->second, signing_input, *signature)) {
    return Unauthenticated(kReasonTokenBadSignature, "bad signature");
  }

  // Only now, with the signature checked, are the claims worth reading.
  const std::optional<Struct> claims = ParseJsonObject(*payload_json);
  if (!claims.has_value()) return Unauthenticated(kReasonTokenMalformed, "payload is not JSON");
  absl::StatusOr<std::optional<absl::Time>> exp = TimeClaim(*claims, "exp");
  if (!exp.ok()) return exp.status();
  if (!exp->has_value()) return Unauthenticated(kReasonTokenClaimMissing, "no exp claim");
  if (now > **exp + options_.leeway) return Unauthenticated(kReasonTokenExpired, "token expired");
  absl::StatusOr<std::optional<absl::Time>> nbf = TimeClaim(*claims, "nbf");
  if (!nbf.ok()) return nbf.status();
  if (nbf->has_value() && now + options_.leeway < **nbf) {
    return Unauthenticated(kReasonTokenNotYetValid, "token not yet valid");
  }
  if (!options_.issuer.empty()) {
    const std::optional<std::string> iss = StringClaim(*claims, "iss");
    if (iss != options_.issuer) return Unauthenticated(kReasonTokenWrongIssuer, "wrong issuer");
  }
  if (!options_.audience.empty() && !AudienceMatches(Field(*claims, "aud"), options_.audience)) {
    return Unauthenticated(kReasonTokenWrongAudience, "wrong audience");
  }
  std::optional<std::string> sub = StringClaim(*claims, "sub");
  std::optional<std::string> program = StringClaim(*claims, "program");
  if (!sub.has_value() || !program.has_value()) {
    return Unauthenticated(kReasonTokenClaimMissing, "sub and program claims are required");
  }
  return MemberToken{*std::move(program), *std::move(sub), **exp};
}

}  // namespace loyalty::gateway
