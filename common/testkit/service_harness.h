#pragma once

// Header-only helpers for tests that run real services in-process: a fresh schema with the
// service's migrations applied, and a gRPC server on a free port. Every failure here is a broken
// test environment, so each helper CHECKs instead of returning a status. The including test
// links loyalty::testkit, loyalty::pg and loyalty::server.

#include <memory>
#include <span>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/pg/migrate.h"
#include "common/server/server.h"
#include "common/testkit/test_schema.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace loyalty::testkit {

inline std::unique_ptr<TestSchema> MustSchema(const std::string& prefix) {
  auto schema = TestSchema::Create(prefix);
  LOYALTY_CHECK(schema.ok());
  return *std::move(schema);
}

inline void MustMigrate(pg::Pool& pool, std::span<const pg::Migration> migrations) {
  auto connection = pool.Acquire();
  LOYALTY_CHECK(connection.ok());
  LOYALTY_CHECK(pg::ApplyMigrations(**connection, migrations).ok());
}

// A server for `service` on 127.0.0.1 and a free port, without a metrics endpoint.
inline std::unique_ptr<server::GrpcServer> MustServe(const std::string& name,
                                                     grpc::Service* service) {
  auto server = server::GrpcServer::Start(
      {.service_name = name, .listen_address = "127.0.0.1", .grpc_port = 0, .metrics_port = -1},
      {service});
  LOYALTY_CHECK(server.ok());
  return *std::move(server);
}

inline std::string AddressOf(const server::GrpcServer& server) {
  return absl::StrCat("127.0.0.1:", server.grpc_port());
}

inline std::shared_ptr<grpc::Channel> InsecureChannel(const std::string& address) {
  return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
}

}  // namespace loyalty::testkit
