#pragma once

// The services the gateway fronts: THE place to add one. A service joins by one line in
// services.cc naming its upstream and a message of its generated proto (which links the
// descriptors in), plus its proto library in gateway/CMakeLists.txt; its annotated RPCs then
// become routes, OpenAPI paths and /readyz entries, with no other gateway code.

#include <string>
#include <vector>

#include "google/protobuf/descriptor.h"

namespace loyalty::gateway {

struct LinkedService {
  // The upstream that serves it: "members", "points" or "rewards" (LOYALTY_GATEWAY_<NAME>_ADDR).
  std::string upstream;
  const google::protobuf::ServiceDescriptor* descriptor;
};

// Every service linked into this gateway, in a fixed order.
const std::vector<LinkedService>& LinkedServices();

// Makes sure the google.rpc error detail types are linked in, so that error details (Any) of
// every kind the services send can be printed as JSON.
void LinkErrorDetailTypes();

}  // namespace loyalty::gateway
