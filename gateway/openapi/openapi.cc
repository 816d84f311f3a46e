#include "gateway/openapi/openapi.h"

#include <map>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gateway/auth/policy.h"
#include "google/api/field_behavior.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace loyalty::gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Struct;
using google::protobuf::Value;

// Query parameters are listed for nested fields down to this depth ("profile.birthday.year").
constexpr int kQueryDepthMax = 3;

Value Str(std::string_view text) {
  Value value;
  value.set_string_value(std::string(text));
  return value;
}

Value Bool(bool flag) {
  Value value;
  value.set_bool_value(flag);
  return value;
}

Value Obj(std::initializer_list<std::pair<std::string, Value>> fields) {
  Value value;
  Struct* object = value.mutable_struct_value();
  for (const auto& [key, field] : fields) (*object->mutable_fields())[key] = field;
  return value;
}

Value Arr(const std::vector<Value>& items) {
  Value value;
  for (const Value& item : items) *value.mutable_list_value()->add_values() = item;
  return value;
}

void Set(Value& object, const std::string& key, Value field) {
  (*object.mutable_struct_value()->mutable_fields())[key] = std::move(field);
}

Value Ref(const Descriptor& message) {
  return Obj({{"$ref", Str(absl::StrCat("#/components/schemas/", message.full_name()))}});
}

bool HasBehavior(const FieldDescriptor& field, google::api::FieldBehavior behavior) {
  const auto& behaviors = field.options().GetRepeatedExtension(google::api::field_behavior);
  for (int value : behaviors) {
    if (value == behavior) return true;
  }
  return false;
}

class Builder {
 public:
  // The schema of one value of `field` (an item, for repeated fields); message types are
  // queued for components/schemas.
  Value ScalarSchema(const FieldDescriptor& field) {
    switch (field.type()) {
      case FieldDescriptor::TYPE_INT32:
      case FieldDescriptor::TYPE_SINT32:
      case FieldDescriptor::TYPE_SFIXED32:
        return Obj({{"type", Str("integer")}, {"format", Str("int32")}});
      case FieldDescriptor::TYPE_UINT32:
      case FieldDescriptor::TYPE_FIXED32:
        return Obj({{"type", Str("integer")}, {"format", Str("uint32")}});
      case FieldDescriptor::TYPE_INT64:
      case FieldDescriptor::TYPE_SINT64:
      case FieldDescriptor::TYPE_SFIXED64:
        return Obj({{"type", Str("string")}, {"format", Str("int64")}});
      case FieldDescriptor::TYPE_UINT64:
      case FieldDescriptor::TYPE_FIXED64:
        return Obj({{"type", Str("string")}, {"format", Str("uint64")}});
      case FieldDescriptor::TYPE_DOUBLE:
        return Obj({{"type", Str("number")}, {"format", Str("double")}});
      case FieldDescriptor::TYPE_FLOAT:
        return Obj({{"type", Str("number")}, {"format", Str("float")}});
      case FieldDescriptor::TYPE_BOOL:
        return Obj({{"type", Str("boolean")}});
      case FieldDescriptor::TYPE_STRING:
        return Obj({{"type", Str("string")}});
      case FieldDescriptor::TYPE_BYTES:
        return Obj({{"type", Str("string")}, {"format", Str("byte")}});
      case FieldDescriptor::TYPE_ENUM: {
        std::vector<Value> names;
        for (int i = 0; i < field.enum_type()->value_count(); ++i) {
          names.push_back(Str(field.enum_type()->value(i)->name()));
        }
        return Obj({{"type", Str("string")}, {"enum", Arr(names)}});
      }
      case FieldDescriptor::TYPE_MESSAGE:
      case FieldDescriptor::TYPE_GROUP:
        return MessageSchema(*field.message_type());
    }
    return Obj({});
  }

  // Well-known types inline with their JSON form; other messages by reference.
  Value MessageSchema(const Descriptor& message) {
    const std::string& name = message.full_name();
    if (name == "google.protobuf.Timestamp") {
      return Obj({{"type", Str("string")}, {"format", Str("date-time")}});
    }
    if (name == "google.protobuf.Duration" || name == "google.protobuf.FieldMask") {
      return Obj({{"type", Str("string")}});
    }
    if (name == "google.protobuf.Struct" || name == "google.protobuf.Any" ||
        name == "google.protobuf.Empty") {
      return Obj({{"type", Str("object")}});
    }
    if (name == "google.protobuf.Value" || name == "google.protobuf.ListValue") return Obj({});
    if (message.file()->name() == "google/protobuf/wrappers.proto") {
      Value schema = ScalarSchema(*message.FindFieldByName("value"));
      Set(schema, "nullable", Bool(true));
      return schema;
    }
    if (done_.insert(&message).second) pending_.push_back(&message);
    return Ref(message);
  }

  Value FieldSchema(const FieldDescriptor& field) {
    Value schema;
    if (field.is_map()) {
      schema = Obj({{"type", Str("object")},
                    {"additionalProperties", ScalarSchema(*field.message_type()->map_value())}});
    } else if (field.is_repeated()) {
      schema = Obj({{"type", Str("array")}, {"items", ScalarSchema(field)}});
    } else {
      schema = ScalarSchema(field);
    }
    if (HasBehavior(field, google::api::OUTPUT_ONLY)) {
      // A $ref cannot carry siblings in OpenAPI 3.0; wrap it.
      if (schema.struct_value().fields().contains("$ref")) schema = Obj({{"allOf", Arr({schema})}});
      Set(schema, "readOnly", Bool(true));
    }
    return schema;
  }

  // Adds components/schemas for every queued message, following references.
  Value Schemas() {
    Value schemas = Obj({});
    while (!pending_.empty()) {
      const Descriptor* message = pending_.back();
      pending_.pop_back();
      Value properties = Obj({});
      std::vector<Value> required;
      for (int i = 0; i < message->field_count(); ++i) {
        const FieldDescriptor& field = *message->field(i);
        Set(properties, field.json_name(), FieldSchema(field));
        if (HasBehavior(field, google::api::REQUIRED)) required.push_back(Str(field.json_name()));
      }
      Value schema = Obj({{"type", Str("object")}, {"properties", properties}});
      if (!required.empty()) Set(schema, "required", Arr(required));
      Set(schemas, message->full_name(), schema);
    }
    return schemas;
  }

  // The query parameters of a route: its input's fields that neither the path nor the body set,
  // flattened with dotted names.
  void QueryParameters(const Descriptor& message, const std::string& prefix, int depth,
                       const Route& route, std::vector<Value>& out) {
    for (int i = 0; i < message.field_count(); ++i) {
      const FieldDescriptor& field = *message.field(i);
      if (depth == 0 && route.body == BodyKind::kField && &field == route.body_field) continue;
      const std::string name = absl::StrCat(prefix, field.json_name());
      bool bound = false;
      for (const FieldPath& path : route.variable_fields) {
        if (depth < static_cast<int>(path.size()) && path[depth] == &field &&
            static_cast<int>(path.size()) == depth + 1) {
          bound = true;
        }
      }
      if (bound || HasBehavior(field, google::api::OUTPUT_ONLY) || field.is_map()) continue;
      if (field.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !field.is_repeated()) {
        const std::string& type = field.message_type()->full_name();
        const bool string_form =
            type == "google.protobuf.Timestamp" || type == "google.protobuf.Duration" ||
            type == "google.protobuf.FieldMask" ||
            field.message_type()->file()->name() == "google/protobuf/wrappers.proto";
        if (!string_form) {
          if (depth + 1 < kQueryDepthMax) {
            QueryParameters(*field.message_type(), name + ".", depth + 1, route, out);
          }
          continue;
        }
      } else if (field.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        continue;
      }
      out.push_back(
          Obj({{"name", Str(name)}, {"in", Str("query")}, {"schema", FieldSchema(field)}}));
    }
  }

 private:
  std::set<const Descriptor*> done_;
  std::vector<const Descriptor*> pending_;
};

std::string OpenApiPath(const PathTemplate& path) {
  std::string out;
  size_t variable = 0;
  const auto& variables = path.variables();
  for (size_t i = 0; i < path.segments().size();) {
    out += "/";
    if (variable < variables.size() && variables[variable].first_segment == i) {
      absl::StrAppend(&out, "{", variables[variable].field_path, "}");
      i = variables[variable].end_segment;
      ++variable;
      continue;
    }
    const TemplateSegment& segment = path.segments()[i];
    out += segment.kind == TemplateSegment::Kind::kLiteral  ? segment.literal
           : segment.kind == TemplateSegment::Kind::kSingle ? "*"
                                                            : "**";
    ++i;
  }
  if (!path.verb().empty()) absl::StrAppend(&out, ":", path.verb());
  return out;
}

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

Value StatusResponse(std::string_view description) {
  return Obj({{"description", Str(description)},
              {"content", Obj({{"application/json",
                                Obj({{"schema", Obj({{"$ref", Str("#/components/schemas/"
                                                                  "google.rpc.Status")}})}})}})}});
}

}  // namespace

absl::StatusOr<std::string> BuildOpenApi(const Router& router, std::string_view version) {
  Builder builder;
  Value paths = Obj({});
  std::set<std::string> operation_ids;
  const Descriptor* status_type =
      google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(
          "google.rpc.Status");

  for (const std::unique_ptr<Route>& route : router.routes()) {
    std::vector<Value> parameters;
    for (const TemplateVariable& variable : route->path.variables()) {
      Value schema = Obj({{"type", Str("string")}});
      for (size_t i = 0; i < route->variable_fields.size(); ++i) {
        if (route->path.variables()[i].field_path == variable.field_path) {
          schema = builder.FieldSchema(*route->variable_fields[i].back());
        }
      }
      parameters.push_back(Obj({{"name", Str(variable.field_path)},
                                {"in", Str("path")},
                                {"required", Bool(true)},
                                {"schema", schema}}));
    }
    Value operation = Obj({});
    Value success;
    if (route->kind == RouteKind::kRpc) {
      const Descriptor& input = *route->method->input_type();
      if (route->body != BodyKind::kWhole) {
        builder.QueryParameters(input, "", 0, *route, parameters);
      }
      if (route->http_method != "GET" && input.FindFieldByName("request_id") != nullptr) {
        parameters.push_back(Obj(
            {{"name", Str("Idempotency-Key")},
             {"in", Str("header")},
             {"description", Str("Becomes request_id: the same key and payload replay the first "
                                 "answer. 1-128 printable ASCII characters.")},
             {"required",
              Bool(PolicyFor(route->rpc_name).idempotency == IdempotencyKeyPolicy::kRequired)},
             {"schema", Obj({{"type", Str("string")}})}}));
      }
      if (route->body != BodyKind::kNone) {
        const Descriptor& body_type =
            route->body == BodyKind::kWhole ? input : *route->body_field->message_type();
        Set(operation, "requestBody",
            Obj({{"content", Obj({{"application/json",
                                   Obj({{"schema", builder.MessageSchema(body_type)}})}})}}));
      }
      const Descriptor& output = route->response_field != nullptr
                                     ? *route->response_field->message_type()
                                     : *route->method->output_type();
      success = builder.MessageSchema(output);
      std::string id = route->method->name();
      for (int n = 2; !operation_ids.insert(id).second; ++n) {
        id = absl::StrCat(route->method->name(), n);
      }
      Set(operation, "operationId", Str(id));
      Set(operation, "tags", Arr({Str(route->method->service()->name())}));
      Set(operation, "x-grpc-method", Str(route->rpc_name));
    } else {
      Value properties = Obj(
          {{"partial", Obj({{"type", Str("array")}, {"items", Obj({{"type", Str("string")}})}})}});
      const auto* pool = google::protobuf::DescriptorPool::generated_pool();
      // The wallet's keys (gateway/wallet/wallet.h), each of a linked service's message.
      struct WalletKey {
        const char* key;
        const char* message;
        bool array;
      };
      for (const WalletKey& wallet_key :
           {WalletKey{"member", "loyalty.members.v1.Member", false},
            WalletKey{"tierStatus", "loyalty.members.v1.GetTierStatusResponse", false},
            WalletKey{"balance", "loyalty.points.v1.Balance", false},
            WalletKey{"affordableRewards", "loyalty.rewards.v1.Reward", true},
            WalletKey{"openVouchers", "loyalty.rewards.v1.Redemption", true}}) {
        const Descriptor* message = pool->FindMessageTypeByName(wallet_key.message);
        if (message == nullptr) continue;
        Value schema = builder.MessageSchema(*message);
        if (wallet_key.array) schema = Obj({{"type", Str("array")}, {"items", schema}});
        Set(properties, wallet_key.key, schema);
      }
      success = Obj({{"type", Str("object")}, {"properties", properties}});
      Set(operation, "operationId", Str("GetWallet"));
      Set(operation, "tags", Arr({Str("Wallet")}));
      Set(operation, "description",
          Str("The member's wallet from every service at once; services that did not answer "
              "are named in `partial`."));
    }
    Set(operation, "parameters", Arr(parameters));
    Set(operation, "responses",
        Obj({{"200", Obj({{"description", Str("OK")},
                          {"content", Obj({{"application/json", Obj({{"schema", success}})}})}})},
             {"default", StatusResponse("A google.rpc.Status with ErrorInfo details")}}));

    const std::string path = OpenApiPath(route->path);
    Value item = paths.struct_value().fields().contains(path)
                     ? paths.struct_value().fields().at(path)
                     : Obj({});
    Set(item, Lower(route->http_method), operation);
    Set(paths, path, item);
  }

  for (const char* path : {"/healthz", "/readyz"}) {
    Set(paths, path,
        Obj({{"get",
              Obj({{"security", Arr({})},
                   {"operationId",
                    Str(std::string_view(path) == "/healthz" ? "Healthz" : "Readyz")},
                   {"responses", Obj({{"200", Obj({{"description", Str("Serving")}})},
                                      {"503", Obj({{"description", Str("Not serving")}})}})}})}}));
  }

  if (status_type != nullptr) builder.MessageSchema(*status_type);
  Value document = Obj(
      {{"openapi", Str("3.0.3")},
       {"info", Obj({{"title", Str("Loyalty platform API")},
                     {"version", Str(version)},
                     {"description", Str("REST/JSON transcoding of the loyalty services' public "
                                         "RPCs (canonical proto3 JSON). Errors are "
                                         "google.rpc.Status with ErrorInfo details.")}})},
       {"paths", paths},
       {"security", Arr({Obj({{"apiKey", Arr({})}}), Obj({{"memberToken", Arr({})}})})}});
  Value components = Obj({{"schemas", builder.Schemas()}});
  Set(components, "securitySchemes",
      Obj({{"apiKey",
            Obj({{"type", Str("apiKey")}, {"in", Str("header")}, {"name", Str("x-api-key")}})},
           {"memberToken", Obj({{"type", Str("http")},
                                {"scheme", Str("bearer")},
                                {"bearerFormat", Str("JWT")}})}}));
  Set(document, "components", components);

  std::string json;
  if (const auto status =
          google::protobuf::util::MessageToJsonString(document.struct_value(), &json);
      !status.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot print the OpenAPI document: ", status.message().ToString()));
  }
  return json;
}

}  // namespace loyalty::gateway
