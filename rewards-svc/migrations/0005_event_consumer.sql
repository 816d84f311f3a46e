-- rewards-svc as a consumer of events (common/events/consumer.h, docs/events.md): the canonical
-- DDL of common/events/sql/0002_event_consumer.sql.

-- Where each subscription stands: every event up to last_sequence has been applied (or was of a
-- type it does not want).
CREATE TABLE event_cursors (
  stream        text        PRIMARY KEY,
  last_sequence bigint      NOT NULL,
  update_time   timestamptz NOT NULL
);

-- The ids of the events applied, written in the same transaction as their effect: a redelivered
-- event finds its id and has no second effect.
CREATE TABLE applied_events (
  stream     text        NOT NULL,
  event_id   text        NOT NULL,
  sequence   bigint      NOT NULL,
  apply_time timestamptz NOT NULL,
  PRIMARY KEY (stream, event_id)
);
-- Pruning walks the oldest ids first.
CREATE INDEX applied_events_sequence_idx ON applied_events (stream, sequence);
