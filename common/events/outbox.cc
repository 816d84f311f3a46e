#include "common/events/outbox.h"

#include <functional>

#include "absl/strings/str_format.h"
#include "common/check.h"
#include "common/events/listener.h"
#include "common/events/queries.h"
#include "common/json/json_print.h"
#include "common/log/trace.h"
#include "common/pg/array.h"
#include "common/random.h"
#include "common/rpc/proto_time.h"
#include "common/status/macros.h"

namespace loyalty::events {

OutboxEvent MakeEvent(const std::string& program_id, const std::string& aggregate_type,
                      const std::string& aggregate_id, const google::protobuf::Message& payload,
                      absl::Time occur_time) {
  OutboxEvent event{.program_id = program_id,
                    .aggregate_type = aggregate_type,
                    .aggregate_id = aggregate_id,
                    .event_type = payload.GetDescriptor()->full_name(),
                    .occur_time = occur_time};
  // 128 random bits in hex: unique without coordination between replicas.
  event.event_id = absl::StrFormat("%016x%016x", SecureRandomUint64(), SecureRandomUint64());
  absl::StatusOr<std::string> json = json::PrintJson(payload);
  LOYALTY_CHECK(json.ok());
  event.payload_json = *std::move(json);
  if (const log::TraceContext* trace = log::CurrentTraceContext(); trace != nullptr) {
    event.traceparent = log::FormatTraceParent(*trace);
  }
  return event;
}

namespace {

// After COMMIT, has the process's listener of the connection's schema number the events and wake
// the streams (listener.h).
std::function<void()> WakeStreams(const pg::Connection& connection) {
  return [schema = connection.schema()] { OutboxCommitted(schema); };
}

std::vector<pg::Statement> InsertStatements(std::span<const OutboxEvent> events) {
  LOYALTY_CHECK(!events.empty() && events.size() <= static_cast<size_t>(kAppendBatchMax));
  pg::ArrayLiteral ids, programs, aggregate_types, aggregate_ids, types, payloads, times, traces;
  for (const OutboxEvent& event : events) {
    ids.Add(event.event_id);
    programs.Add(event.program_id);
    aggregate_types.Add(event.aggregate_type);
    aggregate_ids.Add(event.aggregate_id);
    types.Add(event.event_type);
    payloads.Add(event.payload_json);
    times.Add(event.occur_time);
    traces.AddOptional(event.traceparent);
  }
  std::vector<pg::Statement> statements;
  statements.push_back({&queries::kAppendEvents, pg::Params()
                                                     .Add(ids.Build())
                                                     .Add(programs.Build())
                                                     .Add(aggregate_types.Build())
                                                     .Add(aggregate_ids.Build())
                                                     .Add(types.Build())
                                                     .Add(payloads.Build())
                                                     .Add(times.Build())
                                                     .Add(traces.Build())});
  return statements;
}

}  // namespace

std::vector<pg::Statement> AppendStatements(pg::PipelinedTransaction& transaction,
                                            std::span<const OutboxEvent> events) {
  transaction.AfterCommit(WakeStreams(transaction.connection()));
  return InsertStatements(events);
}

absl::Status AppendEvents(pg::Connection& connection, std::span<const OutboxEvent> events) {
  const std::vector<pg::Statement> statements = InsertStatements(events);
  LOYALTY_RETURN_IF_ERROR(connection.ExecutePipeline(statements).status());
  connection.AfterCommit(WakeStreams(connection));
  return absl::OkStatus();
}

absl::StatusOr<int64_t> NumberCommittedEvents(pg::Connection& connection, bool wait) {
  LOYALTY_CHECK(!connection.in_transaction());  // The lock lasts to the end of the transaction.
  int64_t total = 0;
  while (true) {
    LOYALTY_ASSIGN_OR_RETURN(
        pg::Result result,
        connection.Execute(queries::kNumberCommitted,
                           pg::Params().Add(int64_t{kNumberRoundMax}).Add(wait)));
    const int64_t numbered = result.Int64(0, "numbered");
    if (numbered <= 0) return total;  // Nothing left, or another round is at it.
    total += numbered;
    if (numbered < kNumberRoundMax) return total;
  }
}

namespace {

// The page of what is numbered now.
absl::StatusOr<Page> ReadNumbered(pg::Connection& connection, const PageRequest& request) {
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result rows,
      connection.Execute(queries::kReadPage, pg::Params()
                                                 .Add(request.after_sequence)
                                                 .Add(request.scan_max)
                                                 .Add(pg::TextArray(request.types))
                                                 .Add(static_cast<int64_t>(request.limit))));
  Page page;
  page.head_sequence = rows.rows() > 0 ? rows.Int64(0, "head") : 0;
  const int sequence = rows.Column("sequence");
  for (int row = 0; row < rows.rows(); ++row) {
    if (rows.IsNull(row, sequence)) continue;
    v1::Event& event = page.events.emplace_back();
    event.set_sequence(rows.Int64(row, sequence));
    event.set_event_id(rows.String(row, "event_id"));
    event.set_program(rows.String(row, "program_id"));
    event.set_aggregate_type(rows.String(row, "aggregate_type"));
    event.set_aggregate_id(rows.String(row, "aggregate_id"));
    event.set_event_type(rows.String(row, "event_type"));
    event.set_payload(rows.String(row, "payload"));
    *event.mutable_occur_time() = ToTimestamp(rows.Time(row, "occur_time"));
    event.set_traceparent(rows.OptionalString(row, "traceparent").value_or(""));
  }
  // The head is committed, and sequence order is commit order: nothing at or below it can still
  // appear, so everything up to the scan bound has been looked at unless the page filled up.
  const int64_t bound = std::min(page.head_sequence, request.after_sequence + request.scan_max);
  const bool full = static_cast<int>(page.events.size()) == request.limit;
  page.scanned_sequence =
      std::max(request.after_sequence, full ? page.events.back().sequence() : bound);
  page.more = page.scanned_sequence < page.head_sequence;
  return page;
}

}  // namespace

absl::StatusOr<Page> ReadPage(pg::Connection& connection, const PageRequest& request) {
  LOYALTY_CHECK(request.limit >= 1 && request.limit <= kPageSizeMax);
  LOYALTY_CHECK(request.after_sequence >= 0 && request.scan_max >= 1);
  LOYALTY_ASSIGN_OR_RETURN(Page page, ReadNumbered(connection, request));
  // Nothing new is numbered: maybe something committed that nobody has numbered yet (no
  // listener in this process, or its process died). Streams woken by a round skip this.
  if (page.head_sequence > request.after_sequence || connection.in_transaction()) return page;
  LOYALTY_ASSIGN_OR_RETURN(int64_t numbered, NumberCommittedEvents(connection, /*wait=*/false));
  if (numbered == 0) return page;
  // The process's other streams learn of them, and other processes' through its NOTIFY.
  OutboxCommitted(connection.schema());
  return ReadNumbered(connection, request);
}

absl::Status RegisterConsumer(pg::Connection& connection, const std::string& consumer,
                              int64_t after_sequence, absl::Time now) {
  return connection
      .Execute(queries::kRegisterConsumer, pg::Params().Add(consumer).Add(after_sequence).Add(now))
      .status();
}

absl::StatusOr<std::vector<ForgottenConsumer>> ForgetConsumers(pg::Pool& pool, absl::Time before) {
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool.Acquire());
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result rows, connection->Execute(queries::kForgetConsumers, pg::Params().Add(before)));
  std::vector<ForgottenConsumer> forgotten;
  for (int row = 0; row < rows.rows(); ++row) {
    forgotten.push_back({.consumer = rows.String(row, "consumer"),
                         .after_sequence = rows.Int64(row, "after_sequence"),
                         .subscribe_time = rows.Time(row, "subscribe_time")});
  }
  return forgotten;
}

absl::StatusOr<int64_t> PruneEvents(pg::Pool& pool, absl::Time cutoff, int limit) {
  LOYALTY_CHECK(limit >= 1);
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool.Acquire());
  LOYALTY_ASSIGN_OR_RETURN(
      pg::Result result,
      connection->Execute(queries::kPruneEvents,
                          pg::Params().Add(cutoff).Add(static_cast<int64_t>(limit))));
  return result.affected_rows();
}

}  // namespace loyalty::events
