#include "common/json/json_print.h"

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"

namespace loyalty::json {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// The answer size most messages fit in, so that printing rarely grows the string.
constexpr size_t kJsonBytesReserve = 512;
// Timestamps protobuf prints as four-digit years (0001-01-01 to 9999-12-31); the fast path keeps
// to 1000-9999, where no zero padding of the year is needed.
constexpr int64_t kTimestampSecondsMin = -30610224000;  // 1000-01-01T00:00:00Z
constexpr int64_t kTimestampSecondsMax = 253402300799;  // 9999-12-31T23:59:59Z
constexpr int32_t kNanosMax = 999'999'999;
constexpr int64_t kSecondsPerDay = 86'400;

// Characters protobuf's JSON escaping leaves alone for certain: printable ASCII without the
// quote, backslash and the characters it escapes for HTML safety (< > & ' =). A string with any
// other byte takes protobuf's printer.
bool IsPlainJsonChar(unsigned char c) {
  if (c < 0x20 || c >= 0x7f) return false;
  switch (c) {
    case '"':
    case '\\':
    case '<':
    case '>':
    case '&':
    case '\'':
    case '=':
      return false;
    default:
      return true;
  }
}

bool AppendPlainString(const std::string& value, std::string& out) {
  for (const char c : value) {
    if (!IsPlainJsonChar(static_cast<unsigned char>(c))) return false;
  }
  out.push_back('"');
  out.append(value);
  out.push_back('"');
  return true;
}

// `value` (>= 0, below 10^width) in decimal, zero-padded to `width` digits.
void AppendDigits(int64_t value, int width, std::string& out) {
  char digits[9];
  for (int i = width - 1; i >= 0; --i) {
    digits[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  out.append(digits, static_cast<size_t>(width));
}

// RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits, as protobuf prints a Timestamp.
bool AppendTimestamp(const Message& message, std::string& out) {
  const Descriptor& descriptor = *message.GetDescriptor();
  const Reflection& reflection = *message.GetReflection();
  const int64_t seconds = reflection.GetInt64(message, descriptor.FindFieldByNumber(1));
  const int32_t nanos = reflection.GetInt32(message, descriptor.FindFieldByNumber(2));
  if (seconds < kTimestampSecondsMin || seconds > kTimestampSecondsMax || nanos < 0 ||
      nanos > kNanosMax) {
    return false;  // protobuf's printer says what is wrong with it
  }
  // Days since 1970-01-01 and the time of day, then the civil date (Howard Hinnant's
  // days_from_civil inverted): absl's time zone lookup and StrAppendFormat took 4% of the
  // gateway's CPU on the purchase route for the few Timestamps in an answer.
  const int64_t days = (seconds >= 0 ? seconds : seconds - (kSecondsPerDay - 1)) / kSecondsPerDay;
  const int64_t time_of_day = seconds - days * kSecondsPerDay;
  const int64_t shifted = days + 719'468;  // days from 0000-03-01
  const int64_t era = (shifted >= 0 ? shifted : shifted - 146'096) / 146'097;
  const int64_t day_of_era = shifted - era * 146'097;
  const int64_t year_of_era =
      (day_of_era - day_of_era / 1'460 + day_of_era / 36'524 - day_of_era / 146'096) / 365;
  const int64_t day_of_year =
      day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const int64_t month_index = (5 * day_of_year + 2) / 153;  // March is 0
  const int64_t day = day_of_year - (153 * month_index + 2) / 5 + 1;
  const int64_t month = month_index < 10 ? month_index + 3 : month_index - 9;
  const int64_t year = year_of_era + era * 400 + (month <= 2 ? 1 : 0);
  out.push_back('"');
  AppendDigits(year, 4, out);
  out.push_back('-');
  AppendDigits(month, 2, out);
  out.push_back('-');
  AppendDigits(day, 2, out);
  out.push_back('T');
  AppendDigits(time_of_day / 3600, 2, out);
  out.push_back(':');
  AppendDigits(time_of_day / 60 % 60, 2, out);
  out.push_back(':');
  AppendDigits(time_of_day % 60, 2, out);
  if (nanos % 1'000'000'000 == 0) {
    // Whole seconds: no fraction.
  } else if (nanos % 1'000'000 == 0) {
    out.push_back('.');
    AppendDigits(nanos / 1'000'000, 3, out);
  } else if (nanos % 1'000 == 0) {
    out.push_back('.');
    AppendDigits(nanos / 1'000, 6, out);
  } else {
    out.push_back('.');
    AppendDigits(nanos, 9, out);
  }
  out.append("Z\"");
  return true;
}

bool AppendMessage(const Message& message, const PrintOptions& options, std::string& out);

// One value of `field`: element `index` of a repeated field, or the singular value (index -1).
bool AppendValue(const Message& message, const FieldDescriptor& field, int index,
                 const PrintOptions& options, std::string& out) {
  const Reflection& reflection = *message.GetReflection();
  const bool repeated = index >= 0;
  switch (field.cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      absl::StrAppend(&out, repeated ? reflection.GetRepeatedInt32(message, &field, index)
                                     : reflection.GetInt32(message, &field));
      return true;
    case FieldDescriptor::CPPTYPE_UINT32:
      absl::StrAppend(&out, repeated ? reflection.GetRepeatedUInt32(message, &field, index)
                                     : reflection.GetUInt32(message, &field));
      return true;
    case FieldDescriptor::CPPTYPE_INT64:
      absl::StrAppend(&out, "\"",
                      repeated ? reflection.GetRepeatedInt64(message, &field, index)
                               : reflection.GetInt64(message, &field),
                      "\"");
      return true;
    case FieldDescriptor::CPPTYPE_UINT64:
      absl::StrAppend(&out, "\"",
                      repeated ? reflection.GetRepeatedUInt64(message, &field, index)
                               : reflection.GetUInt64(message, &field),
                      "\"");
      return true;
    case FieldDescriptor::CPPTYPE_BOOL:
      out.append((repeated ? reflection.GetRepeatedBool(message, &field, index)
                           : reflection.GetBool(message, &field))
                     ? "true"
                     : "false");
      return true;
    case FieldDescriptor::CPPTYPE_ENUM: {
      const int number = repeated ? reflection.GetRepeatedEnumValue(message, &field, index)
                                  : reflection.GetEnumValue(message, &field);
      const google::protobuf::EnumValueDescriptor* value =
          field.enum_type()->FindValueByNumber(number);
      // protobuf prints an unknown value as its number, and NullValue as null.
      if (value == nullptr || field.enum_type()->full_name() == "google.protobuf.NullValue") {
        return false;
      }
      return AppendPlainString(value->name(), out);
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      if (field.type() == FieldDescriptor::TYPE_BYTES) return false;  // base64: protobuf's
      std::string scratch;
      const std::string& value =
          repeated ? reflection.GetRepeatedStringReference(message, &field, index, &scratch)
                   : reflection.GetStringReference(message, &field, &scratch);
      return AppendPlainString(value, out);
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return AppendMessage(repeated ? reflection.GetRepeatedMessage(message, &field, index)
                                    : reflection.GetMessage(message, &field),
                           options, out);
    case FieldDescriptor::CPPTYPE_FLOAT:
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return false;  // protobuf's shortest round-trip formatting, NaN and Infinity as strings
  }
  return false;
}

// `field` of `message` as `"name":value`, a repeated field as an array.
bool AppendField(const Message& message, const FieldDescriptor& field, const PrintOptions& options,
                 bool& first, std::string& out) {
  absl::StrAppend(&out, first ? "\"" : ",\"", field.json_name(), "\":");
  first = false;
  if (field.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
      field.message_type()->full_name() == "google.protobuf.Timestamp") {
    return !field.is_repeated() &&
           AppendTimestamp(message.GetReflection()->GetMessage(message, &field), out);
  }
  if (!field.is_repeated()) return AppendValue(message, field, -1, options, out);
  out.push_back('[');
  const int size = message.GetReflection()->FieldSize(message, &field);
  for (int j = 0; j < size; ++j) {
    if (j > 0) out.push_back(',');
    if (!AppendValue(message, field, j, options, out)) return false;
  }
  out.push_back(']');
  return true;
}

bool AppendMessage(const Message& message, const PrintOptions& options, std::string& out) {
  const Descriptor& descriptor = *message.GetDescriptor();
  if (descriptor.full_name() == "google.protobuf.Timestamp") {
    return AppendTimestamp(message, out);
  }
  // The other well-known types have JSON forms of their own; proto2 has field presence.
  if (descriptor.file()->package() == "google.protobuf" ||
      descriptor.file()->syntax() != google::protobuf::FileDescriptor::SYNTAX_PROTO3) {
    return false;
  }
  const Reflection& reflection = *message.GetReflection();
  out.push_back('{');
  bool first = true;
  if (!options.print_defaults) {
    // The fields that differ from their default, in field number order, as protobuf prints them
    // from the wire. A proto3 `optional` set to its default is listed too (presence).
    std::vector<const FieldDescriptor*> fields;
    reflection.ListFields(message, &fields);
    for (const FieldDescriptor* field : fields) {
      if (field->containing_oneof() != nullptr || field->is_map()) return false;
      if (!AppendField(message, *field, options, first, out)) return false;
    }
    out.push_back('}');
    return true;
  }
  // Every field: protobuf prints Timestamp fields after all the others, in field number order:
  // its tree of default values has no place for a message printed as a string.
  absl::InlinedVector<const FieldDescriptor*, 4> timestamps;
  for (int i = 0; i < descriptor.field_count(); ++i) {
    const FieldDescriptor& field = *descriptor.field(i);
    // Oneofs (proto3 `optional` too) print only the member that is set; maps print as objects.
    if (field.containing_oneof() != nullptr || field.is_map()) return false;
    const bool is_message = field.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE;
    if (is_message && field.message_type()->full_name() == "google.protobuf.Timestamp") {
      if (field.is_repeated()) return false;
      if (reflection.HasField(message, &field)) timestamps.push_back(&field);
      continue;
    }
    if (!field.is_repeated() && is_message && !reflection.HasField(message, &field)) continue;
    if (!AppendField(message, field, options, first, out)) return false;
  }
  std::sort(
      timestamps.begin(), timestamps.end(),
      [](const FieldDescriptor* a, const FieldDescriptor* b) { return a->number() < b->number(); });
  for (const FieldDescriptor* field : timestamps) {
    if (!AppendField(message, *field, options, first, out)) return false;
  }
  out.push_back('}');
  return true;
}

}  // namespace

std::optional<std::string> PrintJsonFastPath(const google::protobuf::Message& message,
                                             PrintOptions options) {
  std::string json;
  json.reserve(kJsonBytesReserve);
  if (!AppendMessage(message, options, json)) return std::nullopt;
  return json;
}

absl::StatusOr<std::string> PrintJson(const google::protobuf::Message& message,
                                      PrintOptions options) {
  if (std::optional<std::string> json = PrintJsonFastPath(message, options)) {
    return *std::move(json);
  }
  google::protobuf::util::JsonPrintOptions protobuf_options;
  protobuf_options.always_print_primitive_fields = options.print_defaults;
  std::string json;
  if (const auto status =
          google::protobuf::util::MessageToJsonString(message, &json, protobuf_options);
      !status.ok()) {
    return absl::InternalError(absl::StrCat("cannot print ", message.GetTypeName(),
                                            " as JSON: ", status.message().ToString()));
  }
  return json;
}

}  // namespace loyalty::json
