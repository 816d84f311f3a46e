#include "common/testkit/message_fill.h"

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/timestamp.pb.h"

namespace loyalty::testkit {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

bool IsWellKnown(const Descriptor& type) { return type.file()->package() == "google.protobuf"; }

// Whether the fast JSON parser reads `field` (FillOptions::fast_parse_only).
bool FastParserReads(const FieldDescriptor& field) {
  if (field.is_map() || field.containing_oneof() != nullptr) return false;
  switch (field.cpp_type()) {
    case FieldDescriptor::CPPTYPE_FLOAT:
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return false;
    case FieldDescriptor::CPPTYPE_STRING:
      return field.type() != FieldDescriptor::TYPE_BYTES;
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return !IsWellKnown(*field.message_type());
    default:
      return true;
  }
}

}  // namespace

void Fill(Message& message, int& counter, const FillOptions& options) {
  const Descriptor& descriptor = *message.GetDescriptor();
  const Reflection& reflection = *message.GetReflection();
  if (descriptor.full_name() == "google.protobuf.Timestamp") {
    // Each of the fraction lengths protobuf prints: none, 3, 6 and 9 digits.
    constexpr int32_t kNanos[] = {0, 250'000'000, 123'000, 123'456'789};
    auto& timestamp = static_cast<google::protobuf::Timestamp&>(message);
    timestamp.set_seconds(1'768'478'400 + 86'400 * ++counter);
    timestamp.set_nanos(kNanos[counter % 4]);
    return;
  }
  if (IsWellKnown(descriptor)) {
    if (descriptor.full_name() == "google.protobuf.FieldMask") {
      reflection.AddString(&message, descriptor.FindFieldByName("paths"), "display_name");
    }
    return;  // Struct, Any, ...: left unset
  }
  for (int i = 0; i < descriptor.field_count(); ++i) {
    const FieldDescriptor& field = *descriptor.field(i);
    if (options.fast_parse_only && !FastParserReads(field)) continue;
    const int count = field.is_repeated() ? 2 : 1;
    for (int n = 0; n < count; ++n) {
      ++counter;
      const bool repeated = field.is_repeated();
      switch (field.cpp_type()) {
        case FieldDescriptor::CPPTYPE_INT32:
          repeated ? reflection.AddInt32(&message, &field, -counter)
                   : reflection.SetInt32(&message, &field, -counter);
          break;
        case FieldDescriptor::CPPTYPE_UINT32:
          repeated ? reflection.AddUInt32(&message, &field, counter)
                   : reflection.SetUInt32(&message, &field, counter);
          break;
        case FieldDescriptor::CPPTYPE_INT64:
          repeated ? reflection.AddInt64(&message, &field, -1'000'000'000'000 - counter)
                   : reflection.SetInt64(&message, &field, -1'000'000'000'000 - counter);
          break;
        case FieldDescriptor::CPPTYPE_UINT64:
          repeated ? reflection.AddUInt64(&message, &field, 18'000'000'000'000'000'000u + counter)
                   : reflection.SetUInt64(&message, &field, 18'000'000'000'000'000'000u + counter);
          break;
        case FieldDescriptor::CPPTYPE_BOOL:
          repeated ? reflection.AddBool(&message, &field, counter % 2 == 0)
                   : reflection.SetBool(&message, &field, true);
          break;
        case FieldDescriptor::CPPTYPE_FLOAT:
          repeated ? reflection.AddFloat(&message, &field, 0.1f * counter)
                   : reflection.SetFloat(&message, &field, 0.1f * counter);
          break;
        case FieldDescriptor::CPPTYPE_DOUBLE:
          repeated ? reflection.AddDouble(&message, &field, 0.1 * counter)
                   : reflection.SetDouble(&message, &field, 0.1 * counter);
          break;
        case FieldDescriptor::CPPTYPE_ENUM: {
          const int number =
              field.enum_type()->value(counter % field.enum_type()->value_count())->number();
          repeated ? reflection.AddEnumValue(&message, &field, number)
                   : reflection.SetEnumValue(&message, &field, number);
          break;
        }
        case FieldDescriptor::CPPTYPE_STRING: {
          const std::string value = field.type() == FieldDescriptor::TYPE_BYTES
                                        ? std::string("\x01\xff", 2)
                                        : absl::StrCat("v-", counter, "_x.y:z/@+");
          repeated ? reflection.AddString(&message, &field, value)
                   : reflection.SetString(&message, &field, value);
          break;
        }
        case FieldDescriptor::CPPTYPE_MESSAGE:
          if (options.depth > 0) {
            FillOptions inner = options;
            --inner.depth;
            Fill(repeated ? *reflection.AddMessage(&message, &field)
                          : *reflection.MutableMessage(&message, &field),
                 counter, inner);
          }
          break;
      }
    }
  }
}

}  // namespace loyalty::testkit
