#pragma once

// The named SQL of the outbox (producer side) and of event consumers. Tables: docs/events.md.

#include "common/pg/query.h"

namespace loyalty::events::queries {

// One row per array element, in input order, without a sequence: they are numbered in that order
// after the transaction committed (outbox.h: why sequence order stays commit order).
inline constexpr pg::Query kAppendEvents{
    "outbox_append",
    "INSERT INTO outbox_events (event_id, program_id, aggregate_type, aggregate_id, event_type, "
    "payload, occur_time, traceparent) "
    "SELECT e.id, e.program, e.agg_type, e.agg_id, e.type, e.payload, e.occur, e.trace "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], "
    "$7::timestamptz[], $8::text[]) WITH ORDINALITY "
    "AS e(id, program, agg_type, agg_id, type, payload, occur, trace, n) ORDER BY e.n"};

// One numbering round (sql/0004_number_after_commit.sql): up to $1 committed events numbered; 0
// when none was waiting, -1 when $2 is false and another round holds the lock.
inline constexpr pg::Query kNumberCommitted{"outbox_number_committed",
                                            "SELECT outbox_number_committed($1, $2) AS numbered"};

// Sent by a listener's notifier (listener.h) on its own connection, in autocommit; one channel
// for every schema, the payload names it.
inline constexpr pg::Query kNotifyOutbox{"outbox_notify",
                                         "SELECT pg_notify('loyalty_outbox', current_schema())"};

// The head (highest committed sequence) and, in the same snapshot, up to $4 events after $1 and
// at most $2 past it whose type is one of $3 (any type when $3 is empty). Always one row at
// least: the head, with NULL event columns when no event matched.
inline constexpr pg::Query kReadPage{
    "outbox_read_page",
    "WITH h AS (SELECT COALESCE(max(sequence), 0) AS head FROM outbox_events) "
    "SELECT h.head, e.sequence, e.event_id, e.program_id, e.aggregate_type, e.aggregate_id, "
    "e.event_type, e.payload, e.occur_time, e.traceparent FROM h LEFT JOIN LATERAL ("
    "SELECT * FROM outbox_events o WHERE o.sequence > $1 AND o.sequence <= LEAST(h.head, $1 + $2) "
    "AND (cardinality($3::text[]) = 0 OR o.event_type = ANY($3::text[])) "
    "ORDER BY o.sequence LIMIT $4) e ON true ORDER BY e.sequence"};

inline constexpr pg::Query kRegisterConsumer{
    "outbox_register_consumer",
    "INSERT INTO outbox_consumers (consumer, after_sequence, subscribe_time) VALUES ($1, $2, $3) "
    "ON CONFLICT (consumer) DO UPDATE SET after_sequence = EXCLUDED.after_sequence, "
    "subscribe_time = EXCLUDED.subscribe_time"};

// The consumers that have not subscribed since $1: pruning stops waiting for them.
inline constexpr pg::Query kForgetConsumers{
    "outbox_forget_consumers",
    "DELETE FROM outbox_consumers WHERE subscribe_time < $1 "
    "RETURNING consumer, after_sequence, subscribe_time"};

// Up to $2 events older than $1 that every known consumer has passed, oldest first.
inline constexpr pg::Query kPruneEvents{
    "outbox_prune",
    "DELETE FROM outbox_events WHERE sequence IN (SELECT sequence FROM outbox_events "
    "WHERE sequence <= COALESCE((SELECT min(after_sequence) FROM outbox_consumers), "
    "9223372036854775807) AND occur_time < $1 ORDER BY sequence LIMIT $2)"};

// --- Consumer side ---------------------------------------------------------------------------

inline constexpr pg::Query kLoadCursor{"event_load_cursor",
                                       "SELECT last_sequence FROM event_cursors WHERE stream = $1"};

// One row per event not applied before (RETURNING tells which), in one statement.
inline constexpr pg::Query kMarkApplied{
    "event_mark_applied",
    "INSERT INTO applied_events (stream, event_id, sequence, apply_time) "
    "SELECT $1, a.id, a.seq, $4 FROM unnest($2::text[], $3::bigint[]) AS a(id, seq) "
    "ON CONFLICT DO NOTHING RETURNING event_id"};

inline constexpr pg::Query kAdvanceCursor{
    "event_advance_cursor",
    "INSERT INTO event_cursors (stream, last_sequence, update_time) VALUES ($1, $2, $3) "
    "ON CONFLICT (stream) DO UPDATE SET "
    "last_sequence = GREATEST(event_cursors.last_sequence, EXCLUDED.last_sequence), "
    "update_time = EXCLUDED.update_time"};

// Up to $3 ids of `stream` applied before $2 and at or below its cursor, oldest first.
inline constexpr pg::Query kPruneApplied{
    "event_prune_applied",
    "DELETE FROM applied_events WHERE stream = $1 AND event_id IN (SELECT a.event_id "
    "FROM applied_events a JOIN event_cursors c ON c.stream = a.stream WHERE a.stream = $1 "
    "AND a.sequence <= c.last_sequence AND a.apply_time < $2 ORDER BY a.sequence LIMIT $3)"};

}  // namespace loyalty::events::queries
