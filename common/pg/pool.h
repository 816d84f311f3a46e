#pragma once

// A bounded pool of PostgreSQL connections and the transaction helper every service uses.
//
// At most `size` connections exist. Acquire waits at most `acquire_timeout` for a free one and
// then fails with UNAVAILABLE (POOL_EXHAUSTED), so a slow database turns into fast, retryable
// errors instead of piling up threads. Connections are opened lazily; a broken one is dropped
// when it is returned and its slot reopened on the next Acquire, so the pool heals after a
// database restart without a service restart.

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/check.h"
#include "common/pg/connection.h"

namespace loyalty::pg {

struct PoolOptions {
  ConnectionOptions connection;
  int size = 8;
  absl::Duration acquire_timeout = absl::Seconds(2);
};

enum class Isolation { kReadCommitted, kRepeatableRead, kSerializable };

struct TransactionOptions {
  Isolation isolation = Isolation::kReadCommitted;
  // Attempts in all, for serialization failures and deadlocks only (>= 1).
  int max_attempts = 4;
  bool read_only = false;
  // Trusted SQL run right after BEGIN in the same round trip, e.g. "SET LOCAL ..." planner
  // settings for the transaction's statements: statements separated by "; " (no ';' inside
  // one). Never built from input.
  std::string_view local_settings;
};

// For group-committed batches (DESIGN.md section 8): every statement joins unnest() of a few
// dozen keys to its tables. The planner guesses the input size and may hash- or merge-join whole
// tables instead of walking their primary keys, which on a busy ledger is a full scan per batch;
// nested loops over the indexes are what these statements need. Generic plans, so each statement
// is planned once per connection.
inline constexpr TransactionOptions kBatchTransaction{
    .local_settings =
        "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; "
        "SET LOCAL plan_cache_mode = force_generic_plan"};

class Pool;

// A transaction whose BEGIN travels with its first pipeline and whose COMMIT travels with its
// last, so a transaction of two pipelines costs two round trips instead of four. Given to the
// body of Pool::InPipelinedTransaction.
class PipelinedTransaction {
 public:
  // The statements in one round trip (Connection::ExecutePipeline); the first call also begins
  // the transaction.
  absl::StatusOr<std::vector<Result>> Execute(std::span<const Statement> statements);
  // The statements and COMMIT in one round trip: the transaction's last call.
  absl::StatusOr<std::vector<Result>> ExecuteAndCommit(std::span<const Statement> statements);
  // The transaction's connection, for what needs one (its schema, say); run nothing on it.
  const Connection& connection() const { return connection_; }
  // The connection once the first pipeline has begun the transaction, for helpers that take a
  // Connection: what they run is part of this transaction (one round trip per statement).
  Connection& begun_connection() {
    LOYALTY_CHECK(begun_ && !committed_);
    return connection_;
  }
  // Connection::AfterCommit for this transaction, also before its BEGIN has been sent.
  void AfterCommit(std::function<void()> callback) {
    connection_.after_commit_.push_back(std::move(callback));
  }

 private:
  friend class Pool;
  PipelinedTransaction(Connection& connection, std::vector<std::string> begin)
      : connection_(connection), begin_(std::move(begin)) {}
  absl::StatusOr<std::vector<Result>> Run(std::span<const Statement> statements, bool commit);

  Connection& connection_;
  std::vector<std::string> begin_;  // BEGIN and the local settings, until sent.
  bool begun_ = false;
  bool committed_ = false;
  absl::Status failure_;  // The first failed pipeline's error: the transaction is aborted.
};

// A connection on loan from the pool; returned when destroyed.
class PooledConnection {
 public:
  PooledConnection(Pool* pool, std::unique_ptr<Connection> connection)
      : pool_(pool), connection_(std::move(connection)) {}
  PooledConnection(PooledConnection&& other) noexcept = default;
  PooledConnection& operator=(PooledConnection&&) = delete;
  ~PooledConnection();

  Connection& operator*() { return *connection_; }
  Connection* operator->() { return connection_.get(); }

 private:
  Pool* pool_;
  std::unique_ptr<Connection> connection_;
};

class Pool {
 public:
  // Opens no connection yet; fails only on invalid options (INVALID_ARGUMENT).
  static absl::StatusOr<std::unique_ptr<Pool>> Create(const PoolOptions& options);
  ~Pool();

  // UNAVAILABLE with reason POOL_EXHAUSTED after acquire_timeout, or DATABASE_UNAVAILABLE when a
  // new connection cannot be opened.
  absl::StatusOr<PooledConnection> Acquire();

  // Runs `body` inside BEGIN ... COMMIT on one pooled connection. A non-OK status from `body`
  // rolls back and is returned as is. Serialization failures and deadlocks (from any statement
  // or the COMMIT) roll back and run `body` again, up to max_attempts, with a short jittered
  // pause; `body` must therefore keep no state outside the transaction between attempts.
  // If the connection is lost during COMMIT the outcome is unknown: UNAVAILABLE is returned and
  // the caller's idempotency key makes the retry safe.
  absl::Status InTransaction(const TransactionOptions& options,
                             absl::FunctionRef<absl::Status(Connection&)> body);
  absl::Status InTransaction(absl::FunctionRef<absl::Status(Connection&)> body) {
    return InTransaction(TransactionOptions{}, body);
  }

  // InTransaction for a body that talks in pipelines: BEGIN goes with its first pipeline and
  // COMMIT with the one it sends through ExecuteAndCommit (or, if it never does, alone after
  // it returns OK). Rollback, retries and their conditions are those of InTransaction.
  absl::Status InPipelinedTransaction(const TransactionOptions& options,
                                      absl::FunctionRef<absl::Status(PipelinedTransaction&)> body);

  int size() const { return options_.size; }
  // Connections currently open (idle plus lent out), for metrics and tests.
  int open_connections() const;

 private:
  friend class PooledConnection;
  explicit Pool(const PoolOptions& options) : options_(options) {}
  void Release(std::unique_ptr<Connection> connection);
  // The retry loop of both transaction forms: `attempt` runs one whole transaction on a pooled
  // connection; a failed one is rolled back, and retried when retryable.
  absl::Status RunAttempts(const TransactionOptions& options,
                           absl::FunctionRef<absl::Status(Connection&)> attempt);

  const PoolOptions options_;
  mutable absl::Mutex mutex_;
  std::deque<std::unique_ptr<Connection>> idle_ ABSL_GUARDED_BY(mutex_);
  int open_ ABSL_GUARDED_BY(mutex_) = 0;
};

}  // namespace loyalty::pg
