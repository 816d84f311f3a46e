#include "gateway/auth/jwt.h"

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/status/error.h"
#include "common/testkit/status_matchers.h"
#include "gateway/auth/jwt_sign.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "openssl/bio.h"
#include "openssl/evp.h"
#include "openssl/pem.h"
#include "openssl/rsa.h"

namespace loyalty::gateway {
namespace {

using ::loyalty::testkit::IsOk;
using ::loyalty::testkit::StatusIs;
using C = absl::StatusCode;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);
constexpr char kSecret[] = "a-test-secret-of-at-least-32-bytes!!";
constexpr char kIssuer[] = "https://id.example.com";
constexpr char kAudience[] = "loyalty-gateway";

struct KeyPair {
  std::string public_pem;
  std::string private_pem;
};

std::string BioText(BIO* bio) {
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  std::string text(data, static_cast<size_t>(length));
  BIO_free(bio);
  return text;
}

KeyPair Export(EVP_PKEY* key) {
  BIO* public_bio = BIO_new(BIO_s_mem());
  BIO* private_bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(public_bio, key);
  PEM_write_bio_PrivateKey(private_bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  EVP_PKEY_free(key);
  return {BioText(public_bio), BioText(private_bio)};
}

// Generated once per test binary: RSA key generation takes a moment.
const KeyPair& RsaKey() {
  static const KeyPair* const key = new KeyPair(Export(EVP_RSA_gen(2048)));
  return *key;
}
const KeyPair& OtherRsaKey() {
  static const KeyPair* const key = new KeyPair(Export(EVP_RSA_gen(2048)));
  return *key;
}
const KeyPair& EcKey() {
  static const KeyPair* const key = new KeyPair(Export(EVP_EC_gen("P-256")));
  return *key;
}

MemberTokenSpec Spec() {
  MemberTokenSpec spec;
  spec.program = "shop";
  spec.member = "mada";
  spec.issuer = kIssuer;
  spec.audience = kAudience;
  spec.issue_time = kNow - absl::Minutes(1);
  spec.lifetime = absl::Hours(1);
  return spec;
}

class JwtTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_THAT(verifier_.AddHmacKey("", kSecret), IsOk());
    ASSERT_THAT(verifier_.AddPublicKey("rsa-1", JwsAlgorithm::kRs256, RsaKey().public_pem), IsOk());
    ASSERT_THAT(verifier_.AddPublicKey("ec-1", JwsAlgorithm::kEs256, EcKey().public_pem), IsOk());
  }

  absl::StatusOr<MemberToken> Verify(const std::string& token, absl::Time now = kNow) {
    return verifier_.Verify(token, now);
  }

  static std::string Mint(const MemberTokenSpec& spec, JwsAlgorithm algorithm,
                          const std::string& key) {
    absl::StatusOr<std::string> token = MintMemberToken(spec, algorithm, key);
    EXPECT_TRUE(token.ok()) << token.status();
    return token.value_or("");
  }

  static std::string Claims(const std::string& extra = "") {
    return absl::StrCat(R"({"iss":")", kIssuer, R"(","aud":")", kAudience,
                        R"(","sub":"mada","program":"shop","exp":)",
                        absl::ToUnixSeconds(kNow + absl::Hours(1)), extra, "}");
  }

  JwtVerifier verifier_{{.issuer = kIssuer, .audience = kAudience}};
};

MATCHER_P(Reason, reason, "") {
  const absl::Status& status = arg.status();
  *result_listener << "status " << status;
  return status.code() == absl::StatusCode::kUnauthenticated &&
         ErrorReason(status) == std::string(reason);
}

TEST_F(JwtTest, AcceptsEachAlgorithmWithItsPinnedKey) {
  for (const auto& [algorithm, kid, key] :
       {std::tuple{JwsAlgorithm::kHs256, "", std::string(kSecret)},
        std::tuple{JwsAlgorithm::kRs256, "rsa-1", RsaKey().private_pem},
        std::tuple{JwsAlgorithm::kEs256, "ec-1", EcKey().private_pem}}) {
    MemberTokenSpec spec = Spec();
    spec.kid = kid;
    absl::StatusOr<MemberToken> token = Verify(Mint(spec, algorithm, key));
    ASSERT_THAT(token, IsOk()) << AlgorithmName(algorithm);
    EXPECT_EQ(token->member, "mada");
    EXPECT_EQ(token->program, "shop");
    EXPECT_EQ(token->expire_time, kNow - absl::Minutes(1) + absl::Hours(1));
  }
}

TEST_F(JwtTest, AudienceMayBeAnArray) {
  const std::string claims = absl::StrCat(R"({"iss":")", kIssuer, R"(","aud":["other",")",
                                          kAudience, R"("],"sub":"mada","program":"shop","exp":)",
                                          absl::ToUnixSeconds(kNow + absl::Hours(1)), "}");
  EXPECT_THAT(
      Verify(*SignJws(R"({"alg":"HS256","typ":"JWT"})", claims, JwsAlgorithm::kHs256, kSecret)),
      IsOk());
}

TEST_F(JwtTest, ExpiredBeyondTheLeewayIsRefused) {
  MemberTokenSpec spec = Spec();
  spec.issue_time = kNow - absl::Hours(2);
  spec.lifetime = absl::Hours(1);
  EXPECT_THAT(Verify(Mint(spec, JwsAlgorithm::kHs256, kSecret)), Reason(kReasonTokenExpired));
  // Within the 60 s leeway it still passes.
  spec.issue_time = kNow - absl::Hours(1) - absl::Seconds(30);
  EXPECT_THAT(Verify(Mint(spec, JwsAlgorithm::kHs256, kSecret)), IsOk());
}

TEST_F(JwtTest, NotYetValidBeyondTheLeewayIsRefused) {
  MemberTokenSpec spec = Spec();
  spec.issue_time = kNow + absl::Minutes(5);
  EXPECT_THAT(Verify(Mint(spec, JwsAlgorithm::kHs256, kSecret)), Reason(kReasonTokenNotYetValid));
  spec.issue_time = kNow + absl::Seconds(30);
  EXPECT_THAT(Verify(Mint(spec, JwsAlgorithm::kHs256, kSecret)), IsOk());
}

TEST_F(JwtTest, WrongAudienceIsRefused) {
  MemberTokenSpec spec = Spec();
  spec.audience = "another-service";
  EXPECT_THAT(Verify(Mint(spec, JwsAlgorithm::kHs256, kSecret)), Reason(kReasonTokenWrongAudience));
}

TEST_F(JwtTest, WrongIssuerIsRefused) {
  MemberTokenSpec spec = Spec();
  spec.issuer = "https://evil.example.com";
  spec.kid = "rsa-1";
  EXPECT_THAT(Verify(Mint(spec, JwsAlgorithm::kRs256, RsaKey().private_pem)),
              Reason(kReasonTokenWrongIssuer));
}

TEST_F(JwtTest, AlgNoneIsRefusedInAnySpelling) {
  for (const char* alg : {"none", "None", "NONE", ""}) {
    const std::string token =
        absl::StrCat(Base64UrlEncode(absl::StrCat(R"({"alg":")", alg, R"(","typ":"JWT"})")), ".",
                     Base64UrlEncode(Claims()), ".");
    EXPECT_THAT(Verify(token), Reason(kReasonTokenMalformed)) << alg;
    // With a signature part present, none is still not an algorithm we accept.
    EXPECT_THAT(Verify(token + "c2ln"), Reason(kReasonTokenAlgorithmRejected)) << alg;
  }
}

TEST_F(JwtTest, Hs256SignedWithTheRsaPublicKeyBytesIsRefused) {
  // The classic algorithm confusion: the public key, which is public, used as an HMAC secret.
  for (const char* kid : {"rsa-1", ""}) {
    const std::string header =
        std::string(kid).empty()
            ? R"({"alg":"HS256","typ":"JWT"})"
            : absl::StrCat(R"({"alg":"HS256","typ":"JWT","kid":")", kid, R"("})");
    absl::StatusOr<std::string> token =
        SignJws(header, Claims(), JwsAlgorithm::kHs256, RsaKey().public_pem);
    ASSERT_THAT(token, IsOk());
    EXPECT_EQ(Verify(*token).status().code(), C::kUnauthenticated) << kid;
  }
  absl::StatusOr<std::string> pinned = SignJws(R"({"alg":"HS256","kid":"rsa-1"})", Claims(),
                                               JwsAlgorithm::kHs256, RsaKey().public_pem);
  EXPECT_THAT(Verify(*pinned), Reason(kReasonTokenAlgorithmRejected));
}

TEST_F(JwtTest, TamperedPayloadIsRefused) {
  for (const auto& [algorithm, kid, key] :
       {std::tuple{JwsAlgorithm::kHs256, "", std::string(kSecret)},
        std::tuple{JwsAlgorithm::kRs256, "rsa-1", RsaKey().private_pem},
        std::tuple{JwsAlgorithm::kEs256, "ec-1", EcKey().private_pem}}) {
    MemberTokenSpec spec = Spec();
    spec.kid = kid;
    const std::string token = Mint(spec, algorithm, key);
    const size_t first = token.find('.');
    const size_t second = token.find('.', first + 1);
    MemberTokenSpec other = spec;
    other.member = "mbob";
    const std::string tampered =
        absl::StrCat(token.substr(0, first + 1), Base64UrlEncode(MemberTokenClaims(other)),
                     token.substr(second));
    EXPECT_THAT(Verify(tampered), Reason(kReasonTokenBadSignature)) << AlgorithmName(algorithm);
  }
}

TEST_F(JwtTest, UnknownKidIsRefused) {
  MemberTokenSpec spec = Spec();
  spec.kid = "rsa-2";
  EXPECT_THAT(Verify(Mint(spec, JwsAlgorithm::kRs256, OtherRsaKey().private_pem)),
              Reason(kReasonTokenUnknownKey));
}

TEST_F(JwtTest, SignatureOfAnotherKeyUnderAKnownKidIsRefused) {
  MemberTokenSpec spec = Spec();
  spec.kid = "rsa-1";
  EXPECT_THAT(Verify(Mint(spec, JwsAlgorithm::kRs256, OtherRsaKey().private_pem)),
              Reason(kReasonTokenBadSignature));
}

TEST_F(JwtTest, Es256TokenUnderTheRsaKidIsRefused) {
  MemberTokenSpec spec = Spec();
  spec.kid = "rsa-1";
  EXPECT_THAT(Verify(Mint(spec, JwsAlgorithm::kEs256, EcKey().private_pem)),
              Reason(kReasonTokenAlgorithmRejected));
}

TEST_F(JwtTest, MalformedTokensAreRefused) {
  const std::string good = Mint(Spec(), JwsAlgorithm::kHs256, kSecret);
  for (const std::string& bad :
       {std::string(""), std::string("abc"), std::string("a.b"), std::string("a.b.c.d"),
        absl::StrCat(good, "="), absl::StrReplaceAll(good, {{"-", "+"}, {"_", "/"}}) + "!",
        std::string(kTokenBytesMax + 1, 'a'),
        absl::StrCat(Base64UrlEncode("not json"), ".", Base64UrlEncode(Claims()), ".c2ln")}) {
    EXPECT_EQ(Verify(bad).status().code(), C::kUnauthenticated) << bad.substr(0, 40);
  }
}

TEST_F(JwtTest, MissingClaimsDuplicateClaimsAndCritHeadersAreRefused) {
  auto sign = [](const std::string& header, const std::string& claims) {
    return *SignJws(header, claims, JwsAlgorithm::kHs256, kSecret);
  };
  const std::string header = R"({"alg":"HS256","typ":"JWT"})";
  const int64_t exp = absl::ToUnixSeconds(kNow + absl::Hours(1));
  EXPECT_THAT(Verify(sign(header, absl::StrCat(R"({"iss":")", kIssuer, R"(","aud":")", kAudience,
                                               R"(","sub":"mada","program":"shop"})"))),
              Reason(kReasonTokenClaimMissing));
  EXPECT_THAT(Verify(sign(header, absl::StrCat(R"({"iss":")", kIssuer, R"(","aud":")", kAudience,
                                               R"(","program":"shop","exp":)", exp, "}"))),
              Reason(kReasonTokenClaimMissing));
  EXPECT_THAT(
      Verify(sign(header, absl::StrCat(R"({"iss":")", kIssuer, R"(","aud":")", kAudience,
                                       R"(","sub":"mada","program":"shop","exp":"soon"})"))),
      Reason(kReasonTokenMalformed));
  EXPECT_THAT(Verify(sign(header, Claims(R"(,"sub":"mbob")"))), Reason(kReasonTokenMalformed));
  EXPECT_THAT(Verify(sign(R"({"alg":"HS256","crit":["exp"]})", Claims())),
              Reason(kReasonTokenMalformed));
  EXPECT_THAT(Verify(sign(R"({"alg":"HS256","typ":"JWE"})", Claims())),
              Reason(kReasonTokenMalformed));
}

TEST(JwtVerifier, KeysAreValidatedWhenAdded) {
  JwtVerifier verifier({.issuer = kIssuer, .audience = kAudience});
  EXPECT_EQ(verifier.AddHmacKey("", "short").code(), C::kInvalidArgument);
  EXPECT_THAT(verifier.AddHmacKey("", kSecret), IsOk());
  EXPECT_EQ(verifier.AddHmacKey("", kSecret).code(), C::kInvalidArgument);
  EXPECT_EQ(verifier.AddPublicKey("", JwsAlgorithm::kRs256, RsaKey().public_pem).code(),
            C::kInvalidArgument);
  EXPECT_EQ(verifier.AddPublicKey("k", JwsAlgorithm::kRs256, EcKey().public_pem).code(),
            C::kInvalidArgument);
  EXPECT_EQ(verifier.AddPublicKey("k", JwsAlgorithm::kEs256, RsaKey().public_pem).code(),
            C::kInvalidArgument);
  EXPECT_EQ(verifier.AddPublicKey("k", JwsAlgorithm::kHs256, RsaKey().public_pem).code(),
            C::kInvalidArgument);
  EXPECT_EQ(verifier.AddPublicKey("k", JwsAlgorithm::kRs256, "not a pem").code(),
            C::kInvalidArgument);
  EXPECT_EQ(
      verifier.AddPublicKey("k", JwsAlgorithm::kRs256, Export(EVP_RSA_gen(1024)).public_pem).code(),
      C::kInvalidArgument);
}

TEST(JwtVerifier, LoadsAKeyFileWithRelativePemPaths) {
  char directory_template[] = "/tmp/gateway-jwt-XXXXXX";
  const std::string directory = mkdtemp(directory_template);
  std::ofstream(directory + "/rsa.pem") << RsaKey().public_pem;
  std::ofstream(directory + "/ec.pem") << EcKey().public_pem;
  std::ofstream(directory + "/keys") << "# kid alg pem\n"
                                     << "rsa-1 RS256 rsa.pem\n\n"
                                     << "ec-1\tES256\t" << directory << "/ec.pem  # absolute\n";
  JwtVerifier verifier({.issuer = kIssuer, .audience = kAudience});
  ASSERT_THAT(verifier.LoadPublicKeyFile(directory + "/keys"), IsOk());
  MemberTokenSpec spec = Spec();
  spec.kid = "ec-1";
  absl::StatusOr<std::string> token =
      MintMemberToken(spec, JwsAlgorithm::kEs256, EcKey().private_pem);
  EXPECT_THAT(verifier.Verify(*token, kNow), IsOk());

  std::ofstream(directory + "/bad") << "rsa-1 HS256 rsa.pem\n";
  JwtVerifier bad({.issuer = kIssuer, .audience = kAudience});
  const absl::Status status = bad.LoadPublicKeyFile(directory + "/bad");
  EXPECT_EQ(status.code(), C::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr("line 1"));
  EXPECT_EQ(bad.LoadPublicKeyFile(directory + "/missing").code(), C::kNotFound);
  std::remove((directory + "/rsa.pem").c_str());
  std::remove((directory + "/ec.pem").c_str());
  std::remove((directory + "/keys").c_str());
  std::remove((directory + "/bad").c_str());
  std::remove(directory.c_str());
}

}  // namespace
}  // namespace loyalty::gateway
