-- Schema for credit.sql, the plain-PostgreSQL baseline of scripts/bench-points: a posting log
-- and a balance per account, 100000 accounts. Run once per throwaway database (psql -f); it
-- starts over when run again.
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_postings;
DROP TABLE IF EXISTS bench_balances;

CREATE TABLE bench_balances (
  account bigint PRIMARY KEY,
  balance bigint NOT NULL DEFAULT 0
);

-- Append-only, like the ledger's entries: every credit is one new row with its own identity.
CREATE TABLE bench_postings (
  posting_id bigserial PRIMARY KEY,
  account bigint NOT NULL,
  amount bigint NOT NULL
);

INSERT INTO bench_balances (account) SELECT g FROM generate_series(1, 100000) AS g;
VACUUM ANALYZE bench_balances;
