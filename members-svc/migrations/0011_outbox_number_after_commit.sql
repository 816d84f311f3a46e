-- Events are numbered after their transaction committed, not at its COMMIT (docs/events.md,
-- "Numbering after commit"). Numbering at COMMIT held the schema's outbox lock through the
-- commit's WAL flush, so one service's event-writing transactions flushed one at a time: with a
-- 3.7 ms fdatasync that capped a service at about 270 such commits a second, however idle the
-- CPU. Now a transaction only inserts its events, without a sequence, and
-- outbox_number_committed() numbers every committed row that has none, in id (insertion) order,
-- under the lock, in a short transaction of its own that one process's listener runs after each
-- commit and every page read runs before reading. Rounds hold the lock to the end of their own
-- commit, so they become visible one after the other with increasing numbers: a reader of
-- `sequence > cursor` still never skips one, and a round's flush is shared by every event it
-- numbers. Every service's migrations carry this file as is.
DROP TRIGGER outbox_events_number ON outbox_events;
DROP FUNCTION outbox_number_event();

-- Fewer index entries per event: a row enters the unnumbered index at its insert and the
-- sequence index at its numbering, nothing else. Rounds find their rows by ctid, and readers,
-- pruning and max(sequence) use the sequence index (`sequence > x` implies NOT NULL).
ALTER TABLE outbox_events DROP CONSTRAINT outbox_events_pkey;
ALTER TABLE outbox_events DROP CONSTRAINT outbox_events_sequence_key;
CREATE UNIQUE INDEX outbox_events_sequence_idx ON outbox_events (sequence)
  WHERE sequence IS NOT NULL;
-- The rows still waiting for a number: the few committed since the last round.
CREATE INDEX outbox_events_unnumbered_idx ON outbox_events (id) WHERE sequence IS NULL;

-- Numbers up to max_rows committed events in id order and returns how many it numbered; 0 when
-- there was none, and -1 without waiting when `wait` is false and another round holds the lock
-- (that round numbers them). Call it outside a transaction block: the lock is held to the end of
-- the caller's transaction. VOLATILE, so under READ COMMITTED each statement below sees every
-- commit before it, the UPDATE every commit before the lock.
CREATE FUNCTION outbox_number_committed(max_rows integer, wait boolean) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  next_sequence bigint;
  numbered bigint;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM outbox_events WHERE sequence IS NULL) THEN
    RETURN 0;
  END IF;
  -- The two-int4 key form never collides with the int8 keys of idempotency.
  IF wait THEN
    PERFORM pg_advisory_xact_lock(hashtext('loyalty.outbox'), hashtext(current_schema()));
  ELSIF NOT pg_try_advisory_xact_lock(hashtext('loyalty.outbox'), hashtext(current_schema())) THEN
    RETURN -1;
  END IF;
  -- Only rounds draw from the sequence, and only under the lock: the numbers from next_sequence
  -- on are ours, and none is spent when the round finds nothing left.
  SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END INTO next_sequence
    FROM outbox_events_sequence_seq;
  UPDATE outbox_events o SET sequence = next_sequence + own.n - 1
    FROM (SELECT ctid AS row_ctid, row_number() OVER (ORDER BY id) AS n FROM outbox_events
           WHERE sequence IS NULL ORDER BY id LIMIT max_rows) own
   WHERE o.ctid = own.row_ctid;
  GET DIAGNOSTICS numbered = ROW_COUNT;
  IF numbered > 0 THEN
    PERFORM setval('outbox_events_sequence_seq', next_sequence + numbered - 1, true);
  END IF;
  RETURN numbered;
END
$$;
