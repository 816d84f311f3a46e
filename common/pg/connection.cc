#include "common/pg/connection.h"

#include <poll.h>

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/pg/sqlstate.h"
#include "common/status/error.h"
#include "libpq-fe.h"

namespace loyalty::pg {
namespace {

bool IsPlainIdentifier(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return !(name.front() >= '0' && name.front() <= '9');
}

std::vector<const char*> ParamValues(const Params& params) {
  std::vector<const char*> values;
  values.reserve(params.values().size());
  for (const std::optional<std::string>& value : params.values()) {
    values.push_back(value.has_value() ? value->c_str() : nullptr);
  }
  return values;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const ConnectionOptions& options) {
  LOYALTY_CHECK(IsPlainIdentifier(options.schema));
  const std::string session_options =
      absl::StrCat("-c statement_timeout=", options.statement_timeout_ms,
                   " -c search_path=", options.schema, " -c TimeZone=UTC -c DateStyle=ISO");
  const std::string connect_timeout = std::to_string(options.connect_timeout_seconds);
  // dbname is expanded (expand_dbname=1), so a full URI or conninfo string works there; the
  // keywords after it override whatever the string says about the same settings.
  const char* keywords[] = {"dbname",     "options",         "application_name", "connect_timeout",
                            "keepalives", "keepalives_idle", "client_encoding",  nullptr};
  const char* values[] = {options.conninfo.c_str(),
                          session_options.c_str(),
                          options.application_name.c_str(),
                          connect_timeout.c_str(),
                          "1",
                          "30",
                          "UTF8",
                          nullptr};
  pg_conn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (conn == nullptr) {
    return ErrorWithReason(absl::StatusCode::kUnavailable, "DATABASE_UNAVAILABLE",
                           "out of memory opening a database connection");
  }
  if (PQstatus(conn) != CONNECTION_OK) {
    // libpq's message can contain the host and user but not the password; keep it for operators.
    std::string message = PQerrorMessage(conn);
    PQfinish(conn);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
      message.pop_back();
    }
    return ErrorWithReason(absl::StatusCode::kUnavailable, "DATABASE_UNAVAILABLE",
                           absl::StrCat("cannot connect to the database: ", message));
  }
  return std::unique_ptr<Connection>(new Connection(conn, options.schema));
}

Connection::~Connection() { PQfinish(conn_); }

void Connection::AfterCommit(std::function<void()> callback) {
  if (in_transaction()) {
    after_commit_.push_back(std::move(callback));
  } else {
    callback();
  }
}

int Connection::backend_pid() const { return PQbackendPID(conn_); }

bool Connection::broken() const { return broken_ || PQstatus(conn_) != CONNECTION_OK; }

bool Connection::in_transaction() const {
  const PGTransactionStatusType status = PQtransactionStatus(conn_);
  return status == PQTRANS_INTRANS || status == PQTRANS_INERROR;
}

absl::StatusOr<Result> Connection::CheckResult(pg_result* raw, std::string_view query_name) {
  if (raw == nullptr) {
    broken_ = true;
    return ConnectionLostStatus(query_name);
  }
  Result result(raw);
  const ExecStatusType status = PQresultStatus(raw);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY) {
    return result;
  }
  const char* sqlstate = PQresultErrorField(raw, PG_DIAG_SQLSTATE);
  if (sqlstate == nullptr || PQstatus(conn_) != CONNECTION_OK) {
    // No SQLSTATE means the error came from libpq itself: the connection is gone.
    broken_ = true;
    return ConnectionLostStatus(query_name);
  }
  const char* constraint = PQresultErrorField(raw, PG_DIAG_CONSTRAINT_NAME);
  return SqlStateToStatus(sqlstate, query_name, constraint == nullptr ? "" : constraint);
}

absl::Status Connection::Prepare(const Query& query) {
  auto it = prepared_.find(absl::string_view(query.name.data(), query.name.size()));
  if (it != prepared_.end()) {
    // Two different statements under one name would silently run the wrong SQL.
    LOYALTY_CHECK(it->second == query.sql.data());
    return absl::OkStatus();
  }
  const std::string name(query.name);
  const std::string sql(query.sql);
  absl::StatusOr<Result> result =
      CheckResult(PQprepare(conn_, name.c_str(), sql.c_str(), 0, nullptr), query.name);
  if (!result.ok()) return result.status();
  prepared_.emplace(name, query.sql.data());
  return absl::OkStatus();
}

absl::StatusOr<Result> Connection::Execute(const Query& query, const Params& params) {
  if (absl::Status prepared = Prepare(query); !prepared.ok()) return prepared;
  const std::vector<const char*> values = ParamValues(params);
  const std::string name(query.name);
  return CheckResult(PQexecPrepared(conn_, name.c_str(), params.size(), values.data(), nullptr,
                                    nullptr, /*resultFormat=*/0),
                     query.name);
}

absl::StatusOr<std::vector<Result>> Connection::ExecutePipeline(
    std::span<const Statement> statements) {
  return ExecutePipeline(statements, {}, {});
}

absl::StatusOr<std::vector<Result>> Connection::ExecutePipeline(
    std::span<const Statement> statements, std::span<const std::string> before,
    std::span<const std::string> after) {
  for (const Statement& statement : statements) {
    if (absl::Status prepared = Prepare(*statement.query); !prepared.ok()) return prepared;
  }
  std::string_view failed_at = "pipeline";
  if (PQenterPipelineMode(conn_) != 1) {
    broken_ = true;
    return ConnectionLostStatus(failed_at);
  }
  // Control statements go through the unnamed statement: parsing BEGIN or COMMIT costs nothing.
  auto send_control = [&](std::span<const std::string> sqls) {
    for (const std::string& sql : sqls) {
      if (PQsendQueryParams(conn_, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr,
                            /*resultFormat=*/0) != 1) {
        failed_at = sql;
        return false;
      }
    }
    return true;
  };
  bool sent = send_control(before);
  for (size_t i = 0; sent && i < statements.size(); ++i) {
    const Statement& statement = statements[i];
    const std::vector<const char*> values = ParamValues(statement.params);
    const std::string name(statement.query->name);
    if (PQsendQueryPrepared(conn_, name.c_str(), statement.params.size(), values.data(), nullptr,
                            nullptr, /*resultFormat=*/0) != 1) {
      sent = false;
      failed_at = statement.query->name;
    }
  }
  sent = sent && send_control(after);
  if (!sent || PQpipelineSync(conn_) != 1) {
    broken_ = true;  // The protocol state is unknown: never reuse this connection.
    return ConnectionLostStatus(failed_at);
  }
  // The results come back in the order sent, each followed by a null result. A statement after
  // a failure reports PIPELINE_ABORTED: skipped, and the earlier error is the one returned.
  std::vector<Result> results;
  results.reserve(statements.size());
  absl::Status first_error;
  auto collect = [&](std::string_view name, bool keep) -> absl::Status {
    pg_result* raw = PQgetResult(conn_);
    if (raw != nullptr && PQresultStatus(raw) == PGRES_PIPELINE_ABORTED) {
      PQclear(raw);
    } else {
      absl::StatusOr<Result> result = CheckResult(raw, name);
      if (broken_) return result.status();
      if (result.ok()) {
        if (keep) results.push_back(*std::move(result));
      } else if (first_error.ok()) {
        first_error = result.status();
      }
    }
    while (pg_result* extra = PQgetResult(conn_)) PQclear(extra);
    return absl::OkStatus();
  };
  for (const std::string& sql : before) {
    if (absl::Status lost = collect(sql, false); !lost.ok()) return lost;
  }
  for (const Statement& statement : statements) {
    if (absl::Status lost = collect(statement.query->name, true); !lost.ok()) return lost;
  }
  for (const std::string& sql : after) {
    if (absl::Status lost = collect(sql, false); !lost.ok()) return lost;
  }
  pg_result* sync = PQgetResult(conn_);
  const bool synced = sync != nullptr && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
  PQclear(sync);
  if (!synced || PQexitPipelineMode(conn_) != 1) {
    broken_ = true;
    return ConnectionLostStatus(failed_at);
  }
  if (!first_error.ok()) return first_error;
  return results;
}

absl::StatusOr<std::vector<Notification>> Connection::WaitForNotifications(absl::Duration timeout) {
  constexpr std::string_view kName = "wait_for_notifications";
  auto drain = [this]() {
    std::vector<Notification> notifications;
    while (PGnotify* notify = PQnotifies(conn_)) {
      notifications.push_back({notify->relname, notify->extra, notify->be_pid});
      PQfreemem(notify);
    }
    return notifications;
  };
  if (PQconsumeInput(conn_) != 1) {
    broken_ = true;
    return ConnectionLostStatus(kName);
  }
  std::vector<Notification> notifications = drain();
  if (!notifications.empty()) return notifications;
  pollfd descriptor{.fd = PQsocket(conn_), .events = POLLIN, .revents = 0};
  if (descriptor.fd < 0) {
    broken_ = true;
    return ConnectionLostStatus(kName);
  }
  const int64_t timeout_ms = std::clamp<int64_t>(absl::ToInt64Milliseconds(timeout), 0, 60'000);
  const int ready = poll(&descriptor, 1, static_cast<int>(timeout_ms));
  if (ready <= 0) return notifications;  // Timeout, or a signal: the caller simply waits again.
  if (PQconsumeInput(conn_) != 1) {
    broken_ = true;
    return ConnectionLostStatus(kName);
  }
  return drain();
}

absl::StatusOr<Result> Connection::ExecuteScript(std::string_view name, std::string_view sql) {
  return CheckResult(PQexec(conn_, std::string(sql).c_str()), name);
}

}  // namespace loyalty::pg
