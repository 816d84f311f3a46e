#include "gateway/auth/api_keys.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loyalty::gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(Sha256Hex, MatchesTheKnownDigest) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ApiKeyTable, FindsEachKeyWithItsRoleAndRefusesOthers) {
  const std::string spec = absl::StrCat(Sha256Hex("admin-key"), ":admin,",
                                        absl::AsciiStrToUpper(Sha256Hex("merchant-key")),
                                        ":merchant,", Sha256Hex("app-key"), ":app");
  absl::StatusOr<ApiKeyTable> table = ApiKeyTable::Parse(spec);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->size(), 3u);
  ASSERT_TRUE(table->Find("admin-key").has_value());
  EXPECT_EQ(table->Find("admin-key")->role, Role::kAdmin);
  EXPECT_EQ(table->Find("admin-key")->key_id, Sha256Hex("admin-key").substr(0, 12));
  EXPECT_EQ(table->Find("merchant-key")->role, Role::kMerchant);
  EXPECT_EQ(table->Find("app-key")->role, Role::kApp);
  EXPECT_FALSE(table->Find("admin-key ").has_value());
  EXPECT_FALSE(table->Find("").has_value());
  EXPECT_FALSE(table->Find(std::string(kApiKeyBytesMax + 1, 'a')).has_value());
  // The configured digest itself is not a key.
  EXPECT_FALSE(table->Find(Sha256Hex("admin-key")).has_value());
}

TEST(ApiKeyTable, EmptySpecIsNoKeys) {
  absl::StatusOr<ApiKeyTable> table = ApiKeyTable::Parse("");
  ASSERT_TRUE(table.ok());
  EXPECT_EQ(table->size(), 0u);
  EXPECT_FALSE(table->Find("anything").has_value());
}

TEST(ApiKeyTable, MalformedEntriesAreNamedByPositionNeverByValue) {
  const std::string good = absl::StrCat(Sha256Hex("k"), ":admin");
  for (const std::string& spec :
       {absl::StrCat(good, ",", Sha256Hex("x"), ":root"), absl::StrCat(good, ",abc:admin"),
        absl::StrCat(good, ",", Sha256Hex("x")), absl::StrCat(good, ",", good),
        absl::StrCat(good, ","), absl::StrCat(good, ",", std::string(64, 'g'), ":app")}) {
    absl::StatusOr<ApiKeyTable> table = ApiKeyTable::Parse(spec);
    ASSERT_FALSE(table.ok()) << spec;
    EXPECT_THAT(std::string(table.status().message()), HasSubstr("entry 2"));
    EXPECT_THAT(std::string(table.status().message()), Not(HasSubstr(Sha256Hex("x"))));
  }
}

TEST(Roles, RoundTripByName) {
  for (Role role : {Role::kAdmin, Role::kMerchant, Role::kApp}) {
    EXPECT_EQ(ParseRole(RoleName(role)), role);
  }
  EXPECT_EQ(ParseRole("Admin"), std::nullopt);
}

}  // namespace
}  // namespace loyalty::gateway
