#pragma once

// A named, parameterized SQL statement. Queries are compile-time constants in each service's
// storage/queries.h; the name is the prepared-statement name on every connection and the key in
// logs and error messages. Values never enter the SQL text: they are $1..$n parameters.

#include <string_view>

#include "common/pg/params.h"

namespace loyalty::pg {

struct Query {
  std::string_view name;
  std::string_view sql;
};

// A query with its parameters, for Connection::ExecutePipeline.
struct Statement {
  const Query* query;
  Params params;
};

}  // namespace loyalty::pg
