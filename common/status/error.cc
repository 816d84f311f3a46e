#include "common/status/error.h"

#include <cstdint>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "common/check.h"
#include "google/rpc/error_details.pb.h"

namespace loyalty {
namespace {

// AIP-193: reason is UPPER_SNAKE, at most 63 characters.
bool IsValidReason(std::string_view reason) {
  if (reason.size() < 2 || reason.size() > 63) return false;
  if (reason.front() < 'A' || reason.front() > 'Z') return false;
  if (reason.back() == '_') return false;
  for (char c : reason) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

// `text` with every byte that is not part of well-formed UTF-8 replaced by U+FFFD. Details are
// proto `string` fields, which must hold UTF-8, and request data (a field name from a query
// string, say) can reach them.
std::string ValidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    size_t length = 0;
    uint32_t code_point = 0;
    if (lead < 0x80) {
      length = 1;
      code_point = lead;
    } else if ((lead & 0xe0) == 0xc0) {
      length = 2;
      code_point = lead & 0x1f;
    } else if ((lead & 0xf0) == 0xe0) {
      length = 3;
      code_point = lead & 0x0f;
    } else if ((lead & 0xf8) == 0xf0) {
      length = 4;
      code_point = lead & 0x07;
    }
    bool valid = length > 0 && i + length <= text.size();
    for (size_t k = 1; valid && k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      valid = (next & 0xc0) == 0x80;
      code_point = (code_point << 6) | (next & 0x3f);
    }
    static constexpr uint32_t kShortest[] = {0, 0, 0x80, 0x800, 0x10000};
    valid = valid && code_point >= kShortest[length] && code_point <= 0x10ffff &&
            !(code_point >= 0xd800 && code_point <= 0xdfff);
    if (valid) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out.append("\xef\xbf\xbd");
      ++i;
    }
  }
  return out;
}

void AttachErrorInfo(absl::Status& status, std::string_view reason, const ErrorMetadata& metadata) {
  LOYALTY_CHECK(IsValidReason(reason));
  google::rpc::ErrorInfo info;
  info.set_reason(std::string(reason));
  for (const auto& [key, value] : metadata) {
    (*info.mutable_metadata())[ValidUtf8(key)] = ValidUtf8(value);
  }
  status.SetPayload(absl::string_view(kErrorInfoTypeUrl.data(), kErrorInfoTypeUrl.size()),
                    absl::Cord(info.SerializeAsString()));
}

template <typename Message>
bool ReadPayload(const absl::Status& status, std::string_view type_url, Message& message) {
  absl::optional<absl::Cord> payload =
      status.GetPayload(absl::string_view(type_url.data(), type_url.size()));
  return payload.has_value() && message.ParseFromString(std::string(*payload));
}

}  // namespace

absl::Status ErrorWithReason(absl::StatusCode code, std::string_view reason,
                             std::string_view message, const ErrorMetadata& metadata) {
  LOYALTY_CHECK(code != absl::StatusCode::kOk);
  absl::Status status(code, absl::string_view(message.data(), message.size()));
  AttachErrorInfo(status, reason, metadata);
  return status;
}

absl::Status InvalidField(std::string_view field, std::string_view reason,
                          std::string_view description) {
  return InvalidFields(reason, {FieldViolation{std::string(field), std::string(description)}});
}

absl::Status InvalidFields(std::string_view reason, const std::vector<FieldViolation>& violations) {
  LOYALTY_CHECK(!violations.empty());
  google::rpc::BadRequest bad_request;
  std::string message;
  for (const FieldViolation& violation : violations) {
    google::rpc::BadRequest::FieldViolation* out = bad_request.add_field_violations();
    out->set_field(ValidUtf8(violation.field));
    out->set_description(ValidUtf8(violation.description));
    absl::StrAppend(&message, message.empty() ? "" : "; ", violation.field, ": ",
                    violation.description);
  }
  absl::Status status(absl::StatusCode::kInvalidArgument, ValidUtf8(message));
  AttachErrorInfo(status, reason, {{"field", violations.front().field}});
  status.SetPayload(absl::string_view(kBadRequestTypeUrl.data(), kBadRequestTypeUrl.size()),
                    absl::Cord(bad_request.SerializeAsString()));
  return status;
}

std::optional<std::string> ErrorReason(const absl::Status& status) {
  google::rpc::ErrorInfo info;
  if (!ReadPayload(status, kErrorInfoTypeUrl, info)) return std::nullopt;
  return info.reason();
}

ErrorMetadata ErrorMetadataOf(const absl::Status& status) {
  google::rpc::ErrorInfo info;
  ErrorMetadata metadata;
  if (!ReadPayload(status, kErrorInfoTypeUrl, info)) return metadata;
  for (const auto& [key, value] : info.metadata()) metadata[key] = value;
  return metadata;
}

std::vector<FieldViolation> FieldViolations(const absl::Status& status) {
  google::rpc::BadRequest bad_request;
  std::vector<FieldViolation> violations;
  if (!ReadPayload(status, kBadRequestTypeUrl, bad_request)) return violations;
  for (const auto& violation : bad_request.field_violations()) {
    violations.push_back({violation.field(), violation.description()});
  }
  return violations;
}

std::string StatusSummary(const absl::Status& status) {
  if (status.ok()) return "OK";
  std::optional<std::string> reason = ErrorReason(status);
  return absl::StrCat(absl::StatusCodeToString(status.code()), reason ? " " : "",
                      reason.value_or(""), ": ", status.message());
}

}  // namespace loyalty
