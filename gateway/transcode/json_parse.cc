#include "gateway/transcode/json_parse.h"

#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <system_error>

#include "google/protobuf/descriptor.h"

namespace loyalty::gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Nesting deeper than this is left to protobuf's parser (which has its own limit of 100).
constexpr int kDepthMax = 32;
// Messages with more fields than a 64-bit mask of the fields seen can track go to protobuf.
constexpr int kFieldsMax = 64;
// Decimal digits of the largest uint64 (18446744073709551615).
constexpr size_t kIntegerDigitsMax = 20;

// Whether messages of `type` are read by the fast path: proto3 messages that are not well-known
// types (those have JSON forms of their own) and fit the mask of fields seen.
bool IsPlainMessage(const Descriptor& type) {
  return type.file()->syntax() == google::protobuf::FileDescriptor::SYNTAX_PROTO3 &&
         type.file()->package() != "google.protobuf" && type.field_count() <= kFieldsMax;
}

// The field of `type` that JSON key `key` names: its lowerCamelCase JSON name or its proto name,
// which protobuf's parser both accept.
const FieldDescriptor* FindField(const Descriptor& type, std::string_view key) {
  for (int i = 0; i < type.field_count(); ++i) {
    const FieldDescriptor* field = type.field(i);
    if (key == field->json_name() || key == field->name()) return field;
  }
  return nullptr;
}

// Sets `value` into `field` of `message`, appending when the field is repeated; false when there
// is no value (the text was not one the fast path reads).
template <typename T>
bool Store(Message& message, const FieldDescriptor& field, std::optional<T> value,
           void (Reflection::*set)(Message*, const FieldDescriptor*, T) const,
           void (Reflection::*add)(Message*, const FieldDescriptor*, T) const) {
  if (!value.has_value()) return false;
  (message.GetReflection()->*(field.is_repeated() ? add : set))(&message, &field, *value);
  return true;
}

class Parser {
 public:
  explicit Parser(std::string_view json) : at_(json.data()), end_(json.data() + json.size()) {}

  bool ParseDocument(Message& message) {
    if (!IsPlainMessage(*message.GetDescriptor())) return false;
    SkipSpace();
    if (!ParseObject(message, 0)) return false;
    SkipSpace();
    return at_ == end_;
  }

 private:
  // JSON's whitespace (RFC 8259): space, tab, line feed, carriage return.
  void SkipSpace() {
    while (at_ < end_ && (*at_ == ' ' || *at_ == '\t' || *at_ == '\n' || *at_ == '\r')) ++at_;
  }

  bool Consume(char c) {
    if (at_ == end_ || *at_ != c) return false;
    ++at_;
    return true;
  }

  // A string of printable ASCII without escapes, between double quotes; its contents.
  std::optional<std::string_view> PlainString() {
    if (!Consume('"')) return std::nullopt;
    const char* const start = at_;
    while (at_ < end_ && *at_ != '"') {
      const auto c = static_cast<unsigned char>(*at_);
      if (c < 0x20 || c >= 0x7f || c == '\\') return std::nullopt;
      ++at_;
    }
    if (at_ == end_) return std::nullopt;
    const std::string_view text(start, static_cast<size_t>(at_ - start));
    ++at_;  // the closing quote
    return text;
  }

  // The text of an integer: an optional minus and decimal digits without leading zeros, either as
  // a JSON number (not followed by a fraction or exponent) or quoted, which protobuf accepts for
  // every integer type. "-0" is left to protobuf.
  std::optional<std::string_view> IntegerText() {
    const bool quoted = Consume('"');
    const char* const start = at_;
    if (at_ < end_ && *at_ == '-') ++at_;
    const char* const digits = at_;
    while (at_ < end_ && *at_ >= '0' && *at_ <= '9') ++at_;
    const size_t count = static_cast<size_t>(at_ - digits);
    if (count == 0 || count > kIntegerDigitsMax) return std::nullopt;
    if (*digits == '0' && (count > 1 || digits != start)) return std::nullopt;
    const std::string_view text(start, static_cast<size_t>(at_ - start));
    if (quoted) {
      if (!Consume('"')) return std::nullopt;
    } else if (at_ < end_ && (*at_ == '.' || *at_ == 'e' || *at_ == 'E')) {
      return std::nullopt;
    }
    return text;
  }

  template <typename T>
  std::optional<T> Integer() {
    const std::optional<std::string_view> text = IntegerText();
    if (!text.has_value()) return std::nullopt;
    T value{};
    const char* const end = text->data() + text->size();
    const auto [ptr, error] = std::from_chars(text->data(), end, value);
    if (error != std::errc() || ptr != end) return std::nullopt;  // out of range, or "-" unsigned
    return value;
  }

  std::optional<bool> Bool() {
    constexpr std::string_view kTrue = "true";
    constexpr std::string_view kFalse = "false";
    const std::string_view rest(at_, static_cast<size_t>(end_ - at_));
    if (rest.substr(0, kTrue.size()) == kTrue) {
      at_ += kTrue.size();
      return true;
    }
    if (rest.substr(0, kFalse.size()) == kFalse) {
      at_ += kFalse.size();
      return false;
    }
    return std::nullopt;
  }

  bool ParseObject(Message& message, int depth) {
    if (depth > kDepthMax || !Consume('{')) return false;
    const Descriptor& type = *message.GetDescriptor();
    uint64_t seen = 0;
    SkipSpace();
    if (Consume('}')) return true;
    while (true) {
      SkipSpace();
      const std::optional<std::string_view> key = PlainString();
      if (!key.has_value()) return false;
      const FieldDescriptor* field = FindField(type, *key);
      // Unknown fields, maps and oneofs (which protobuf refuses to set twice; proto3 `optional`
      // too, whose presence a default value sets) go to protobuf, as does a field given twice
      // (under either of its names).
      if (field == nullptr || field->is_map() || field->containing_oneof() != nullptr) {
        return false;
      }
      const uint64_t bit = uint64_t{1} << field->index();
      if ((seen & bit) != 0) return false;
      seen |= bit;
      SkipSpace();
      if (!Consume(':')) return false;
      SkipSpace();
      if (!(field->is_repeated() ? ParseList(message, *field, depth)
                                 : ParseValue(message, *field, depth))) {
        return false;
      }
      SkipSpace();
      if (Consume('}')) return true;
      if (!Consume(',')) return false;
    }
  }

  bool ParseList(Message& message, const FieldDescriptor& field, int depth) {
    if (!Consume('[')) return false;
    SkipSpace();
    if (Consume(']')) return true;
    while (true) {
      SkipSpace();
      if (!ParseValue(message, field, depth)) return false;
      SkipSpace();
      if (Consume(']')) return true;
      if (!Consume(',')) return false;
    }
  }

  // One value of `field`: appended when the field is repeated, set otherwise.
  bool ParseValue(Message& message, const FieldDescriptor& field, int depth) {
    const Reflection& reflection = *message.GetReflection();
    const bool repeated = field.is_repeated();
    switch (field.cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING: {
        if (field.type() == FieldDescriptor::TYPE_BYTES) return false;  // base64: protobuf's
        const std::optional<std::string_view> text = PlainString();
        if (!text.has_value()) return false;
        repeated ? reflection.AddString(&message, &field, std::string(*text))
                 : reflection.SetString(&message, &field, std::string(*text));
        return true;
      }
      case FieldDescriptor::CPPTYPE_INT32:
        return Store(message, field, Integer<int32_t>(), &Reflection::SetInt32,
                     &Reflection::AddInt32);
      case FieldDescriptor::CPPTYPE_INT64:
        return Store(message, field, Integer<int64_t>(), &Reflection::SetInt64,
                     &Reflection::AddInt64);
      case FieldDescriptor::CPPTYPE_UINT32:
        return Store(message, field, Integer<uint32_t>(), &Reflection::SetUInt32,
                     &Reflection::AddUInt32);
      case FieldDescriptor::CPPTYPE_UINT64:
        return Store(message, field, Integer<uint64_t>(), &Reflection::SetUInt64,
                     &Reflection::AddUInt64);
      case FieldDescriptor::CPPTYPE_BOOL:
        return Store(message, field, Bool(), &Reflection::SetBool, &Reflection::AddBool);
      case FieldDescriptor::CPPTYPE_ENUM: {
        // By name only; numbers, and NullValue's null, are protobuf's.
        if (field.enum_type()->full_name() == "google.protobuf.NullValue") return false;
        const std::optional<std::string_view> name = PlainString();
        if (!name.has_value()) return false;
        const google::protobuf::EnumValueDescriptor* value =
            field.enum_type()->FindValueByName(std::string(*name));
        if (value == nullptr) return false;
        repeated ? reflection.AddEnum(&message, &field, value)
                 : reflection.SetEnum(&message, &field, value);
        return true;
      }
      case FieldDescriptor::CPPTYPE_MESSAGE: {
        if (!IsPlainMessage(*field.message_type())) return false;
        Message* child = repeated ? reflection.AddMessage(&message, &field)
                                  : reflection.MutableMessage(&message, &field);
        return ParseObject(*child, depth + 1);
      }
      case FieldDescriptor::CPPTYPE_FLOAT:
      case FieldDescriptor::CPPTYPE_DOUBLE:
        return false;  // rounding, ranges, "NaN" and "Infinity": protobuf's
    }
    return false;
  }

  const char* at_;
  const char* const end_;
};

}  // namespace

bool ParseJsonFastPath(std::string_view json, Message& message) {
  return Parser(json).ParseDocument(message);
}

}  // namespace loyalty::gateway
