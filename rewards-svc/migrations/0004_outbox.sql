-- The outbox of rewards-svc's events (common/events, docs/events.md): the canonical DDL of
-- common/events/sql/0001_outbox.sql.

-- One row per event, written in the same transaction as the change it describes. `sequence` is
-- the stream position: appenders hold the schema's outbox lock from drawing it until they
-- commit, so sequences commit in order and a reader of `sequence > cursor` never skips one.
CREATE TABLE outbox_events (
  sequence       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id       text        NOT NULL,
  program_id     text        NOT NULL,
  aggregate_type text        NOT NULL,
  aggregate_id   text        NOT NULL,
  event_type     text        NOT NULL,
  -- The payload message in canonical proto3 JSON, kept byte for byte.
  payload        text        NOT NULL,
  occur_time     timestamptz NOT NULL,
  traceparent    text
);

-- The consumers that subscribed, with the cursor each last subscribed from: pruning deletes no
-- event above the smallest of them.
CREATE TABLE outbox_consumers (
  consumer       text        PRIMARY KEY,
  after_sequence bigint      NOT NULL CHECK (after_sequence >= 0),
  subscribe_time timestamptz NOT NULL
);
