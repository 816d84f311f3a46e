#pragma once

// The OpenAPI 3.0 document served at GET /openapi.json, generated when the gateway starts from
// the very route table it serves (and so from the protos' google.api.http annotations): it cannot
// describe a route the gateway does not have, or miss one it has. Debian's protoc-gen-swagger
// (grpc-gateway 1.6.4) was the alternative; it emits Swagger 2.0 with v1 conventions (snake_case
// names, collapsed path variables) that differ from what this gateway answers, and it would be one
// more tool in the build. docs/gateway.md records the decision.
//
// Schemas follow the canonical proto3 JSON mapping the gateway speaks: lowerCamelCase names,
// 64-bit integers as strings, enums as their names, Timestamps as RFC 3339 strings; fields marked
// OUTPUT_ONLY are readOnly, REQUIRED ones are listed as required.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "gateway/http/router.h"

namespace loyalty::gateway {

// The document as JSON. INTERNAL only if protobuf cannot print it (a bug).
absl::StatusOr<std::string> BuildOpenApi(const Router& router, std::string_view version);

}  // namespace loyalty::gateway
