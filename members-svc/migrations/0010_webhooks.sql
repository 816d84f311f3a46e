-- Webhooks for merchant systems (docs/webhooks.md): per program, HTTP endpoints with a signing
-- secret and the event types they want, and one delivery row per event and endpoint, queued in
-- the same transaction that records the event as consumed (exactly once into the queue) and sent
-- at least once by the dispatcher (rpc/webhook_dispatcher.h).

CREATE TABLE webhook_endpoints (
  program_id  text        NOT NULL,
  webhook_id  text        NOT NULL,
  url         text        NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
  -- Full event type names, e.g. 'loyalty.points.v1.PointsEarned'.
  event_types text[]      NOT NULL CHECK (cardinality(event_types) >= 1),
  description text        NOT NULL DEFAULT '',
  -- 1 ACTIVE, 2 DISABLED (loyalty.members.v1.WebhookState).
  state       smallint    NOT NULL CHECK (state IN (1, 2)),
  -- "whsec_" + base64 of 32 random bytes. Stored as given: every attempt signs with it (an HMAC
  -- needs the key itself, so a hash would not do); returned only by CreateWebhook.
  secret      text        NOT NULL,
  create_time timestamptz NOT NULL,
  PRIMARY KEY (program_id, webhook_id)
);

-- The fan-out looks up a program's active endpoints for every consumed event.
CREATE INDEX webhook_endpoints_active_idx ON webhook_endpoints (program_id) WHERE state = 1;
-- ListWebhooks pages oldest first.
CREATE INDEX webhook_endpoints_list_idx ON webhook_endpoints (program_id, create_time, webhook_id);

CREATE TABLE webhook_deliveries (
  delivery_id       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  program_id        text        NOT NULL,
  webhook_id        text        NOT NULL,
  event_id          text        NOT NULL,
  event_type        text        NOT NULL,
  -- The exact request body, so every attempt sends (and signs) the same bytes.
  body              text        NOT NULL,
  -- 1 PENDING, 2 DELIVERED, 3 DEAD, 4 CANCELLED (loyalty.members.v1.DeliveryState).
  state             smallint    NOT NULL CHECK (state IN (1, 2, 3, 4)),
  -- Attempts started; a claim counts one, so an attempt lost in a crash counts too.
  attempts          integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_time timestamptz NOT NULL,
  -- Set by a claim: nobody else attempts it before then. A dispatcher that dies mid-attempt
  -- leaves it to expire, and the delivery is attempted again (at least once).
  leased_until      timestamptz,
  last_status_code  integer,
  last_error        text,
  create_time       timestamptz NOT NULL,
  last_attempt_time timestamptz,
  finish_time       timestamptz,
  -- One delivery per event and endpoint, however often the event is consumed.
  CONSTRAINT webhook_deliveries_event_key UNIQUE (program_id, webhook_id, event_id)
);

-- The dispatcher claims due pending deliveries, oldest due first.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_time)
  WHERE state = 1;
-- ListWebhookDeliveries pages newest first, optionally by state.
CREATE INDEX webhook_deliveries_list_idx ON webhook_deliveries
  (program_id, webhook_id, delivery_id);
-- Retention removes finished deliveries, oldest first.
CREATE INDEX webhook_deliveries_finished_idx ON webhook_deliveries (finish_time)
  WHERE state <> 1;
