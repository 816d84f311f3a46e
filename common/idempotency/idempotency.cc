#include "common/idempotency/idempotency.h"

#include "absl/strings/str_cat.h"
#include "common/pg/migrate.h"
#include "common/status/error.h"
#include "common/status/macros.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace loyalty::idempotency {
namespace {

constexpr pg::Query kLockKey{"idempotency_lock_key",
                             "SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0))"};
constexpr pg::Query kFindKey{"idempotency_find_key",
                             "SELECT method, request_hash, response FROM idempotency_keys "
                             "WHERE scope = $1 AND request_id = $2"};
constexpr pg::Query kInsertKey{
    "idempotency_insert_key",
    "INSERT INTO idempotency_keys (scope, request_id, method, request_hash, response, "
    "create_time) VALUES ($1, $2, $3, $4, $5, $6)"};
constexpr pg::Query kPruneKeys{
    "idempotency_prune_keys",
    "DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM idempotency_keys "
    "WHERE create_time < $1 ORDER BY create_time LIMIT $2)"};

}  // namespace

std::string RequestHash(std::string_view method, const google::protobuf::Message& request) {
  std::unique_ptr<google::protobuf::Message> copy(request.New());
  copy->CopyFrom(request);
  if (const google::protobuf::FieldDescriptor* field =
          copy->GetDescriptor()->FindFieldByName("request_id");
      field != nullptr) {
    copy->GetReflection()->ClearField(copy.get(), field);
  }
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    copy->SerializeToCodedStream(&coded);
  }
  return pg::MigrationChecksum(
      absl::StrCat(absl::string_view(method.data(), method.size()), "\n", bytes));
}

namespace internal {

absl::Status Run(pg::Pool& pool, const Call& call, google::protobuf::Message& response,
                 absl::FunctionRef<absl::Status(pg::Connection&)> body) {
  return pool.InTransaction([&](pg::Connection& connection) -> absl::Status {
    const pg::Params key = pg::Params().Add(call.scope).Add(call.request_id);
    LOYALTY_RETURN_IF_ERROR(connection.Execute(kLockKey, key).status());
    LOYALTY_ASSIGN_OR_RETURN(pg::Result found, connection.Execute(kFindKey, key));
    if (found.rows() == 1) {
      if (found.String(0, "method") != call.method ||
          found.String(0, "request_hash") != call.request_hash) {
        return InvalidField("request_id", "IDEMPOTENCY_KEY_REUSED",
                            "this request_id was already used for a different request");
      }
      if (!response.ParseFromString(found.Bytes(0, "response"))) {
        return absl::InternalError(
            absl::StrCat("stored answer for ", call.method, " does not parse"));
      }
      return absl::OkStatus();
    }
    LOYALTY_RETURN_IF_ERROR(body(connection));
    return connection
        .Execute(kInsertKey, pg::Params()
                                 .Add(call.scope)
                                 .Add(call.request_id)
                                 .Add(call.method)
                                 .Add(call.request_hash)
                                 .AddBytes(response.SerializeAsString())
                                 .Add(call.now))
        .status();
  });
}

}  // namespace internal

absl::StatusOr<int64_t> PruneKeys(pg::Pool& pool, absl::Time cutoff, int limit) {
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool.Acquire());
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result result,
      connection->Execute(kPruneKeys, pg::Params().Add(cutoff).Add(static_cast<int64_t>(limit))));
  return result.affected_rows();
}

}  // namespace loyalty::idempotency
