#include "gateway/auth/jwt_sign.h"

#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/log/log.h"
#include "gateway/strings.h"
#include "openssl/bio.h"
#include "openssl/bn.h"
#include "openssl/ecdsa.h"
#include "openssl/evp.h"
#include "openssl/hmac.h"
#include "openssl/pem.h"

namespace loyalty::gateway {
namespace {

struct PkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};

absl::StatusOr<std::string> DigestSign(std::string_view pem, std::string_view data) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return absl::ResourceExhaustedError("BIO_new_mem_buf failed");
  std::unique_ptr<EVP_PKEY, PkeyDeleter> key(
      PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  if (key == nullptr) return absl::InvalidArgumentError("not a PEM private key");
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  if (context == nullptr) return absl::ResourceExhaustedError("EVP_MD_CTX_new failed");
  size_t length = 0;
  std::string signature;
  bool ok = EVP_DigestSignInit(context, nullptr, EVP_sha256(), nullptr, key.get()) == 1 &&
            EVP_DigestSign(context, nullptr, &length,
                           reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  if (ok) {
    signature.resize(length);
    ok = EVP_DigestSign(context, reinterpret_cast<unsigned char*>(signature.data()), &length,
                        reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
    signature.resize(length);
  }
  EVP_MD_CTX_free(context);
  if (!ok) return absl::InvalidArgumentError("signing failed");
  return signature;
}

// DER ECDSA-Sig-Value -> the raw 64-byte r||s of JWS ES256.
absl::StatusOr<std::string> DerToRawEcSignature(std::string_view der) {
  const unsigned char* input = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* signature = d2i_ECDSA_SIG(nullptr, &input, static_cast<long>(der.size()));
  if (signature == nullptr) return absl::InternalError("bad DER signature");
  std::string raw(64, '\0');
  const bool ok = BN_bn2binpad(ECDSA_SIG_get0_r(signature),
                               reinterpret_cast<unsigned char*>(raw.data()), 32) == 32 &&
                  BN_bn2binpad(ECDSA_SIG_get0_s(signature),
                               reinterpret_cast<unsigned char*>(raw.data()) + 32, 32) == 32;
  ECDSA_SIG_free(signature);
  if (!ok) return absl::InternalError("EC signature does not fit P-256");
  return raw;
}

}  // namespace

std::string Base64UrlEncode(std::string_view data) {
  std::string out;
  absl::WebSafeBase64Escape(absl::string_view(data.data(), data.size()), &out);
  return out;
}

absl::StatusOr<std::string> SignJws(std::string_view header_json, std::string_view payload_json,
                                    JwsAlgorithm algorithm, std::string_view key) {
  const std::string signing_input =
      absl::StrCat(Base64UrlEncode(header_json), ".", Base64UrlEncode(payload_json));
  std::string signature;
  switch (algorithm) {
    case JwsAlgorithm::kHs256: {
      unsigned char mac[EVP_MAX_MD_SIZE];
      unsigned int length = 0;
      if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
               reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(),
               mac, &length) == nullptr) {
        return absl::InternalError("HMAC failed");
      }
      signature.assign(reinterpret_cast<const char*>(mac), length);
      break;
    }
    case JwsAlgorithm::kRs256: {
      absl::StatusOr<std::string> signed_der = DigestSign(key, signing_input);
      if (!signed_der.ok()) return signed_der.status();
      signature = *std::move(signed_der);
      break;
    }
    case JwsAlgorithm::kEs256: {
      absl::StatusOr<std::string> signed_der = DigestSign(key, signing_input);
      if (!signed_der.ok()) return signed_der.status();
      absl::StatusOr<std::string> raw = DerToRawEcSignature(*signed_der);
      if (!raw.ok()) return raw.status();
      signature = *std::move(raw);
      break;
    }
  }
  return absl::StrCat(signing_input, ".", Base64UrlEncode(signature));
}

std::string MemberTokenHeader(JwsAlgorithm algorithm, std::string_view kid) {
  std::string header =
      absl::StrCat(R"({"alg":")", Absl(AlgorithmName(algorithm)), R"(","typ":"JWT")");
  if (!kid.empty()) absl::StrAppend(&header, R"(,"kid":)", log::JsonQuote(kid));
  absl::StrAppend(&header, "}");
  return header;
}

std::string MemberTokenClaims(const MemberTokenSpec& spec) {
  const int64_t iat = absl::ToUnixSeconds(spec.issue_time);
  const int64_t exp = absl::ToUnixSeconds(spec.issue_time + spec.lifetime);
  return absl::StrCat(R"({"iss":)", log::JsonQuote(spec.issuer), R"(,"aud":)",
                      log::JsonQuote(spec.audience), R"(,"sub":)", log::JsonQuote(spec.member),
                      R"(,"program":)", log::JsonQuote(spec.program), R"(,"iat":)", iat,
                      R"(,"nbf":)", iat, R"(,"exp":)", exp, "}");
}

absl::StatusOr<std::string> MintMemberToken(const MemberTokenSpec& spec, JwsAlgorithm algorithm,
                                            std::string_view key) {
  return SignJws(MemberTokenHeader(algorithm, spec.kid), MemberTokenClaims(spec), algorithm, key);
}

}  // namespace loyalty::gateway
