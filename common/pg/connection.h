#pragma once

// One libpq connection (RAII) with lazily prepared named statements.
//
// Every connection is opened with the session settings the services rely on: statement_timeout
// (no statement runs unbounded), search_path set to the service's own schema (queries name tables
// without a schema, which lets tests run each case in a fresh schema), TimeZone UTC and ISO dates
// (Result::Time parses exactly that form), and TCP keepalives so a dead peer is noticed.

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/pg/params.h"
#include "common/pg/query.h"
#include "common/pg/result.h"

struct pg_conn;

namespace loyalty::pg {

struct ConnectionOptions {
  // libpq connection string or postgresql:// URI.
  std::string conninfo;
  // Schema for search_path; must be a plain lower-case identifier.
  std::string schema;
  int64_t statement_timeout_ms = 5000;
  int connect_timeout_seconds = 5;
  std::string application_name = "loyalty";
};

// An asynchronous notification (NOTIFY) received on a connection that LISTENs.
struct Notification {
  std::string channel;
  std::string payload;
  // The server process of the session that sent it (backend_pid() of the sender).
  int sender_pid = 0;
};

class Connection {
 public:
  // UNAVAILABLE (DATABASE_UNAVAILABLE) when the server cannot be reached or refuses us.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const ConnectionOptions& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs a named query, preparing it on first use on this connection. Errors are mapped by
  // SqlStateToStatus; a lost connection is UNAVAILABLE and marks the connection broken.
  absl::StatusOr<Result> Execute(const Query& query, const Params& params = {});

  // Runs the statements in order in ONE round trip (libpq pipeline mode) and returns their
  // results in order. The server runs them one after the other exactly as if sent one by one, so
  // a later statement sees what an earlier one did; only the waiting in between is saved. The
  // first failing statement's error is returned and the statements after it are not run (inside
  // a transaction, the transaction is then aborted, as with Execute).
  absl::StatusOr<std::vector<Result>> ExecutePipeline(std::span<const Statement> statements);

  // The same, with trusted control statements in the same round trip: `before` the statements
  // (e.g. BEGIN and SET LOCAL) and `after` them (e.g. COMMIT), each one SQL statement without
  // parameters, never built from input. Only the statements' results are returned; an error in
  // any of them is, and everything after it is skipped (so a failed statement skips COMMIT).
  absl::StatusOr<std::vector<Result>> ExecutePipeline(std::span<const Statement> statements,
                                                      std::span<const std::string> before,
                                                      std::span<const std::string> after);

  // Runs literal SQL without parameters (possibly several statements): only for trusted text
  // such as transaction control and migrations, never for anything built from input.
  absl::StatusOr<Result> ExecuteScript(std::string_view name, std::string_view sql);

  // Returns the notifications that arrived for this connection's LISTENs (ExecuteScript), waiting
  // up to `timeout` for the first one; an empty vector when none came. UNAVAILABLE when the
  // connection is lost (it is then broken). Only for a connection that runs no query meanwhile.
  absl::StatusOr<std::vector<Notification>> WaitForNotifications(absl::Duration timeout);

  // Runs `callback` once the transaction open on this connection has committed: Pool runs the
  // callbacks registered during a transaction attempt after its COMMIT succeeded and drops them
  // when the attempt fails. Outside a transaction block (autocommit) it runs at once.
  void AfterCommit(std::function<void()> callback);
  // The callbacks registered so far, handed over and forgotten (Pool's part).
  std::vector<std::function<void()>> TakeAfterCommit() { return std::exchange(after_commit_, {}); }

  // The process id of this connection's server process (PQbackendPID).
  int backend_pid() const;

  // The schema this connection's search_path points at.
  const std::string& schema() const { return schema_; }

  // True once the connection has failed; the pool discards it instead of reusing it.
  bool broken() const;
  // True while a transaction block is open or failed (PQtransactionStatus).
  bool in_transaction() const;

 private:
  friend class PipelinedTransaction;  // Queues callbacks before its BEGIN has been sent.
  Connection(pg_conn* conn, std::string schema) : conn_(conn), schema_(std::move(schema)) {}
  absl::Status Prepare(const Query& query);
  absl::StatusOr<Result> CheckResult(pg_result* result, std::string_view query_name);

  pg_conn* conn_;
  const std::string schema_;
  bool broken_ = false;
  std::vector<std::function<void()>> after_commit_;
  // Query name -> SQL text it was prepared with (pointer identity of the constant).
  absl::flat_hash_map<std::string, const char*> prepared_;
};

}  // namespace loyalty::pg
