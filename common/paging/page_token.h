#pragma once

// Opaque page tokens for keyset pagination (AIP-158).
//
// A token carries the sort key of the last row returned, so the next page starts right after it
// ("WHERE (time, id) > ($1, $2)"), and a fingerprint of the filters it was made for. It is
// authenticated with HMAC-SHA256: a client can neither forge a cursor nor reuse a token with other
// filters. The token is not encrypted; the keys in it must be fit for the caller to see.
//
// Layout, then base64url without padding:
//   version (1 byte, 1) | filter fingerprint (8 bytes) | key count (1 byte) |
//   per key: length (2 bytes, big-endian) and bytes | HMAC-SHA256 of all the above (first 16 bytes)
// The fingerprint is an HMAC of the filter string under the same secret, so it reveals nothing.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace loyalty::paging {

// Page size policy (AIP-158).
inline constexpr int32_t kPageSizeDefault = 50;
inline constexpr int32_t kPageSizeMax = 1000;

// Tokens longer than this are rejected unread.
inline constexpr size_t kPageTokenLengthMax = 1024;
// A cursor has at most this many keys, and all of them fit in a token of kPageTokenLengthMax.
inline constexpr size_t kPageCursorKeysMax = 16;
inline constexpr size_t kPageTokenSecretLengthMin = 16;

// The sort key of the last row of a page, most significant first, e.g.
// {"2026-11-22T07:00:00.123456Z", "m_abc"}. Keys may hold any bytes.
struct PageCursor {
  std::vector<std::string> keys;

  friend bool operator==(const PageCursor&, const PageCursor&) = default;
};

class PageTokenCodec {
 public:
  // `secret_key` is the HMAC key; at least kPageTokenSecretLengthMin bytes (checked). Every
  // replica of a service must use the same key, or tokens fail on another replica.
  explicit PageTokenCodec(std::string secret_key);

  // The token for `cursor`, bound to `filter_fingerprint_source`: a canonical rendering of the
  // request's filters and ordering, e.g. "program=demo|status=1|tier=gold". The cursor must have
  // 1..kPageCursorKeysMax keys and fit in kPageTokenLengthMax characters (checked: cursors are
  // built by the service, about 700 bytes of keys fit).
  std::string Encode(const PageCursor& cursor, std::string_view filter_fingerprint_source) const;

  // The cursor in `token`. Fails with INVALID_ARGUMENT naming `field` (e.g. "page_token") with
  // reason INVALID_PAGE_TOKEN when the token is empty, longer than kPageTokenLengthMax, not
  // canonical base64url, of another version, malformed, or not made with this key (forged or
  // altered); with reason PAGE_TOKEN_FILTER_MISMATCH when it was made for other filters.
  absl::StatusOr<PageCursor> Decode(std::string_view token,
                                    std::string_view filter_fingerprint_source,
                                    std::string_view field) const;

 private:
  std::string secret_key_;
};

// The most common keyset position: the last row's time (to the microsecond, PostgreSQL's
// precision) and id, e.g. (create_time, referral_id).
using TimeIdKey = std::pair<absl::Time, std::string>;

// The token for a TimeIdKey, bound to `filter_fingerprint_source` as in Encode.
std::string EncodeTimeIdToken(const PageTokenCodec& codec, const TimeIdKey& key,
                              std::string_view filter_fingerprint_source);

// The TimeIdKey in `token`, nullopt for an empty token (the first page). Decode's errors for
// the field "page_token", and INVALID_PAGE_TOKEN when the cursor is not a time and an id.
absl::StatusOr<std::optional<TimeIdKey>> DecodeTimeIdToken(
    const PageTokenCodec& codec, std::string_view token,
    std::string_view filter_fingerprint_source);

// The page size to use for a requested one: 0 gives kPageSizeDefault, above kPageSizeMax gives
// kPageSizeMax. Fails with INVALID_ARGUMENT, reason INVALID_PAGE_SIZE, for `field` when negative.
absl::StatusOr<int32_t> EffectivePageSize(int32_t requested, std::string_view field);

}  // namespace loyalty::paging
