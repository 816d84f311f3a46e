#pragma once

// Idempotent mutations by request_id (AIP-155; DESIGN.md section 4).
//
// RunIdempotent runs a mutation and stores its serialized answer in the service's
// `idempotency_keys` table in the SAME transaction as the mutation's own writes, so an
// acknowledged answer and its effect are committed together or not at all:
//   - same key, same payload: the stored answer again, and no second effect;
//   - same key, other payload (or another method): INVALID_ARGUMENT, IDEMPOTENCY_KEY_REUSED;
//   - failed calls store nothing, so they may be retried with the same key.
// Concurrent calls with one key are serialized by a transaction-scoped advisory lock on the key,
// so the second one waits and then replays the first one's answer.
//
// Each service's migrations create the table (see members-svc/migrations/0003_*.sql).

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/pg/pool.h"
#include "google/protobuf/message.h"

namespace loyalty::idempotency {

struct Call {
  // Namespace of keys, e.g. the program id; keys of different scopes never collide.
  std::string scope;
  std::string request_id;
  // Full RPC name, e.g. "loyalty.members.v1.MembersService/EnrollMember".
  std::string method;
  // RequestHash() of the request.
  std::string request_hash;
  absl::Time now;
};

// SHA-256 (hex) over the method and the request's deterministic serialization with its
// `request_id` field cleared, so a retry carrying the same payload hashes the same.
std::string RequestHash(std::string_view method, const google::protobuf::Message& request);

namespace internal {
// Runs `body` and records its answer, or replays a stored answer into `response`.
absl::Status Run(pg::Pool& pool, const Call& call, google::protobuf::Message& response,
                 absl::FunctionRef<absl::Status(pg::Connection&)> body);
}  // namespace internal

// `body` runs inside the transaction and returns the answer. Errors: IDEMPOTENCY_KEY_REUSED as
// above, plus whatever `body` or the database returns.
template <typename Response>
absl::StatusOr<Response> RunIdempotent(
    pg::Pool& pool, const Call& call,
    absl::FunctionRef<absl::StatusOr<Response>(pg::Connection&)> body) {
  Response response;
  absl::Status status = internal::Run(pool, call, response, [&](pg::Connection& connection) {
    absl::StatusOr<Response> answer = body(connection);
    if (!answer.ok()) return answer.status();
    response = *std::move(answer);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return response;
}

// --- Batches (group commit): the same rules for many calls in one transaction -------------

// What a key already holds.
struct StoredAnswer {
  std::string method;
  std::string request_hash;
  std::string response;  // Serialized.
};

// Locks the keys of all `calls` (always in one order, so concurrent batches cannot deadlock on
// them) and returns, by index, what each key already holds.
absl::StatusOr<std::vector<std::optional<StoredAnswer>>> LockAndFind(
    pg::Connection& connection, std::span<const Call* const> calls);

// What a retry of `call` gets from its stored answer: the answer parsed into `response`, or
// INVALID_ARGUMENT IDEMPOTENCY_KEY_REUSED when the key was used for another request.
absl::Status Replay(const Call& call, const StoredAnswer& stored,
                    google::protobuf::Message& response);

// Stores the serialized answers of calls (keys locked by LockAndFind) in one statement.
absl::Status StoreAnswers(pg::Connection& connection,
                          std::span<const std::pair<const Call*, std::string>> answers);

// The same as statements, to send in one pipeline with others (pg::Connection::ExecutePipeline):
// LockAndFind's two statements, the reading of the second one's result, and StoreAnswers'.
std::vector<pg::Statement> LockAndFindStatements(std::span<const Call* const> calls);
std::vector<std::optional<StoredAnswer>> ParseFound(const pg::Result& found, size_t calls);
pg::Statement StoreAnswersStatement(std::span<const std::pair<const Call*, std::string>> answers);

// Deletes keys created before `cutoff`, at most `limit` rows; returns how many went.
absl::StatusOr<int64_t> PruneKeys(pg::Pool& pool, absl::Time cutoff, int limit);

}  // namespace loyalty::idempotency
