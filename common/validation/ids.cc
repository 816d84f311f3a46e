#include "common/validation/ids.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status/error.h"

namespace loyalty {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

absl::Status ValidateMemberId(std::string_view id, std::string_view field) {
  const bool valid = !id.empty() && id.size() <= kMemberIdLengthMax &&
                     std::all_of(id.begin(), id.end(),
                                 [](char c) { return (c >= 'a' && c <= 'z') || IsDigit(c); });
  if (!valid) {
    return InvalidField(field, "INVALID_MEMBER_ID",
                        absl::StrCat("must be 1-", kMemberIdLengthMax, " characters of a-z, 0-9"));
  }
  return absl::OkStatus();
}

absl::Status ValidateProgramId(std::string_view id, std::string_view field) {
  const bool valid = !id.empty() && id.size() <= kProgramIdLengthMax && id.front() >= 'a' &&
                     id.front() <= 'z' && std::all_of(id.begin(), id.end(), [](char c) {
                       return (c >= 'a' && c <= 'z') || IsDigit(c) || c == '-';
                     });
  if (!valid) {
    return InvalidField(field, "INVALID_PROGRAM_ID",
                        absl::StrCat("must be 1-", kProgramIdLengthMax,
                                     " characters of a-z, 0-9 and '-', starting with a letter"));
  }
  return absl::OkStatus();
}

absl::Status ValidateRequestId(std::string_view request_id, std::string_view field) {
  if (request_id.empty()) {
    return InvalidField(field, "REQUEST_ID_REQUIRED",
                        "every mutating call needs a request id (the Idempotency-Key)");
  }
  const bool printable = std::all_of(request_id.begin(), request_id.end(),
                                     [](char c) { return c >= 0x20 && c <= 0x7e; });
  if (request_id.size() > kRequestIdLengthMax || !printable) {
    return InvalidField(
        field, "INVALID_REQUEST_ID",
        absl::StrCat("must be 1-", kRequestIdLengthMax, " printable ASCII characters"));
  }
  return absl::OkStatus();
}

absl::Status ValidateCurrencyCode(std::string_view code, std::string_view field) {
  const bool valid = code.size() == 3 && std::all_of(code.begin(), code.end(),
                                                     [](char c) { return c >= 'A' && c <= 'Z'; });
  if (!valid) {
    return InvalidField(field, "INVALID_CURRENCY",
                        "must be an ISO 4217 code of three uppercase letters, like EUR");
  }
  return absl::OkStatus();
}

absl::Status ValidateMemberRef(std::string_view program_id, std::string_view member_id) {
  if (absl::Status status = ValidateProgramId(program_id, "program"); !status.ok()) return status;
  return ValidateMemberId(member_id, "member");
}

std::string ProgramName(std::string_view program_id) {
  return absl::StrCat("programs/", absl::string_view(program_id.data(), program_id.size()));
}

std::string MemberName(std::string_view program_id, std::string_view member_id) {
  return absl::StrCat(ProgramName(program_id), "/members/",
                      absl::string_view(member_id.data(), member_id.size()));
}

}  // namespace loyalty
