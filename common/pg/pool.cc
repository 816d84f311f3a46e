#include "common/pg/pool.h"

#include <algorithm>
#include <functional>
#include <string>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/check.h"
#include "common/pg/sqlstate.h"
#include "common/status/error.h"

namespace loyalty::pg {
namespace {

constexpr int kPoolSizeMax = 1000;
constexpr int kTransactionAttemptsMax = 10;

std::string_view BeginStatement(const TransactionOptions& options) {
  if (options.read_only) {
    switch (options.isolation) {
      case Isolation::kReadCommitted:
        return "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY";
      case Isolation::kRepeatableRead:
        return "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
      case Isolation::kSerializable:
        return "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY";
    }
  }
  switch (options.isolation) {
    case Isolation::kReadCommitted:
      return "BEGIN ISOLATION LEVEL READ COMMITTED";
    case Isolation::kRepeatableRead:
      return "BEGIN ISOLATION LEVEL REPEATABLE READ";
    case Isolation::kSerializable:
      return "BEGIN ISOLATION LEVEL SERIALIZABLE";
  }
  LOYALTY_CHECK(false);
  return "";
}

}  // namespace

PooledConnection::~PooledConnection() {
  if (connection_ != nullptr) pool_->Release(std::move(connection_));
}

absl::StatusOr<std::unique_ptr<Pool>> Pool::Create(const PoolOptions& options) {
  if (options.size < 1 || options.size > kPoolSizeMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("pool size must be in [1, ", kPoolSizeMax, "], got ", options.size));
  }
  if (options.acquire_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("pool acquire timeout must be positive");
  }
  return std::unique_ptr<Pool>(new Pool(options));
}

Pool::~Pool() {
  absl::MutexLock lock(&mutex_);
  // Every loan must be back: a PooledConnection outliving its pool is a programmer error.
  LOYALTY_CHECK(static_cast<int>(idle_.size()) == open_);
}

int Pool::open_connections() const {
  absl::MutexLock lock(&mutex_);
  return open_;
}

absl::StatusOr<PooledConnection> Pool::Acquire() {
  {
    absl::MutexLock lock(&mutex_);
    auto can_proceed = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
      return !idle_.empty() || open_ < options_.size;
    };
    if (!mutex_.AwaitWithTimeout(absl::Condition(&can_proceed), options_.acquire_timeout)) {
      return ErrorWithReason(absl::StatusCode::kUnavailable, "POOL_EXHAUSTED",
                             absl::StrCat("no database connection free within ",
                                          absl::FormatDuration(options_.acquire_timeout)),
                             {{"pool_size", std::to_string(options_.size)}});
    }
    if (!idle_.empty()) {
      std::unique_ptr<Connection> connection = std::move(idle_.front());
      idle_.pop_front();
      return PooledConnection(this, std::move(connection));
    }
    ++open_;  // Reserve the slot; connect outside the lock.
  }
  absl::StatusOr<std::unique_ptr<Connection>> connection = Connection::Open(options_.connection);
  if (!connection.ok()) {
    absl::MutexLock lock(&mutex_);
    --open_;
    return connection.status();
  }
  return PooledConnection(this, *std::move(connection));
}

void Pool::Release(std::unique_ptr<Connection> connection) {
  // Callbacks of a transaction run outside InTransaction never fire in a later borrower's.
  (void)connection->TakeAfterCommit();
  // A connection still inside a transaction (the body leaked it) cannot be reused safely.
  const bool reusable = !connection->broken() && !connection->in_transaction();
  if (!reusable) connection.reset();
  absl::MutexLock lock(&mutex_);
  if (reusable) {
    idle_.push_back(std::move(connection));
  } else {
    --open_;
  }
}

absl::Status Pool::RunAttempts(const TransactionOptions& options,
                               absl::FunctionRef<absl::Status(Connection&)> attempt) {
  LOYALTY_CHECK(options.max_attempts >= 1 && options.max_attempts <= kTransactionAttemptsMax);
  absl::BitGen random;
  absl::Status status;
  for (int n = 1; n <= options.max_attempts; ++n) {
    if (n > 1) {
      // Back off up to 5 ms, then up to 4x more per attempt, capped at 100 ms: long enough for
      // the conflicting transaction to finish, short against any RPC deadline.
      const int backoff_ms_max = std::min(5 << (2 * (n - 2)), 100);
      absl::SleepFor(absl::Milliseconds(absl::Uniform(random, 1, backoff_ms_max + 1)));
    }
    absl::StatusOr<PooledConnection> connection = Acquire();
    if (!connection.ok()) return connection.status();
    Connection& conn = **connection;
    status = attempt(conn);
    // What was to follow this attempt's commit runs only if it committed.
    std::vector<std::function<void()>> after_commit = conn.TakeAfterCommit();
    if (status.ok()) {
      for (std::function<void()>& callback : after_commit) callback();
      return status;
    }
    if (!conn.broken() && conn.in_transaction()) {
      // Best effort: if ROLLBACK fails the connection is broken and Release drops it.
      (void)conn.ExecuteScript("rollback", "ROLLBACK");
    }
    if (!IsRetryableTransactionError(status)) return status;
  }
  return status;
}

absl::Status Pool::InTransaction(const TransactionOptions& options,
                                 absl::FunctionRef<absl::Status(Connection&)> body) {
  return RunAttempts(options, [&](Connection& conn) -> absl::Status {
    std::string begin(BeginStatement(options));
    if (!options.local_settings.empty()) begin.append("; ").append(options.local_settings);
    if (absl::StatusOr<Result> begun = conn.ExecuteScript("begin", begin); !begun.ok()) {
      return begun.status();
    }
    if (absl::Status status = body(conn); !status.ok()) return status;
    return conn.ExecuteScript("commit", "COMMIT").status();
  });
}

absl::Status Pool::InPipelinedTransaction(
    const TransactionOptions& options,
    absl::FunctionRef<absl::Status(PipelinedTransaction&)> body) {
  std::vector<std::string> begin = {std::string(BeginStatement(options))};
  if (!options.local_settings.empty()) {
    for (absl::string_view setting : absl::StrSplit(
             absl::string_view(options.local_settings.data(), options.local_settings.size()), ';',
             absl::SkipWhitespace())) {
      begin.emplace_back(absl::StripAsciiWhitespace(setting));
    }
  }
  return RunAttempts(options, [&](Connection& conn) -> absl::Status {
    PipelinedTransaction transaction(conn, begin);
    if (absl::Status status = body(transaction); !status.ok()) return status;
    // A failed pipeline aborted the transaction even if the body went on regardless.
    if (!transaction.failure_.ok()) return transaction.failure_;
    if (transaction.committed_ || !transaction.begun_) return absl::OkStatus();
    return transaction.ExecuteAndCommit({}).status();
  });
}

absl::StatusOr<std::vector<Result>> PipelinedTransaction::Execute(
    std::span<const Statement> statements) {
  return Run(statements, /*commit=*/false);
}

absl::StatusOr<std::vector<Result>> PipelinedTransaction::ExecuteAndCommit(
    std::span<const Statement> statements) {
  return Run(statements, /*commit=*/true);
}

absl::StatusOr<std::vector<Result>> PipelinedTransaction::Run(std::span<const Statement> statements,
                                                              bool commit) {
  LOYALTY_CHECK(!committed_);  // Nothing runs after COMMIT.
  static const std::string kCommit[] = {"COMMIT"};
  std::span<const std::string> before;
  if (!begun_) before = begin_;
  begun_ = true;
  absl::StatusOr<std::vector<Result>> results = connection_.ExecutePipeline(
      statements, before,
      commit ? std::span<const std::string>(kCommit) : std::span<const std::string>());
  if (!results.ok() && failure_.ok()) failure_ = results.status();
  committed_ = commit && results.ok();
  return results;
}

}  // namespace loyalty::pg
