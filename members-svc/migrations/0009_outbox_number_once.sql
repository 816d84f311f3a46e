-- The outbox numbers a transaction's events with one statement instead of one per event
-- (docs/events.md): the first event's trigger, at COMMIT and under the outbox lock, numbers every
-- row the transaction inserted, in insertion order, and the later events' triggers find theirs
-- numbered (a transaction-local setting says so, without a lookup). A transaction's rows are those
-- from its first row on that have no sequence: rows of transactions still running are invisible
-- to it, and committed rows were numbered at their commit. Every service's migrations carry this
-- file as is.
CREATE OR REPLACE FUNCTION outbox_number_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  first_sequence bigint;
  numbered bigint;
BEGIN
  IF current_setting('loyalty.outbox_numbered', true) = 'yes' THEN
    RETURN NULL;
  END IF;
  PERFORM set_config('loyalty.outbox_numbered', 'yes', true);
  -- The two-int4 key form never collides with the int8 keys of idempotency.
  PERFORM pg_advisory_xact_lock(hashtext('loyalty.outbox'), hashtext(current_schema()));
  -- Under the lock nobody else draws from the sequence: this block of numbers is ours.
  first_sequence := nextval('outbox_events_sequence_seq');
  UPDATE outbox_events o SET sequence = first_sequence + own.n - 1
    FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM outbox_events
           WHERE id >= NEW.id AND sequence IS NULL) own
   WHERE o.id = own.id;
  GET DIAGNOSTICS numbered = ROW_COUNT;
  IF numbered > 1 THEN
    PERFORM setval('outbox_events_sequence_seq', first_sequence + numbered - 1);
  END IF;
  RETURN NULL;
END
$$;
