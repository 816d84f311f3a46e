#include "common/paging/page_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/status/error.h"

namespace loyalty::paging {
namespace {

constexpr uint8_t kVersion = 1;
constexpr size_t kFingerprintLength = 8;
constexpr size_t kMacLength = 16;
constexpr size_t kHeaderLength = 1 + kFingerprintLength + 1;  // version, fingerprint, key count
constexpr size_t kKeyLengthMax = 0xffff;
// Separates the fingerprint's HMAC input from the token's, which starts with the version byte.
constexpr std::string_view kFingerprintContext =
    std::string_view("loyalty.page_token.filter\0", 26);

using Digest = std::array<uint8_t, 32>;

Digest HmacSha256(std::string_view key, std::string_view data) {
  Digest digest{};
  unsigned int length = 0;
  const unsigned char* result = HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                                     reinterpret_cast<const unsigned char*>(data.data()),
                                     data.size(), digest.data(), &length);
  // Only an allocation failure inside OpenSSL can make HMAC-SHA256 fail.
  LOYALTY_CHECK(result != nullptr && length == digest.size());
  return digest;
}

std::string Fingerprint(std::string_view key, std::string_view filter_source) {
  const Digest digest = HmacSha256(
      key, absl::StrCat(absl::string_view(kFingerprintContext.data(), kFingerprintContext.size()),
                        absl::string_view(filter_source.data(), filter_source.size())));
  return std::string(reinterpret_cast<const char*>(digest.data()), kFingerprintLength);
}

std::string Mac(std::string_view key, std::string_view body) {
  const Digest digest = HmacSha256(key, body);
  return std::string(reinterpret_cast<const char*>(digest.data()), kMacLength);
}

absl::Status InvalidToken(std::string_view field, std::string_view why) {
  return InvalidField(field, "INVALID_PAGE_TOKEN", why);
}

}  // namespace

PageTokenCodec::PageTokenCodec(std::string secret_key) : secret_key_(std::move(secret_key)) {
  LOYALTY_CHECK(secret_key_.size() >= kPageTokenSecretLengthMin);
}

std::string PageTokenCodec::Encode(const PageCursor& cursor,
                                   std::string_view filter_fingerprint_source) const {
  LOYALTY_CHECK(!cursor.keys.empty() && cursor.keys.size() <= kPageCursorKeysMax);
  std::string body;
  body.push_back(static_cast<char>(kVersion));
  body += Fingerprint(secret_key_, filter_fingerprint_source);
  body.push_back(static_cast<char>(cursor.keys.size()));
  for (const std::string& key : cursor.keys) {
    LOYALTY_CHECK(key.size() <= kKeyLengthMax);
    body.push_back(static_cast<char>(key.size() >> 8));
    body.push_back(static_cast<char>(key.size() & 0xff));
    body += key;
  }
  body += Mac(secret_key_, body);
  std::string token = absl::WebSafeBase64Escape(body);
  LOYALTY_CHECK(token.size() <= kPageTokenLengthMax);
  return token;
}

absl::StatusOr<PageCursor> PageTokenCodec::Decode(std::string_view token,
                                                  std::string_view filter_fingerprint_source,
                                                  std::string_view field) const {
  if (token.empty()) return InvalidToken(field, "empty page token");
  if (token.size() > kPageTokenLengthMax) {
    return InvalidToken(
        field, absl::StrCat("page token longer than ", kPageTokenLengthMax, " characters"));
  }
  const absl::string_view encoded(token.data(), token.size());
  std::string raw;
  // Only the canonical encoding is accepted, so each cursor has exactly one token.
  if (!absl::WebSafeBase64Unescape(encoded, &raw) || absl::WebSafeBase64Escape(raw) != encoded) {
    return InvalidToken(field, "page token is not base64url");
  }
  if (raw.size() < kHeaderLength + kMacLength) return InvalidToken(field, "page token too short");
  if (static_cast<uint8_t>(raw[0]) != kVersion) {
    return InvalidToken(field, "page token of an unknown version");
  }
  const std::string_view body = std::string_view(raw).substr(0, raw.size() - kMacLength);
  const std::string expected_mac = Mac(secret_key_, body);
  if (CRYPTO_memcmp(expected_mac.data(), raw.data() + body.size(), kMacLength) != 0) {
    return InvalidToken(field, "page token was not issued by this service or was altered");
  }
  // Authentic from here on: what follows can only fail if the token was issued for other
  // filters, or by a build that encoded differently.
  if (body.substr(1, kFingerprintLength) != Fingerprint(secret_key_, filter_fingerprint_source)) {
    return InvalidField(field, "PAGE_TOKEN_FILTER_MISMATCH",
                        "page token was issued for a request with other filters or ordering");
  }
  const size_t key_count = static_cast<uint8_t>(body[1 + kFingerprintLength]);
  if (key_count == 0 || key_count > kPageCursorKeysMax) {
    return InvalidToken(field, "page token has a bad key count");
  }
  PageCursor cursor;
  cursor.keys.reserve(key_count);
  std::string_view rest = body.substr(kHeaderLength);
  for (size_t i = 0; i < key_count; ++i) {
    if (rest.size() < 2) return InvalidToken(field, "page token truncated");
    const size_t length =
        (static_cast<size_t>(static_cast<uint8_t>(rest[0])) << 8) | static_cast<uint8_t>(rest[1]);
    rest.remove_prefix(2);
    if (rest.size() < length) return InvalidToken(field, "page token truncated");
    cursor.keys.emplace_back(rest.substr(0, length));
    rest.remove_prefix(length);
  }
  if (!rest.empty()) return InvalidToken(field, "page token has trailing bytes");
  return cursor;
}

absl::StatusOr<int32_t> EffectivePageSize(int32_t requested, std::string_view field) {
  if (requested < 0) {
    return InvalidField(field, "INVALID_PAGE_SIZE", "page size must not be negative");
  }
  if (requested == 0) return kPageSizeDefault;
  return std::min(requested, kPageSizeMax);
}

std::string EncodeTimeIdToken(const PageTokenCodec& codec, const TimeIdKey& key,
                              std::string_view filter_fingerprint_source) {
  return codec.Encode(PageCursor{{std::to_string(absl::ToUnixMicros(key.first)), key.second}},
                      filter_fingerprint_source);
}

absl::StatusOr<std::optional<TimeIdKey>> DecodeTimeIdToken(
    const PageTokenCodec& codec, std::string_view token,
    std::string_view filter_fingerprint_source) {
  if (token.empty()) return std::nullopt;
  absl::StatusOr<PageCursor> cursor = codec.Decode(token, filter_fingerprint_source, "page_token");
  if (!cursor.ok()) return cursor.status();
  int64_t micros = 0;
  if (cursor->keys.size() != 2 || !absl::SimpleAtoi(cursor->keys[0], &micros)) {
    return InvalidField("page_token", "INVALID_PAGE_TOKEN", "malformed page token");
  }
  return TimeIdKey(absl::FromUnixMicros(micros), cursor->keys[1]);
}

}  // namespace loyalty::paging
