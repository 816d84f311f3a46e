#pragma once

// Checks and normalisation of request input. Every failure is INVALID_ARGUMENT built with
// InvalidField (common/status/error.h): it names `field` and carries a stable reason. Messages
// describe the rule, never the rejected value (it may be personal data).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/validation/ids.h"
#include "common/validation/text.h"

namespace loyalty::members {

inline constexpr size_t kEmailLengthMax = 254;
inline constexpr size_t kEmailLocalPartLengthMax = 64;
inline constexpr size_t kDomainLabelLengthMax = 63;
inline constexpr size_t kPhoneInputLengthMax = 32;
inline constexpr size_t kPhoneDigitsMin = 8;
inline constexpr size_t kPhoneDigitsMax = 15;
inline constexpr int kBirthYearMin = 1900;

// The e-mail address trimmed of surrounding ASCII whitespace and lowercased entirely: we treat
// addresses as case-insensitive identifiers (one member per mailbox), although RFC 5321 lets a
// server tell local parts apart by case. Accepted: at most 254 characters; exactly one '@'; a
// local part of 1..64 printable ASCII characters other than space, '"', '<', '>', '(', ')',
// '[', ']', ',', ';', ':' and '\', not starting or ending with '.' and without "..";
// a domain of at least two dot-separated labels of 1..63 characters [A-Za-z0-9-], none starting
// or ending with '-'. Fails with reason INVALID_EMAIL.
absl::StatusOr<std::string> NormalizeEmail(std::string_view email, std::string_view field);

// The phone number in E.164 form, e.g. "+491511234567". Accepted: at most 32 characters after
// trimming ASCII whitespace, a leading '+', then 8..15 digits (the first not '0') that may be
// separated by spaces, '-', '(' and ')'. Fails with reason INVALID_PHONE.
absl::StatusOr<std::string> NormalizePhone(std::string_view phone, std::string_view field);

// A name shown to people: valid UTF-8, no control characters, not empty or only spaces, and
// at most `max_chars` code points. Fails with reason FIELD_TOO_LONG when too long, else
// INVALID_DISPLAY_NAME.
absl::Status ValidateDisplayName(std::string_view name, std::string_view field, size_t max_chars);

// A calendar date as google.type.Date; year 0 means "unknown year".
struct Date {
  int year = 0;
  int month = 0;
  int day = 0;
};

// A birthday: year 0 or kBirthYearMin..the current year; month 1..12; a day that exists in that
// month (Feb 29 needs a leap year, or year 0); not in the future. "Today" is the latest date on
// Earth at `now` (UTC+14), so nobody's real birthday is refused for time-zone reasons. Fails
// with reason INVALID_BIRTHDAY.
absl::Status ValidateBirthday(const Date& date, std::string_view field, absl::Time now);

}  // namespace loyalty::members
