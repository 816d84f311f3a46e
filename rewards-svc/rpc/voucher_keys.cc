#include "rewards-svc/rpc/voucher_keys.h"

#include <memory>

#include "common/check.h"
#include "openssl/evp.h"
#include "openssl/hmac.h"
#include "openssl/rand.h"

namespace loyalty::rewards {
namespace {

constexpr int kNonceBytes = 12;
constexpr int kTagBytes = 16;

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  LOYALTY_CHECK(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                     reinterpret_cast<const unsigned char*>(data.data()), data.size(), out,
                     &length) != nullptr);
  return std::string(reinterpret_cast<const char*>(out), length);
}

struct CipherDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, CipherDeleter>;

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}
unsigned char* Bytes(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }

}  // namespace

absl::StatusOr<VoucherKeys> VoucherKeys::Create(std::string_view secret) {
  if (secret.size() < kVoucherSecretLengthMin) {
    return absl::InvalidArgumentError("the voucher key must be at least 32 bytes");
  }
  return VoucherKeys(HmacSha256(secret, "loyalty voucher lookup v1"),
                     HmacSha256(secret, "loyalty voucher sealing v1"));
}

std::string VoucherKeys::LookupHash(std::string_view program_id, std::string_view code) const {
  std::string data(program_id);
  data.push_back('\0');
  data.append(code);
  return HmacSha256(lookup_key_, data);
}

std::string VoucherKeys::Seal(std::string_view code) const {
  std::string out(kNonceBytes + code.size() + kTagBytes, '\0');
  LOYALTY_CHECK(RAND_bytes(Bytes(out), kNonceBytes) == 1);
  CipherContext ctx(EVP_CIPHER_CTX_new());
  int length = 0;
  LOYALTY_CHECK(ctx != nullptr &&
                EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, Bytes(sealing_key_),
                                   Bytes(out)) == 1 &&
                EVP_EncryptUpdate(ctx.get(), Bytes(out) + kNonceBytes, &length, Bytes(code),
                                  static_cast<int>(code.size())) == 1 &&
                EVP_EncryptFinal_ex(ctx.get(), Bytes(out) + kNonceBytes + length, &length) == 1 &&
                EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes,
                                    Bytes(out) + kNonceBytes + code.size()) == 1);
  return out;
}

absl::StatusOr<std::string> VoucherKeys::Open(std::string_view sealed) const {
  if (sealed.size() < kNonceBytes + kTagBytes) {
    return absl::DataLossError("sealed voucher code is truncated");
  }
  const size_t text_size = sealed.size() - kNonceBytes - kTagBytes;
  std::string tag(sealed.substr(kNonceBytes + text_size));
  std::string code(text_size, '\0');
  CipherContext ctx(EVP_CIPHER_CTX_new());
  int length = 0;
  const bool ok =
      ctx != nullptr &&
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, Bytes(sealing_key_),
                         Bytes(sealed)) == 1 &&
      EVP_DecryptUpdate(ctx.get(), Bytes(code), &length, Bytes(sealed) + kNonceBytes,
                        static_cast<int>(text_size)) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, Bytes(tag)) == 1 &&
      EVP_DecryptFinal_ex(ctx.get(), Bytes(code) + length, &length) == 1;
  if (!ok) return absl::DataLossError("sealed voucher code does not open under this key");
  return code;
}

}  // namespace loyalty::rewards
