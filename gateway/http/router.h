#pragma once

// The gateway's routes, built at start from the google.api.http options of the compiled
// descriptors of the services it fronts. No RPC route is written by hand: a newly annotated RPC is
// reachable as soon as its service is linked (gateway/services.cc), and an RPC without the option
// (RecordQualifyingActivity, holds, Subscribe) has no route at all, so it answers 404.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/http/path_template.h"
#include "google/protobuf/descriptor.h"

namespace loyalty::gateway {

// The fields from a request message down to one leaf, e.g. {profile, email}.
using FieldPath = std::vector<const google::protobuf::FieldDescriptor*>;

// Proto field names joined by '.', e.g. "profile.email": how BadRequest field violations name a
// field, in the gateway as in the services.
std::string FieldPathName(const FieldPath& path);

// Resolves the dotted path `dotted` in `message`. Each part is a proto field name or, with
// json_names, also a JSON name (lowerCamelCase), as query parameters may use either. Every field
// but the last must be a singular message. NOT_FOUND naming the first part that does not resolve;
// INVALID_ARGUMENT when the path crosses a repeated or map field.
absl::StatusOr<FieldPath> ResolveFieldPath(const google::protobuf::Descriptor& message,
                                           std::string_view dotted, bool json_names);

enum class RouteKind {
  kRpc,     // transcoded to one unary RPC
  kWallet,  // the gateway's own composite view (wallet/wallet.h)
};

enum class BodyKind {
  kNone,   // no body; every field not in the path may come from the query
  kWhole,  // body: "*": the JSON is the request message; no query parameters
  kField,  // body: "<field>": the JSON is that field; the rest may come from the query
};

struct Route {
  RouteKind kind = RouteKind::kRpc;
  // Upper case: "GET", "POST", "PATCH", ... (a custom rule's kind as written).
  std::string http_method;
  PathTemplate path;
  // "GET /v1/programs/{program}": what metrics and logs name the route by (a bounded set).
  std::string label;
  // The RPC's full name ("loyalty.members.v1.MembersService.GetMember") or, for the gateway's own
  // routes, a name of the same shape; the key of the access policy table (auth/policy.h).
  std::string rpc_name;

  // kRpc only.
  const google::protobuf::MethodDescriptor* method = nullptr;
  // Which upstream serves it ("members", "points", "rewards").
  std::string upstream;
  // "/loyalty.members.v1.MembersService/GetMember".
  std::string grpc_path;
  // The field each path variable binds, parallel to path.variables().
  std::vector<FieldPath> variable_fields;
  BodyKind body = BodyKind::kNone;
  // kField: the top-level field the body is.
  const google::protobuf::FieldDescriptor* body_field = nullptr;
  // The response_body field, when the rule names one: the answer is that field alone.
  const google::protobuf::FieldDescriptor* response_field = nullptr;
};

struct RouteMatch {
  const Route* route = nullptr;
  // The decoded value of each path variable, parallel to route->path.variables().
  std::vector<std::string> values;
};

class Router {
 public:
  enum class Outcome {
    kMatched,
    kNotFound,          // no route has this path
    kMethodNotAllowed,  // some route has the path, none with this HTTP method
    kBadPath,           // the path is not a valid request path (RequestPath::Parse)
  };
  struct Result {
    Outcome outcome = Outcome::kNotFound;
    RouteMatch match;
    // kMethodNotAllowed: the methods that would match, for the Allow header.
    std::vector<std::string> allowed_methods;
    // kBadPath: why.
    std::string error;
  };

  // Adds one route per google.api.http rule (and per additional binding) of each method of
  // `service`, served by `upstream`. Returns INVALID_ARGUMENT naming the method for a rule the
  // gateway cannot serve (a streaming method, a bad template, a path or body field that does not
  // exist or has the wrong type), and ALREADY_EXISTS when two rules have the same HTTP method and
  // template shape. Routes added before an error stay.
  absl::Status AddService(const google::protobuf::ServiceDescriptor& service,
                          std::string_view upstream);

  // Adds a route the gateway serves itself. ALREADY_EXISTS as above.
  absl::Status AddRoute(Route route);

  // Finds the route for `http_method` and `path` (the target without the query). Among several
  // matching templates the most specific wins (PathTemplate::specificity), then the first added.
  Result Match(std::string_view http_method, std::string_view path) const;

  const std::vector<std::unique_ptr<Route>>& routes() const { return routes_; }

 private:
  absl::Status AddRule(const google::protobuf::MethodDescriptor& method, std::string_view upstream,
                       const std::string& http_method, const std::string& path,
                       const std::string& body, const std::string& response_body);

  std::vector<std::unique_ptr<Route>> routes_;
  // HTTP method + template shape of each route, to refuse ambiguous duplicates.
  std::vector<std::string> shapes_;
};

}  // namespace loyalty::gateway
