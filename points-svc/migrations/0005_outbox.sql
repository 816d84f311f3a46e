-- The outbox of points-svc's events (common/events, docs/events.md): the canonical DDL of
-- common/events/sql/0001_outbox.sql.

-- One row per event, written in the same transaction as the change it describes. `sequence` is
-- the stream position, drawn at COMMIT: a deferred trigger takes the schema's outbox lock and
-- numbers the transaction's rows in insertion order, and the lock is held until the commit is
-- done, so sequences commit in order and a reader of `sequence > cursor` never skips one, while
-- the lock covers only the commit itself. Other transactions never see a row without one.
CREATE TABLE outbox_events (
  id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sequence       bigint      UNIQUE,
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
CREATE SEQUENCE outbox_events_sequence_seq;

CREATE FUNCTION outbox_number_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- The two-int4 key form never collides with the int8 keys of idempotency.
  PERFORM pg_advisory_xact_lock(hashtext('loyalty.outbox'), hashtext(current_schema()));
  UPDATE outbox_events SET sequence = nextval('outbox_events_sequence_seq') WHERE id = NEW.id;
  RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER outbox_events_number AFTER INSERT ON outbox_events
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION outbox_number_event();

-- The consumers that subscribed, with the cursor each last subscribed from: pruning deletes no
-- event above the smallest of them.
CREATE TABLE outbox_consumers (
  consumer       text        PRIMARY KEY,
  after_sequence bigint      NOT NULL CHECK (after_sequence >= 0),
  subscribe_time timestamptz NOT NULL
);
