#include "common/paging/page_token.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "common/status/error.h"
#include "gtest/gtest.h"

namespace loyalty::paging {
namespace {

constexpr std::string_view kFilters = "program=demo|status=1|tier=gold";

// Succeeds when `result` failed with INVALID_ARGUMENT, `reason` and one violation of `field`.
template <typename T>
::testing::AssertionResult FailsWith(const absl::StatusOr<T>& result, std::string_view field,
                                     std::string_view reason) {
  if (result.ok()) return ::testing::AssertionFailure() << "result is OK";
  const absl::Status& status = result.status();
  const std::vector<FieldViolation> violations = FieldViolations(status);
  if (status.code() != absl::StatusCode::kInvalidArgument ||
      ErrorReason(status) != std::string(reason) || violations.size() != 1 ||
      violations[0].field != field) {
    return ::testing::AssertionFailure()
           << "status " << status << " with reason " << ErrorReason(status).value_or("<none>");
  }
  return ::testing::AssertionSuccess();
}

std::string Raw(std::string_view token) {
  std::string raw;
  EXPECT_TRUE(absl::WebSafeBase64Unescape(absl::string_view(token.data(), token.size()), &raw));
  return raw;
}

class PageTokenTest : public ::testing::Test {
 protected:
  PageTokenCodec codec_{"0123456789abcdef-test-key"};
};

TEST_F(PageTokenTest, RoundTripsKeysHoldingAnyBytes) {
  const std::vector<PageCursor> cursors = {
      {{"2026-11-22T07:00:00.123456Z", "m_abc"}},
      {{"42"}},
      {{""}},
      {{"a|b", std::string("nul\0inside", 10), "\xff\xfe\x80", "=+/-_", ""}},
      {{std::string(256, '\0'), std::string(300, 'x')}},
      {std::vector<std::string>(kPageCursorKeysMax, "k")},
  };
  for (const PageCursor& cursor : cursors) {
    const std::string token = codec_.Encode(cursor, kFilters);
    EXPECT_LE(token.size(), kPageTokenLengthMax);
    EXPECT_EQ(
        token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        std::string::npos)
        << token;
    absl::StatusOr<PageCursor> decoded = codec_.Decode(token, kFilters, "page_token");
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, cursor);
  }
}

TEST_F(PageTokenTest, KeysAreNotConfusedAcrossBoundaries) {
  const std::string ab = codec_.Encode({{"a", "b"}}, kFilters);
  const std::string a_b = codec_.Encode({{"a|b"}}, kFilters);
  const std::string ab_joined = codec_.Encode({{"ab"}}, kFilters);
  EXPECT_NE(ab, a_b);
  EXPECT_NE(ab, ab_joined);
  EXPECT_EQ(codec_.Decode(ab, kFilters, "page_token")->keys, (std::vector<std::string>{"a", "b"}));
}

TEST_F(PageTokenTest, EncodingIsDeterministic) {
  const PageCursor cursor{{"2026-11-22T07:00:00Z", "m_1"}};
  EXPECT_EQ(codec_.Encode(cursor, kFilters), codec_.Encode(cursor, kFilters));
}

TEST_F(PageTokenTest, EveryAlteredByteIsRejected) {
  const std::string token = codec_.Encode({{"2026-11-22T07:00:00Z", "m_abc"}}, kFilters);
  const std::string raw = Raw(token);
  for (size_t i = 0; i < raw.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string tampered = raw;
      tampered[i] = static_cast<char>(tampered[i] ^ (1 << bit));
      EXPECT_TRUE(
          FailsWith(codec_.Decode(absl::WebSafeBase64Escape(tampered), kFilters, "page_token"),
                    "page_token", "INVALID_PAGE_TOKEN"))
          << "byte " << i << " bit " << bit;
    }
  }
}

TEST_F(PageTokenTest, TamperedCharacterIsRejected) {
  std::string token = codec_.Encode({{"m_abc"}}, kFilters);
  token[token.size() / 2] = token[token.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_TRUE(
      FailsWith(codec_.Decode(token, kFilters, "page_token"), "page_token", "INVALID_PAGE_TOKEN"));
}

TEST_F(PageTokenTest, ForgedCursorIsRejected) {
  // Whoever knows the layout but not the key cannot point the cursor elsewhere.
  std::string raw = Raw(codec_.Encode({{"m_aaa"}}, kFilters));
  const size_t key_at = 1 + 8 + 1 + 2;
  raw.replace(key_at, 5, "m_zzz");
  EXPECT_TRUE(FailsWith(codec_.Decode(absl::WebSafeBase64Escape(raw), kFilters, "page_token"),
                        "page_token", "INVALID_PAGE_TOKEN"));
}

TEST_F(PageTokenTest, TokenFromAnotherKeyIsRejected) {
  const PageTokenCodec other("another-secret-key-of-enough-length");
  const std::string token = other.Encode({{"m_abc"}}, kFilters);
  EXPECT_TRUE(
      FailsWith(codec_.Decode(token, kFilters, "page_token"), "page_token", "INVALID_PAGE_TOKEN"));
}

TEST_F(PageTokenTest, TokenForOtherFiltersIsAFilterMismatch) {
  const std::string token = codec_.Encode({{"m_abc"}}, kFilters);
  for (std::string_view filters :
       {std::string_view("program=demo|status=1|tier=silver"), std::string_view(""),
        std::string_view("program=demo|status=1|tier=gold "), std::string_view("program=other")}) {
    EXPECT_TRUE(FailsWith(codec_.Decode(token, filters, "page_token"), "page_token",
                          "PAGE_TOKEN_FILTER_MISMATCH"))
        << filters;
  }
}

TEST_F(PageTokenTest, OtherVersionIsRejected) {
  std::string raw = Raw(codec_.Encode({{"m_abc"}}, kFilters));
  raw[0] = 2;
  EXPECT_TRUE(FailsWith(codec_.Decode(absl::WebSafeBase64Escape(raw), kFilters, "page_token"),
                        "page_token", "INVALID_PAGE_TOKEN"));
}

TEST_F(PageTokenTest, GarbageIsRejected) {
  const std::string valid = codec_.Encode({{"m_abc"}}, kFilters);
  for (const std::string& token : {
           std::string(""),
           std::string("x"),
           std::string("not a token"),
           std::string("!!!!"),
           std::string("AAAA"),
           std::string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
           std::string(40, '/'),
           valid + "=",                        // padding is not canonical
           valid + "A",                        // trailing data
           valid.substr(0, valid.size() - 1),  // truncated
           valid.substr(0, valid.size() - 4),  // truncated on a boundary
           std::string("\0\0\0\0", 4),
       }) {
    EXPECT_TRUE(
        FailsWith(codec_.Decode(token, kFilters, "page_token"), "page_token", "INVALID_PAGE_TOKEN"))
        << token;
  }
}

TEST_F(PageTokenTest, OversizedTokenIsRejectedUnread) {
  EXPECT_TRUE(FailsWith(codec_.Decode(std::string(kPageTokenLengthMax + 1, 'A'), kFilters, "f"),
                        "f", "INVALID_PAGE_TOKEN"));
  EXPECT_TRUE(FailsWith(codec_.Decode(std::string(1 << 20, 'A'), kFilters, "page_token"),
                        "page_token", "INVALID_PAGE_TOKEN"));
}

TEST_F(PageTokenTest, CursorThatCannotFitATokenIsAProgrammerError) {
  EXPECT_DEATH(codec_.Encode({{std::string(1000, 'x')}}, kFilters), "LOYALTY_CHECK");
  EXPECT_DEATH(codec_.Encode({{}}, kFilters), "LOYALTY_CHECK");
  EXPECT_DEATH(codec_.Encode({std::vector<std::string>(kPageCursorKeysMax + 1, "k")}, kFilters),
               "LOYALTY_CHECK");
}

TEST_F(PageTokenTest, TimeIdKeysRoundTripToTheMicrosecond) {
  const TimeIdKey key{absl::FromUnixMicros(1'800'000'000'123'456), "w0123"};
  const std::string token = EncodeTimeIdToken(codec_, key, kFilters);
  absl::StatusOr<std::optional<TimeIdKey>> decoded = DecodeTimeIdToken(codec_, token, kFilters);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, key);
  EXPECT_EQ(*DecodeTimeIdToken(codec_, "", kFilters), std::nullopt);
  // A valid token of another shape is not a time and an id.
  EXPECT_TRUE(FailsWith(DecodeTimeIdToken(codec_, codec_.Encode({{"x"}}, kFilters), kFilters),
                        "page_token", "INVALID_PAGE_TOKEN"));
  EXPECT_TRUE(FailsWith(DecodeTimeIdToken(codec_, token, "program=other"), "page_token",
                        "PAGE_TOKEN_FILTER_MISMATCH"));
}

TEST(PageTokenCodec, ShortSecretIsAProgrammerError) {
  EXPECT_DEATH(PageTokenCodec("too-short"), "LOYALTY_CHECK");
}

TEST(EffectivePageSize, AppliesTheDefaultAndTheMaximum) {
  EXPECT_EQ(*EffectivePageSize(0, "page_size"), kPageSizeDefault);
  EXPECT_EQ(*EffectivePageSize(1, "page_size"), 1);
  EXPECT_EQ(*EffectivePageSize(50, "page_size"), 50);
  EXPECT_EQ(*EffectivePageSize(kPageSizeMax, "page_size"), kPageSizeMax);
  EXPECT_EQ(*EffectivePageSize(kPageSizeMax + 1, "page_size"), kPageSizeMax);
  EXPECT_EQ(*EffectivePageSize(INT32_MAX, "page_size"), kPageSizeMax);
}

TEST(EffectivePageSize, NegativeIsInvalid) {
  EXPECT_TRUE(FailsWith(EffectivePageSize(-1, "page_size"), "page_size", "INVALID_PAGE_SIZE"));
  EXPECT_TRUE(
      FailsWith(EffectivePageSize(INT32_MIN, "page_size"), "page_size", "INVALID_PAGE_SIZE"));
}

}  // namespace
}  // namespace loyalty::paging
