#include "common/idempotency/idempotency.h"

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/pg/array.h"
#include "common/pg/migrate.h"
#include "common/status/error.h"
#include "common/status/macros.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/wire_format_lite.h"

namespace loyalty::idempotency {
namespace {

// Keys travel as arrays (common/pg/array.h), so one call and a batch share the statements;
// advisory locks are taken in hash order, so batches never deadlock on each other.
constexpr pg::Query kLockKeys{
    "idempotency_lock_keys",
    "SELECT count(pg_advisory_xact_lock(h)) FROM (SELECT DISTINCT "
    "hashtextextended(k.scope || '/' || k.request_id, 0) AS h "
    "FROM unnest($1::text[], $2::text[]) AS k(scope, request_id) ORDER BY h) AS keys"};
constexpr pg::Query kFindKeys{
    "idempotency_find_keys",
    "SELECT k.n, i.method, i.request_hash, i.response "
    "FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(scope, request_id, n) "
    "JOIN idempotency_keys i ON i.scope = k.scope AND i.request_id = k.request_id"};
constexpr pg::Query kInsertKeys{
    "idempotency_insert_keys",
    "INSERT INTO idempotency_keys (scope, request_id, method, request_hash, response, "
    "create_time) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], "
    "$5::bytea[], $6::timestamptz[])"};
constexpr pg::Query kPruneKeys{
    "idempotency_prune_keys",
    "DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM idempotency_keys "
    "WHERE create_time < $1 ORDER BY create_time LIMIT $2)"};

}  // namespace

namespace {

// `bytes` (a serialized message) without the occurrences of field `number`: what serializing the
// message with that field cleared gives, without copying the message.
std::string WithoutField(const std::string& bytes, int number) {
  std::string kept;
  kept.reserve(bytes.size());
  {
    google::protobuf::io::ArrayInputStream in(bytes.data(), static_cast<int>(bytes.size()));
    google::protobuf::io::CodedInputStream input(&in);
    google::protobuf::io::StringOutputStream out(&kept);
    google::protobuf::io::CodedOutputStream output(&out);
    using google::protobuf::internal::WireFormatLite;
    while (const uint32_t tag = input.ReadTag()) {
      const bool copied = WireFormatLite::GetTagFieldNumber(tag) == number
                              ? WireFormatLite::SkipField(&input, tag)
                              : WireFormatLite::SkipField(&input, tag, &output);
      LOYALTY_CHECK(copied);  // protobuf serialized these bytes itself.
    }
  }
  return kept;
}

}  // namespace

std::string RequestHash(std::string_view method, const google::protobuf::Message& request) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    request.SerializeToCodedStream(&coded);
  }
  // Fields are serialized in number order, so dropping request_id's bytes gives exactly the
  // serialization of the request without it (hashes stored before stay comparable).
  if (const google::protobuf::FieldDescriptor* field =
          request.GetDescriptor()->FindFieldByName("request_id");
      field != nullptr) {
    bytes = WithoutField(bytes, field->number());
  }
  return pg::MigrationChecksum(
      absl::StrCat(absl::string_view(method.data(), method.size()), "\n", bytes));
}

namespace internal {

absl::Status Run(pg::Pool& pool, const Call& call, google::protobuf::Message& response,
                 absl::FunctionRef<absl::Status(pg::Connection&)> body) {
  return pool.InTransaction([&](pg::Connection& connection) -> absl::Status {
    const Call* const calls[] = {&call};
    LOYALTY_ASSIGN_OR_RETURN(std::vector<std::optional<StoredAnswer>> found,
                             LockAndFind(connection, calls));
    if (found[0].has_value()) return Replay(call, *found[0], response);
    LOYALTY_RETURN_IF_ERROR(body(connection));
    const std::pair<const Call*, std::string> answer[] = {{&call, response.SerializeAsString()}};
    return StoreAnswers(connection, answer);
  });
}

}  // namespace internal

absl::Status Replay(const Call& call, const StoredAnswer& stored,
                    google::protobuf::Message& response) {
  if (stored.method != call.method || stored.request_hash != call.request_hash) {
    return InvalidField("request_id", "IDEMPOTENCY_KEY_REUSED",
                        "this request_id was already used for a different request");
  }
  if (!response.ParseFromString(stored.response)) {
    return absl::InternalError(absl::StrCat("stored answer for ", call.method, " does not parse"));
  }
  return absl::OkStatus();
}

std::vector<pg::Statement> LockAndFindStatements(std::span<const Call* const> calls) {
  pg::ArrayLiteral scopes, request_ids;
  for (const Call* call : calls) {
    scopes.Add(call->scope);
    request_ids.Add(call->request_id);
  }
  const pg::Params keys = pg::Params().Add(scopes.Build()).Add(request_ids.Build());
  return {{&kLockKeys, keys}, {&kFindKeys, keys}};
}

std::vector<std::optional<StoredAnswer>> ParseFound(const pg::Result& rows, size_t calls) {
  std::vector<std::optional<StoredAnswer>> found(calls);
  for (int row = 0; row < rows.rows(); ++row) {
    const int64_t index = rows.Int64(row, "n") - 1;  // WITH ORDINALITY counts from 1.
    found[index] = StoredAnswer{.method = rows.String(row, "method"),
                                .request_hash = rows.String(row, "request_hash"),
                                .response = rows.Bytes(row, "response")};
  }
  return found;
}

absl::StatusOr<std::vector<std::optional<StoredAnswer>>> LockAndFind(
    pg::Connection& connection, std::span<const Call* const> calls) {
  if (calls.empty()) return std::vector<std::optional<StoredAnswer>>();
  const std::vector<pg::Statement> statements = LockAndFindStatements(calls);
  LOYALTY_ASSIGN_OR_RETURN(std::vector<pg::Result> results, connection.ExecutePipeline(statements));
  return ParseFound(results[1], calls.size());
}

pg::Statement StoreAnswersStatement(std::span<const std::pair<const Call*, std::string>> answers) {
  pg::ArrayLiteral scopes, request_ids, methods, hashes, responses, times;
  for (const auto& [call, response] : answers) {
    scopes.Add(call->scope);
    request_ids.Add(call->request_id);
    methods.Add(call->method);
    hashes.Add(call->request_hash);
    responses.AddBytes(response);
    times.Add(call->now);
  }
  return {&kInsertKeys, pg::Params()
                            .Add(scopes.Build())
                            .Add(request_ids.Build())
                            .Add(methods.Build())
                            .Add(hashes.Build())
                            .Add(responses.Build())
                            .Add(times.Build())};
}

absl::Status StoreAnswers(pg::Connection& connection,
                          std::span<const std::pair<const Call*, std::string>> answers) {
  if (answers.empty()) return absl::OkStatus();
  const pg::Statement statement = StoreAnswersStatement(answers);
  return connection.Execute(*statement.query, statement.params).status();
}

absl::StatusOr<int64_t> PruneKeys(pg::Pool& pool, absl::Time cutoff, int limit) {
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool.Acquire());
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result result,
      connection->Execute(kPruneKeys, pg::Params().Add(cutoff).Add(static_cast<int64_t>(limit))));
  return result.affected_rows();
}

}  // namespace loyalty::idempotency
