-- pgbench script: one durable credit in one statement (and so one transaction, one commit):
-- insert a posting and add it to the account's balance. Accounts are drawn uniformly from the
-- 100000 of credit_setup.sql, so concurrent clients rarely meet on a row.
--   pgbench -n -c 64 -j 2 -T 20 -f tests/load/credit.sql
\set acct random(1, 100000)
WITH p AS (INSERT INTO bench_postings (account, amount) VALUES (:acct, 1) RETURNING account, amount) UPDATE bench_balances AS b SET balance = b.balance + p.amount FROM p WHERE b.account = p.account;
