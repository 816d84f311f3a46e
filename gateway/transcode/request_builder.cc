#include "gateway/transcode/request_builder.h"

#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <system_error>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/log/log.h"
#include "common/status/error.h"
#include "gateway/http/path_template.h"
#include "gateway/strings.h"
#include "gateway/transcode/json_parse.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace loyalty::gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

absl::Status BadValue(const FieldPath& path, std::string_view description) {
  return InvalidField(FieldPathName(path), kReasonInvalidFieldValue, description);
}

template <typename T>
std::optional<T> ParseInteger(std::string_view text) {
  T value{};
  const char* const end = text.data() + text.size();
  // from_chars takes no '+' or whitespace and reports overflow: "12abc" or "1e3" are not numbers.
  const auto [ptr, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc() || ptr != end) return std::nullopt;
  return value;
}

// The well-known types whose JSON form is one string, so a query value can be fed to protobuf's
// JSON parser as that string.
bool HasJsonStringForm(const Descriptor& type) {
  const std::string& name = type.full_name();
  return name == "google.protobuf.Timestamp" || name == "google.protobuf.Duration" ||
         name == "google.protobuf.FieldMask";
}

bool IsWrapper(const Descriptor& type) {
  return type.file()->name() == "google/protobuf/wrappers.proto";
}

// The first line of a protobuf JSON error: later lines quote the input around the error.
std::string_view FirstLine(std::string_view text) {
  return text.substr(0, std::min(text.find('\n'), text.size()));
}

// Pulls the field out of protobuf 3.21's JSON error messages, which read
//   "(profile.birthday) bogus: Cannot find field."          -> profile.birthday.bogus
//   "(profile.email): invalid value 5 for type TYPE_STRING"  -> profile.email
//   "profile: Proto field is not repeating, cannot start list."  -> profile
// and returns the field ("" when the message names none) and the rest of the message.
std::pair<std::string, std::string> SplitJsonError(std::string_view message) {
  std::string location;
  if (!message.empty() && message.front() == '(') {
    const size_t close = message.find(')');
    if (close == std::string_view::npos) return {"", std::string(message)};
    location = std::string(message.substr(1, close - 1));
    message.remove_prefix(close + 1);
    if (!message.empty() && message.front() == ' ') message.remove_prefix(1);
  }
  const size_t colon = message.find(": ");
  if (colon != std::string_view::npos && message.substr(0, colon).find(' ') == std::string::npos) {
    const std::string_view name = message.substr(0, colon);
    if (!name.empty()) absl::StrAppend(&location, location.empty() ? "" : ".", Absl(name));
    message.remove_prefix(colon + 2);
  } else if (!message.empty() && message.front() == ':') {
    message.remove_prefix(1);
    if (!message.empty() && message.front() == ' ') message.remove_prefix(1);
  }
  return {location, std::string(message)};
}

// Sets a non-message leaf `field` of `message`, appending when repeated.
absl::Status SetScalar(Message& message, const FieldDescriptor& field, const FieldPath& path,
                       std::string_view text) {
  const Reflection& reflection = *message.GetReflection();
  const bool repeated = field.is_repeated();
  switch (field.cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string value;
      if (field.type() == FieldDescriptor::TYPE_BYTES) {
        // JSON carries bytes as base64; accept both alphabets, as protobuf's JSON parser does.
        if (!absl::Base64Unescape(Absl(text), &value) &&
            !absl::WebSafeBase64Unescape(Absl(text), &value)) {
          return BadValue(path, "is not base64");
        }
      } else {
        if (!IsValidUtf8(text)) return BadValue(path, "is not valid UTF-8");
        value = std::string(text);
      }
      repeated ? reflection.AddString(&message, &field, std::move(value))
               : reflection.SetString(&message, &field, std::move(value));
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT32: {
      std::optional<int32_t> value = ParseInteger<int32_t>(text);
      if (!value) return BadValue(path, "is not a 32-bit integer");
      repeated ? reflection.AddInt32(&message, &field, *value)
               : reflection.SetInt32(&message, &field, *value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      std::optional<int64_t> value = ParseInteger<int64_t>(text);
      if (!value) return BadValue(path, "is not a 64-bit integer");
      repeated ? reflection.AddInt64(&message, &field, *value)
               : reflection.SetInt64(&message, &field, *value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      std::optional<uint32_t> value = ParseInteger<uint32_t>(text);
      if (!value) return BadValue(path, "is not an unsigned 32-bit integer");
      repeated ? reflection.AddUInt32(&message, &field, *value)
               : reflection.SetUInt32(&message, &field, *value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      std::optional<uint64_t> value = ParseInteger<uint64_t>(text);
      if (!value) return BadValue(path, "is not an unsigned 64-bit integer");
      repeated ? reflection.AddUInt64(&message, &field, *value)
               : reflection.SetUInt64(&message, &field, *value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      double value = 0;
      if (!absl::SimpleAtod(absl::string_view(text.data(), text.size()), &value)) {
        return BadValue(path, "is not a number");
      }
      repeated ? reflection.AddDouble(&message, &field, value)
               : reflection.SetDouble(&message, &field, value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_FLOAT: {
      float value = 0;
      if (!absl::SimpleAtof(absl::string_view(text.data(), text.size()), &value)) {
        return BadValue(path, "is not a number");
      }
      repeated ? reflection.AddFloat(&message, &field, value)
               : reflection.SetFloat(&message, &field, value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      bool value = false;
      if (text == "true" || text == "1") {
        value = true;
      } else if (text != "false" && text != "0") {
        return BadValue(path, "is not true or false");
      }
      repeated ? reflection.AddBool(&message, &field, value)
               : reflection.SetBool(&message, &field, value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      const google::protobuf::EnumDescriptor& type = *field.enum_type();
      const google::protobuf::EnumValueDescriptor* value = type.FindValueByName(std::string(text));
      if (value == nullptr) {
        if (std::optional<int32_t> number = ParseInteger<int32_t>(text); number.has_value()) {
          value = type.FindValueByNumber(*number);
        }
      }
      if (value == nullptr) {
        return BadValue(path, absl::StrCat("is not a value of ", type.full_name()));
      }
      repeated ? reflection.AddEnum(&message, &field, value)
               : reflection.SetEnum(&message, &field, value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  return BadValue(path, "cannot be set from text");
}

// Whether `path` is `prefix` or lies inside it.
bool StartsWith(const FieldPath& path, const FieldPath& prefix) {
  if (prefix.size() > path.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (path[i] != prefix[i]) return false;
  }
  return true;
}

}  // namespace

bool IsValidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x80) {
      ++i;
      continue;
    }
    size_t length = 0;
    uint32_t code_point = 0;
    if ((byte & 0xE0) == 0xC0) {
      length = 2;
      code_point = byte & 0x1F;
    } else if ((byte & 0xF0) == 0xE0) {
      length = 3;
      code_point = byte & 0x0F;
    } else if ((byte & 0xF8) == 0xF0) {
      length = 4;
      code_point = byte & 0x07;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (next & 0x3F);
    }
    static constexpr uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code_point < kMinForLength[length] || code_point > 0x10FFFF ||
        (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      return false;
    }
    i += length;
  }
  return true;
}

absl::StatusOr<std::vector<QueryParameter>> ParseQuery(std::string_view query) {
  std::vector<QueryParameter> parameters;
  for (absl::string_view piece : absl::StrSplit(Absl(query), '&')) {
    if (piece.empty()) continue;
    if (parameters.size() == kQueryParametersMax) {
      return ErrorWithReason(absl::StatusCode::kInvalidArgument, kReasonMalformedQuery,
                             absl::StrCat("more than ", kQueryParametersMax, " query parameters"));
    }
    const size_t equals = piece.find('=');
    std::string name(piece.substr(0, equals));
    std::string value(equals == std::string_view::npos ? "" : piece.substr(equals + 1));
    for (char& c : name) c = c == '+' ? ' ' : c;
    for (char& c : value) c = c == '+' ? ' ' : c;
    std::optional<std::string> decoded_name = PercentDecode(name, /*keep_slash=*/false);
    std::optional<std::string> decoded_value = PercentDecode(value, /*keep_slash=*/false);
    if (!decoded_name.has_value() || !decoded_value.has_value()) {
      return ErrorWithReason(absl::StatusCode::kInvalidArgument, kReasonMalformedQuery,
                             "bad percent escape in the query string");
    }
    if (decoded_name->empty()) {
      return ErrorWithReason(absl::StatusCode::kInvalidArgument, kReasonMalformedQuery,
                             "a query parameter without a name");
    }
    parameters.push_back({*std::move(decoded_name), *std::move(decoded_value)});
  }
  return parameters;
}

absl::Status SetFieldFromText(Message& message, const FieldPath& path, std::string_view text) {
  Message* current = &message;
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    current = current->GetReflection()->MutableMessage(current, path[i]);
  }
  const FieldDescriptor& leaf = *path.back();
  if (leaf.cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
    return SetScalar(*current, leaf, path, text);
  }
  if (leaf.is_map()) return BadValue(path, "is a map and cannot be set from text");
  const Descriptor& type = *leaf.message_type();
  const Reflection& reflection = *current->GetReflection();
  Message* target = leaf.is_repeated() ? reflection.AddMessage(current, &leaf)
                                       : reflection.MutableMessage(current, &leaf);
  if (IsWrapper(type)) {
    FieldPath inner = path;
    inner.push_back(type.FindFieldByName("value"));
    return SetScalar(*target, *inner.back(), path, text);
  }
  if (!HasJsonStringForm(type)) {
    return BadValue(
        path, absl::StrCat("is a ", type.full_name(), " and cannot be set from a query parameter"));
  }
  const auto parsed = google::protobuf::util::JsonStringToMessage(log::JsonQuote(text), target);
  if (!parsed.ok()) {
    return BadValue(path, absl::StrCat("is not a valid ", type.full_name()));
  }
  return absl::OkStatus();
}

absl::Status ParseJsonInto(std::string_view json, Message& message, std::string_view field_prefix) {
  message.Clear();
  if (ParseJsonFastPath(json, message)) return absl::OkStatus();
  // Whatever the fast path left half-read, protobuf's parser starts over.
  message.Clear();
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &message, options);
  if (status.ok()) return absl::OkStatus();

  // protobuf reports syntax and schema errors alike; parsing into google.protobuf.Value, which
  // takes any JSON, tells them apart. This runs only on the error path.
  google::protobuf::Value any_json;
  const auto syntax = google::protobuf::util::JsonStringToMessage(json, &any_json);
  const std::string error_text = status.message().ToString();
  const std::string_view first_line = FirstLine(error_text);
  if (!syntax.ok()) {
    const std::string syntax_text = syntax.message().ToString();
    return ErrorWithReason(
        absl::StatusCode::kInvalidArgument, kReasonMalformedJson,
        absl::StrCat("the body is not valid JSON: ", Absl(FirstLine(syntax_text))));
  }
  if (first_line.find("Root element must be a message") != std::string_view::npos ||
      any_json.kind_case() != google::protobuf::Value::kStructValue) {
    return ErrorWithReason(absl::StatusCode::kInvalidArgument, kReasonMalformedJson,
                           "the body must be a JSON object");
  }
  auto [field, description] = SplitJsonError(first_line);
  if (!field_prefix.empty()) {
    field =
        field.empty() ? std::string(field_prefix) : absl::StrCat(Absl(field_prefix), ".", field);
  }
  if (field.empty()) field = "body";
  const bool unknown = first_line.find("Cannot find field") != std::string_view::npos;
  if (unknown) description = "no such field";
  return InvalidField(field, unknown ? kReasonUnknownField : kReasonInvalidFieldValue, description);
}

absl::Status BuildRequest(const RouteMatch& match, std::string_view query, std::string_view body,
                          Message& request) {
  const Route& route = *match.route;
  const Descriptor& input = *request.GetDescriptor();

  switch (route.body) {
    case BodyKind::kNone:
      if (!body.empty()) {
        return ErrorWithReason(absl::StatusCode::kInvalidArgument, kReasonUnexpectedBody,
                               absl::StrCat(route.label, " takes no request body"));
      }
      break;
    case BodyKind::kWhole:
      if (!body.empty()) {
        if (absl::Status status = ParseJsonInto(body, request, ""); !status.ok()) return status;
      }
      break;
    case BodyKind::kField:
      if (!body.empty()) {
        Message* field = request.GetReflection()->MutableMessage(&request, route.body_field);
        if (absl::Status status = ParseJsonInto(body, *field, route.body_field->name());
            !status.ok()) {
          return status;
        }
      }
      break;
  }

  if (!query.empty()) {
    absl::StatusOr<std::vector<QueryParameter>> parameters = ParseQuery(query);
    if (!parameters.ok()) return parameters.status();
    std::set<const FieldDescriptor*> singular_seen;
    for (const QueryParameter& parameter : *parameters) {
      if (route.body == BodyKind::kWhole) {
        return InvalidField(parameter.name, kReasonUnknownField,
                            "query parameters are not accepted here: the body carries every field");
      }
      absl::StatusOr<FieldPath> path = ResolveFieldPath(input, parameter.name, /*json_names=*/true);
      if (!path.ok()) {
        return InvalidField(parameter.name, kReasonUnknownField, Std(path.status().message()));
      }
      for (const FieldPath& bound : route.variable_fields) {
        if (StartsWith(*path, bound) || StartsWith(bound, *path)) {
          return InvalidField(FieldPathName(*path), kReasonUnknownField, "is set by the path");
        }
      }
      if (route.body == BodyKind::kField && path->front() == route.body_field) {
        return InvalidField(FieldPathName(*path), kReasonUnknownField, "is set by the body");
      }
      if (!path->back()->is_repeated() && !singular_seen.insert(path->back()).second) {
        return BadValue(*path, "is given more than once");
      }
      if (absl::Status status = SetFieldFromText(request, *path, parameter.value); !status.ok()) {
        return status;
      }
    }
  }

  for (size_t i = 0; i < route.variable_fields.size() && i < match.values.size(); ++i) {
    const FieldPath& path = route.variable_fields[i];
    // A path field left over from the body is replaced, never appended to.
    if (!path.back()->is_repeated()) {
      Message* parent = &request;
      for (size_t k = 0; k + 1 < path.size(); ++k) {
        parent = parent->GetReflection()->MutableMessage(parent, path[k]);
      }
      parent->GetReflection()->ClearField(parent, path.back());
    }
    if (absl::Status status = SetFieldFromText(request, path, match.values[i]); !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

}  // namespace loyalty::gateway
