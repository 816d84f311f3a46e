#include "gateway/transcode/json_print.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"

namespace loyalty::gateway {

absl::StatusOr<std::string> PrintJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string json;
  if (const auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
      !status.ok()) {
    return absl::InternalError(absl::StrCat("cannot print ", message.GetTypeName(),
                                            " as JSON: ", status.message().ToString()));
  }
  return json;
}

}  // namespace loyalty::gateway
