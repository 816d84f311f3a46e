#include "members-svc/domain/validation.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "common/status/error.h"

namespace loyalty::members {
namespace {

constexpr std::string_view kEmailReason = "INVALID_EMAIL";
constexpr std::string_view kPhoneReason = "INVALID_PHONE";
constexpr std::string_view kBirthdayReason = "INVALID_BIRTHDAY";

// The latest time zone on Earth (Line Islands) is UTC+14.
constexpr absl::Duration kLatestUtcOffset = absl::Hours(14);

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAsciiAlnum(char c) { return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

std::string_view TrimAsciiWhitespace(std::string_view s) {
  while (!s.empty() && absl::ascii_isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && absl::ascii_isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return s;
}

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = absl::ascii_tolower(static_cast<unsigned char>(c));
  return out;
}

absl::Status InvalidEmail(std::string_view field, std::string_view rule) {
  return InvalidField(field, kEmailReason, rule);
}

bool IsEmailLocalChar(char c) {
  if (c < 0x21 || c > 0x7e) return false;
  constexpr std::string_view kForbidden = "\"<>()[],;:\\@";
  return kForbidden.find(c) == std::string_view::npos;
}

absl::Status ValidateEmailLocalPart(std::string_view local, std::string_view field) {
  if (local.empty() || local.size() > kEmailLocalPartLengthMax) {
    return InvalidEmail(field, absl::StrCat("the part before '@' must be 1-",
                                            kEmailLocalPartLengthMax, " characters"));
  }
  if (!std::all_of(local.begin(), local.end(), IsEmailLocalChar)) {
    return InvalidEmail(field,
                        "the part before '@' must be printable ASCII without spaces, quotes "
                        "or <>()[],;:\\");
  }
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) {
    return InvalidEmail(field,
                        "the part before '@' must not start or end with '.' or contain '..'");
  }
  return absl::OkStatus();
}

absl::Status ValidateEmailDomain(std::string_view domain, std::string_view field) {
  int labels = 0;
  while (true) {
    const size_t dot = domain.find('.');
    const std::string_view label = domain.substr(0, dot);
    if (label.empty() || label.size() > kDomainLabelLengthMax ||
        !std::all_of(label.begin(), label.end(),
                     [](char c) { return IsAsciiAlnum(c) || c == '-'; }) ||
        label.front() == '-' || label.back() == '-') {
      return InvalidEmail(field, absl::StrCat("each domain label must be 1-", kDomainLabelLengthMax,
                                              " characters of A-Z, a-z, 0-9 and '-', not "
                                              "starting or ending with '-'"));
    }
    ++labels;
    if (dot == std::string_view::npos) break;
    domain.remove_prefix(dot + 1);
  }
  if (labels < 2) {
    return InvalidEmail(field, "the domain must have at least two labels, like example.com");
  }
  return absl::OkStatus();
}

int DaysInMonth(int year, int month) {
  return (absl::CivilDay(absl::CivilMonth(year, month) + 1) - 1).day();
}

}  // namespace

absl::StatusOr<std::string> NormalizeEmail(std::string_view email, std::string_view field) {
  const std::string_view trimmed = TrimAsciiWhitespace(email);
  if (trimmed.empty()) return InvalidEmail(field, "must not be empty");
  if (trimmed.size() > kEmailLengthMax) {
    return InvalidEmail(field, absl::StrCat("must be at most ", kEmailLengthMax, " characters"));
  }
  const size_t at = trimmed.find('@');
  if (at == std::string_view::npos || trimmed.find('@', at + 1) != std::string_view::npos) {
    return InvalidEmail(field, "must contain exactly one '@'");
  }
  if (absl::Status status = ValidateEmailLocalPart(trimmed.substr(0, at), field); !status.ok()) {
    return status;
  }
  if (absl::Status status = ValidateEmailDomain(trimmed.substr(at + 1), field); !status.ok()) {
    return status;
  }
  return AsciiLower(trimmed);
}

absl::StatusOr<std::string> NormalizePhone(std::string_view phone, std::string_view field) {
  const std::string_view trimmed = TrimAsciiWhitespace(phone);
  const std::string rule =
      absl::StrCat("must be '+' and ", kPhoneDigitsMin, "-", kPhoneDigitsMax,
                   " digits (E.164), optionally separated by spaces, '-', '(' or ')'");
  if (trimmed.size() > kPhoneInputLengthMax) {
    return InvalidField(field, kPhoneReason,
                        absl::StrCat("must be at most ", kPhoneInputLengthMax, " characters"));
  }
  if (trimmed.empty() || trimmed.front() != '+') return InvalidField(field, kPhoneReason, rule);
  std::string normalized = "+";
  for (char c : trimmed.substr(1)) {
    if (IsDigit(c)) {
      normalized.push_back(c);
    } else if (c != ' ' && c != '-' && c != '(' && c != ')') {
      return InvalidField(field, kPhoneReason, rule);
    }
  }
  const size_t digits = normalized.size() - 1;
  if (digits < kPhoneDigitsMin || digits > kPhoneDigitsMax) {
    return InvalidField(field, kPhoneReason, rule);
  }
  if (normalized[1] == '0') {
    return InvalidField(field, kPhoneReason, "a country calling code never starts with 0");
  }
  return normalized;
}

absl::Status ValidateDisplayName(std::string_view name, std::string_view field, size_t max_chars) {
  const std::string too_long = absl::StrCat("must be at most ", max_chars, " characters");
  // A code point takes at most 4 bytes: longer input is too long whatever it holds.
  if (name.size() / 4 > max_chars) return InvalidField(field, "FIELD_TOO_LONG", too_long);
  const std::optional<size_t> chars = DisplayTextChars(name);
  if (!chars.has_value()) {
    return InvalidField(field, "INVALID_DISPLAY_NAME",
                        "must be valid UTF-8 without control characters");
  }
  if (*chars > max_chars) return InvalidField(field, "FIELD_TOO_LONG", too_long);
  if (std::all_of(name.begin(), name.end(), [](char c) { return c == ' '; })) {
    return InvalidField(field, "INVALID_DISPLAY_NAME", "must not be empty or only spaces");
  }
  return absl::OkStatus();
}

absl::Status ValidateBirthday(const Date& date, std::string_view field, absl::Time now) {
  const absl::CivilDay today = absl::ToCivilDay(now + kLatestUtcOffset, absl::UTCTimeZone());
  if (date.year != 0 && (date.year < kBirthYearMin || date.year > today.year())) {
    return InvalidField(
        field, kBirthdayReason,
        absl::StrCat("year must be 0 (unknown) or ", kBirthYearMin, " to the current year"));
  }
  if (date.month < 1 || date.month > 12) {
    return InvalidField(field, kBirthdayReason, "month must be 1-12");
  }
  // Year 0 stands for any year, so Feb 29 is allowed with it: 2000 was a leap year.
  const int year_for_length = date.year == 0 ? 2000 : date.year;
  if (date.day < 1 || date.day > DaysInMonth(year_for_length, date.month)) {
    return InvalidField(field, kBirthdayReason, "day does not exist in that month");
  }
  if (date.year != 0 && absl::CivilDay(date.year, date.month, date.day) > today) {
    return InvalidField(field, kBirthdayReason, "must not be in the future");
  }
  return absl::OkStatus();
}

}  // namespace loyalty::members
