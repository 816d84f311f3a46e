#include "gateway/http/router.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gateway/strings.h"
#include "google/api/annotations.pb.h"
#include "google/api/http.pb.h"

namespace loyalty::gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::MethodDescriptor;

// A field path may name at most this many levels; deeper paths are a typo or an attack.
constexpr size_t kFieldPathDepthMax = 8;

const FieldDescriptor* FindField(const Descriptor& message, std::string_view name,
                                 bool json_names) {
  const FieldDescriptor* field = message.FindFieldByName(std::string(name));
  if (field != nullptr || !json_names) return field;
  for (int i = 0; i < message.field_count(); ++i) {
    if (message.field(i)->json_name() == name) return message.field(i);
  }
  return nullptr;
}

// What a template matches, with variables reduced to their wildcards: two routes with the same
// method and shape could never be told apart.
std::string Shape(const std::string& http_method, const PathTemplate& path) {
  std::vector<std::string> parts;
  for (const TemplateSegment& segment : path.segments()) {
    switch (segment.kind) {
      case TemplateSegment::Kind::kLiteral:
        parts.push_back(segment.literal);
        break;
      case TemplateSegment::Kind::kSingle:
        parts.push_back("*");
        break;
      case TemplateSegment::Kind::kMulti:
        parts.push_back("**");
        break;
    }
  }
  return absl::StrCat(http_method, " /", absl::StrJoin(parts, "/"), path.verb().empty() ? "" : ":",
                      path.verb());
}

bool IsScalar(const FieldDescriptor& field) {
  return field.cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE;
}

}  // namespace

std::string FieldPathName(const FieldPath& path) {
  std::string name;
  for (const FieldDescriptor* field : path) {
    absl::StrAppend(&name, name.empty() ? "" : ".", field->name());
  }
  return name;
}

absl::StatusOr<FieldPath> ResolveFieldPath(const Descriptor& message, std::string_view dotted,
                                           bool json_names) {
  FieldPath path;
  const Descriptor* current = &message;
  const std::vector<absl::string_view> parts = absl::StrSplit(Absl(dotted), '.');
  if (parts.size() > kFieldPathDepthMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("field path deeper than ", kFieldPathDepthMax, " levels"));
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    if (current == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(FieldPathName(path), " is not a message; it has no field ", parts[i]));
    }
    const FieldDescriptor* field = FindField(*current, Std(parts[i]), json_names);
    if (field == nullptr) {
      return absl::NotFoundError(absl::StrCat(
          "no field ", parts[i], " in ", path.empty() ? message.full_name() : FieldPathName(path)));
    }
    path.push_back(field);
    const bool last = i + 1 == parts.size();
    if (!last && (field->is_repeated() || field->is_map())) {
      return absl::InvalidArgumentError(
          absl::StrCat(FieldPathName(path), " is repeated; a path cannot go through it"));
    }
    current =
        field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE ? field->message_type() : nullptr;
  }
  return path;
}

absl::Status Router::AddService(const google::protobuf::ServiceDescriptor& service,
                                std::string_view upstream) {
  for (int i = 0; i < service.method_count(); ++i) {
    const MethodDescriptor& method = *service.method(i);
    if (!method.options().HasExtension(google::api::http)) continue;
    const google::api::HttpRule& rule = method.options().GetExtension(google::api::http);
    std::vector<const google::api::HttpRule*> rules = {&rule};
    for (const google::api::HttpRule& binding : rule.additional_bindings()) {
      rules.push_back(&binding);
    }
    for (const google::api::HttpRule* one : rules) {
      std::string http_method;
      std::string path;
      switch (one->pattern_case()) {
        case google::api::HttpRule::kGet:
          http_method = "GET";
          path = one->get();
          break;
        case google::api::HttpRule::kPut:
          http_method = "PUT";
          path = one->put();
          break;
        case google::api::HttpRule::kPost:
          http_method = "POST";
          path = one->post();
          break;
        case google::api::HttpRule::kDelete:
          http_method = "DELETE";
          path = one->delete_();
          break;
        case google::api::HttpRule::kPatch:
          http_method = "PATCH";
          path = one->patch();
          break;
        case google::api::HttpRule::kCustom:
          http_method = one->custom().kind();
          path = one->custom().path();
          break;
        case google::api::HttpRule::PATTERN_NOT_SET:
          return absl::InvalidArgumentError(
              absl::StrCat(method.full_name(), ": google.api.http rule without a pattern"));
      }
      if (absl::Status status =
              AddRule(method, upstream, http_method, path, one->body(), one->response_body());
          !status.ok()) {
        return status;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Router::AddRule(const MethodDescriptor& method, std::string_view upstream,
                             const std::string& http_method, const std::string& path,
                             const std::string& body, const std::string& response_body) {
  auto error = [&method](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(method.full_name(), ": ", what));
  };
  if (method.client_streaming() || method.server_streaming()) {
    return error("streaming methods cannot be transcoded");
  }
  absl::StatusOr<PathTemplate> parsed = PathTemplate::Parse(path);
  if (!parsed.ok()) return error(parsed.status().message());

  Route route;
  route.kind = RouteKind::kRpc;
  route.http_method = http_method;
  route.path = *std::move(parsed);
  route.label = absl::StrCat(http_method, " ", path);
  route.rpc_name = method.full_name();
  route.method = &method;
  route.upstream = std::string(upstream);
  route.grpc_path = absl::StrCat("/", method.service()->full_name(), "/", method.name());

  const Descriptor& input = *method.input_type();
  for (const TemplateVariable& variable : route.path.variables()) {
    absl::StatusOr<FieldPath> field =
        ResolveFieldPath(input, variable.field_path, /*json_names=*/false);
    if (!field.ok()) return error(field.status().message());
    if (field->back()->is_repeated() || !IsScalar(*field->back())) {
      return error(absl::StrCat("path variable ", variable.field_path,
                                " must bind a singular scalar field"));
    }
    route.variable_fields.push_back(*std::move(field));
  }

  if (body.empty()) {
    route.body = BodyKind::kNone;
  } else if (body == "*") {
    route.body = BodyKind::kWhole;
  } else {
    route.body = BodyKind::kField;
    route.body_field = input.FindFieldByName(body);
    if (route.body_field == nullptr || route.body_field->is_repeated() ||
        route.body_field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
      return error(absl::StrCat("body \"", body, "\" must name a singular message field"));
    }
  }
  if (!response_body.empty()) {
    route.response_field = method.output_type()->FindFieldByName(response_body);
    if (route.response_field == nullptr || route.response_field->is_repeated() ||
        route.response_field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
      return error(
          absl::StrCat("response_body \"", response_body, "\" must name a singular message field"));
    }
  }
  return AddRoute(std::move(route));
}

absl::Status Router::AddRoute(Route route) {
  std::string shape = Shape(route.http_method, route.path);
  if (std::find(shapes_.begin(), shapes_.end(), shape) != shapes_.end()) {
    return absl::AlreadyExistsError(
        absl::StrCat(route.rpc_name, ": another route already matches ", shape));
  }
  shapes_.push_back(std::move(shape));
  routes_.push_back(std::make_unique<Route>(std::move(route)));
  return absl::OkStatus();
}

Router::Result Router::Match(std::string_view http_method, std::string_view path) const {
  Result result;
  absl::StatusOr<RequestPath> request_path = RequestPath::Parse(path);
  if (!request_path.ok()) {
    result.outcome = Outcome::kBadPath;
    result.error = std::string(request_path.status().message());
    return result;
  }
  // A linear scan: the route table holds tens of routes, and each miss is a few string compares.
  int best_specificity = -1;
  for (const std::unique_ptr<Route>& route : routes_) {
    const bool method_matches = route->http_method == http_method;
    if (!method_matches && route->path.specificity() <= best_specificity) continue;
    std::optional<std::vector<std::string>> values = route->path.Match(*request_path);
    if (!values.has_value()) continue;
    if (!method_matches) {
      // "POST .../m1:unknownVerb" matches "GET .../{member}" with member "m1:unknownVerb"; that
      // is no reason to answer 405 for a custom method that does not exist (an internal RPC).
      const std::string_view last = request_path->segments().back();
      if (route->path.verb().empty() && last.find(':') != std::string_view::npos) continue;
      if (std::find(result.allowed_methods.begin(), result.allowed_methods.end(),
                    route->http_method) == result.allowed_methods.end()) {
        result.allowed_methods.push_back(route->http_method);
      }
      continue;
    }
    if (route->path.specificity() > best_specificity) {
      best_specificity = route->path.specificity();
      result.match = RouteMatch{route.get(), *std::move(values)};
    }
  }
  if (result.match.route != nullptr) {
    result.outcome = Outcome::kMatched;
    result.allowed_methods.clear();
  } else {
    result.outcome =
        result.allowed_methods.empty() ? Outcome::kNotFound : Outcome::kMethodNotAllowed;
  }
  return result;
}

}  // namespace loyalty::gateway
