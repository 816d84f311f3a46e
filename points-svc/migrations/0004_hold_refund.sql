-- A captured hold may be refunded once (a cancelled redemption): status 5.
ALTER TABLE holds DROP CONSTRAINT holds_status_check;
ALTER TABLE holds ADD CONSTRAINT holds_status_check CHECK (status IN (1, 2, 3, 4, 5));
