#pragma once

// A throwaway schema in the test PostgreSQL that scripts/test starts.
//
// Each test gets a fresh, uniquely named schema in the database named by the environment
// variable LOYALTY_TEST_DATABASE_URL, and the schema is dropped when the object dies. Because
// services' queries name tables without a schema (search_path), the same migrations and queries
// run unchanged inside it.

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/pg/connection.h"
#include "common/pg/pool.h"

namespace loyalty::testkit {

class TestSchema {
 public:
  // FAILED_PRECONDITION when LOYALTY_TEST_DATABASE_URL is unset (run the tests via
  // scripts/test); UNAVAILABLE when the database cannot be reached.
  static absl::StatusOr<std::unique_ptr<TestSchema>> Create(std::string_view prefix);
  ~TestSchema();

  const std::string& conninfo() const { return conninfo_; }
  const std::string& schema() const { return schema_; }
  pg::ConnectionOptions connection_options() const;
  // A pool on this schema (CHECKs that the options are valid).
  std::unique_ptr<pg::Pool> MakePool(int size = 4) const;

 private:
  TestSchema(std::string conninfo, std::string schema)
      : conninfo_(std::move(conninfo)), schema_(std::move(schema)) {}
  std::string conninfo_;
  std::string schema_;
};

}  // namespace loyalty::testkit
