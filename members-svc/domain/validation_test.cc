#include "members-svc/domain/validation.h"

#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "members-svc/domain/test_util.h"

namespace loyalty::members {
namespace {

using ::loyalty::members::testing::IsInvalidField;

// --- Email ---------------------------------------------------------------------------------

TEST(NormalizeEmail, TrimsAndLowercasesTheWholeAddress) {
  EXPECT_EQ(*NormalizeEmail("  Anna.Schmidt+Loyalty@Example.COM \t\n", "profile.email"),
            "anna.schmidt+loyalty@example.com");
  EXPECT_EQ(*NormalizeEmail("a@b.co", "f"), "a@b.co");
  EXPECT_EQ(*NormalizeEmail("o'brien!#$%&*=?^_`{|}~/-@mail-1.sub.example.org", "f"),
            "o'brien!#$%&*=?^_`{|}~/-@mail-1.sub.example.org");
}

TEST(NormalizeEmail, AcceptsTheLengthLimits) {
  const std::string local(kEmailLocalPartLengthMax, 'a');
  const std::string label(kDomainLabelLengthMax, 'b');
  EXPECT_TRUE(NormalizeEmail(local + "@" + label + ".com", "f").ok());
  // 64 + 1 + 63 + 1 + 63 + 1 + 61 = 254 characters.
  const std::string longest = local + "@" + label + "." + label + "." + std::string(61, 'c');
  ASSERT_EQ(longest.size(), kEmailLengthMax);
  EXPECT_TRUE(NormalizeEmail(longest, "f").ok());
  EXPECT_TRUE(IsInvalidField(NormalizeEmail(longest + "c", "profile.email"), "profile.email",
                             "INVALID_EMAIL"));
}

TEST(NormalizeEmail, RejectsMalformedAddresses) {
  const std::vector<std::string> bad = {
      "",
      "   ",
      "plainaddress",
      "@example.com",
      "anna@",
      "anna@@example.com",
      "anna@b@example.com",
      "anna@localhost",
      "anna@example.",
      "anna@.example.com",
      "anna@example..com",
      "anna@-example.com",
      "anna@example-.com",
      "anna@exa_mple.com",
      "anna@exämple.com",
      "an na@example.com",
      "\"anna\"@example.com",
      "anna<x>@example.com",
      "anna(x)@example.com",
      "anna[x]@example.com",
      "anna,x@example.com",
      "anna;x@example.com",
      "anna:x@example.com",
      "anna\\x@example.com",
      "änna@example.com",
      "an\x01na@example.com",
      std::string("anna\0@example.com", 17),
      ".anna@example.com",
      "anna.@example.com",
      "an..na@example.com",
      std::string(kEmailLocalPartLengthMax + 1, 'a') + "@example.com",
      "anna@" + std::string(kDomainLabelLengthMax + 1, 'b') + ".com",
      std::string(100000, 'a') + "@example.com",
  };
  for (const std::string& email : bad) {
    EXPECT_TRUE(
        IsInvalidField(NormalizeEmail(email, "profile.email"), "profile.email", "INVALID_EMAIL"))
        << email.substr(0, 80);
  }
}

TEST(NormalizeEmail, MessageDoesNotEchoTheAddress) {
  const absl::StatusOr<std::string> result = NormalizeEmail("secret.person@localhost", "email");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(std::string(result.status().message()).find("secret"), std::string::npos);
}

// --- Phone ---------------------------------------------------------------------------------

TEST(NormalizePhone, ReturnsE164) {
  EXPECT_EQ(*NormalizePhone("+491511234567", "profile.phone"), "+491511234567");
  EXPECT_EQ(*NormalizePhone("+49 151 1234567", "f"), "+491511234567");
  EXPECT_EQ(*NormalizePhone(" +1 (415) 555-2671 ", "f"), "+14155552671");
  EXPECT_EQ(*NormalizePhone("+44-20-7946-0958", "f"), "+442079460958");
  EXPECT_EQ(*NormalizePhone("+12345678", "f"), "+12345678");                // 8 digits
  EXPECT_EQ(*NormalizePhone("+123456789012345", "f"), "+123456789012345");  // 15 digits
}

TEST(NormalizePhone, RejectsWhatIsNotE164) {
  const std::vector<std::string> bad = {
      "",
      "+",
      "491511234567",       // no '+'
      "0049 151 1234567",   // trunk prefix instead of '+'
      "+1234567",           // 7 digits
      "+1234567890123456",  // 16 digits
      "+0491511234567",     // country codes never start with 0
      "+49.151.1234567",
      "+49/151/1234567",
      "+49 151 1234567 ext 5",
      "++491511234567",
      "+49 151 12345６7",  // a full-width digit
      std::string("+4915112\0"
                  "34567",
                  14),
      "+49" + std::string(40, ' ') + "1511234567",
      std::string(100000, '1'),
  };
  for (const std::string& phone : bad) {
    EXPECT_TRUE(
        IsInvalidField(NormalizePhone(phone, "profile.phone"), "profile.phone", "INVALID_PHONE"))
        << phone.substr(0, 80);
  }
}

// --- Display names -------------------------------------------------------------------------

TEST(ValidateDisplayName, AcceptsNamesUpToTheLimitInCharacters) {
  EXPECT_TRUE(ValidateDisplayName("Anna Schmidt", "profile.display_name", 100).ok());
  EXPECT_TRUE(ValidateDisplayName("José Ñúñez 東京 🎁", "f", 100).ok());
  std::string hundred_two_byte;
  for (int i = 0; i < 100; ++i) hundred_two_byte += "é";
  EXPECT_TRUE(ValidateDisplayName(hundred_two_byte, "f", 100).ok());
  EXPECT_TRUE(
      IsInvalidField(ValidateDisplayName(hundred_two_byte + "é", "f", 100), "f", "FIELD_TOO_LONG"));
}

TEST(ValidateDisplayName, TooLongIsFieldTooLong) {
  EXPECT_TRUE(
      IsInvalidField(ValidateDisplayName(std::string(101, 'a'), "profile.display_name", 100),
                     "profile.display_name", "FIELD_TOO_LONG"));
  EXPECT_TRUE(IsInvalidField(ValidateDisplayName(std::string(1 << 20, 'a'), "reason", 500),
                             "reason", "FIELD_TOO_LONG"));
}

TEST(ValidateDisplayName, RejectsBadText) {
  for (const std::string& name :
       {std::string(""), std::string("   "), std::string("Anna\nSchmidt"),
        std::string("Anna\x1b[31m"), std::string("Bad\xff"), std::string("nul\0", 4)}) {
    EXPECT_TRUE(IsInvalidField(ValidateDisplayName(name, "profile.display_name", 100),
                               "profile.display_name", "INVALID_DISPLAY_NAME"))
        << name;
  }
}

// --- Birthday ------------------------------------------------------------------------------

absl::Time At(int year, int month, int day, int hour = 0) {
  return absl::FromCivil(absl::CivilSecond(year, month, day, hour, 0, 0), absl::UTCTimeZone());
}

TEST(ValidateBirthday, AcceptsRealDates) {
  const absl::Time now = At(2026, 6, 15, 12);
  EXPECT_TRUE(ValidateBirthday({1990, 7, 14}, "profile.birthday", now).ok());
  EXPECT_TRUE(ValidateBirthday({1900, 1, 1}, "f", now).ok());
  EXPECT_TRUE(ValidateBirthday({2000, 2, 29}, "f", now).ok());  // leap year
  EXPECT_TRUE(ValidateBirthday({2024, 2, 29}, "f", now).ok());
  EXPECT_TRUE(ValidateBirthday({2026, 6, 15}, "f", now).ok());  // born today
  EXPECT_TRUE(ValidateBirthday({0, 12, 31}, "f", now).ok());    // year unknown
  EXPECT_TRUE(ValidateBirthday({0, 2, 29}, "f", now).ok());     // could be a leap year
  EXPECT_TRUE(ValidateBirthday({0, 12, 24}, "f", now).ok());    // later this year is fine
}

TEST(ValidateBirthday, TodayIsTheLatestDateOnEarth) {
  // 11:00 UTC on Jun 15 is already Jun 16 in UTC+14.
  EXPECT_TRUE(ValidateBirthday({2026, 6, 16}, "f", At(2026, 6, 15, 11)).ok());
  EXPECT_TRUE(IsInvalidField(ValidateBirthday({2026, 6, 16}, "f", At(2026, 6, 15, 9)), "f",
                             "INVALID_BIRTHDAY"));
  // New Year's Day in Kiribati while it is still Dec 31 in UTC.
  EXPECT_TRUE(ValidateBirthday({2027, 1, 1}, "f", At(2026, 12, 31, 11)).ok());
}

TEST(ValidateBirthday, RejectsImpossibleOrFutureDates) {
  const absl::Time now = At(2026, 6, 15, 0);
  const std::vector<Date> bad = {
      {1899, 12, 31}, {-5, 1, 1},   {2027, 1, 1},  {2026, 6, 16}, {2026, 12, 1}, {1990, 0, 10},
      {1990, 13, 1},  {1990, 1, 0}, {1990, 1, 32}, {1990, 4, 31}, {2023, 2, 29}, {1900, 2, 29},
      {0, 2, 30},     {0, 0, 1},    {0, 6, 0},     {1990, -1, 5}, {1990, 5, -1}, {100000, 1, 1},
  };
  for (const Date& date : bad) {
    EXPECT_TRUE(IsInvalidField(ValidateBirthday(date, "profile.birthday", now), "profile.birthday",
                               "INVALID_BIRTHDAY"))
        << date.year << "-" << date.month << "-" << date.day;
  }
}

}  // namespace
}  // namespace loyalty::members
