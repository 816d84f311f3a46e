-- Answers of acknowledged mutations, by idempotency key (request_id), so a retry gets the first
-- answer and no second effect. `request_hash` tells a retry from a reuse of the key.
CREATE TABLE idempotency_keys (
  scope        text        NOT NULL,
  request_id   text        NOT NULL,
  method       text        NOT NULL,
  request_hash text        NOT NULL,
  response     bytea       NOT NULL,
  create_time  timestamptz NOT NULL,
  PRIMARY KEY (scope, request_id)
);
CREATE INDEX idempotency_keys_create_time_idx ON idempotency_keys (create_time);
