-- The double-entry ledger. Runs with search_path set to the service's schema.
--
-- An account is (program_id, owner, account): owner is a member id, or '' for the program's
-- own accounts. Member accounts: available, pending, held, debt. Program accounts: issued,
-- redeemed, expired, adjustments. Every transaction's entries sum to zero; entries are never
-- updated or deleted. Sign convention: a member's asset accounts are positive; points flow out
-- of the program's accounts (issued goes negative as points are issued); a member's debt
-- account is negative by the points the member owes.

CREATE TABLE ledger_transactions (
  program_id  text        NOT NULL,
  txn_id      bigint      GENERATED ALWAYS AS IDENTITY,
  -- loyalty.points.v1.TransactionKind (TRANSFER_OUT for transfers: the receiver's view is
  -- derived from the sign of its entries).
  kind        smallint    NOT NULL,
  reason      text,
  order_id    text,
  hold_id     text,
  counterparty_member text,
  -- The member who started it when another is involved too (a transfer's giver).
  member_id   text,
  create_time timestamptz NOT NULL,
  PRIMARY KEY (program_id, txn_id)
);

CREATE TABLE ledger_entries (
  program_id text   NOT NULL,
  txn_id     bigint NOT NULL,
  owner      text   NOT NULL,
  account    text   NOT NULL CHECK (account IN ('available', 'pending', 'held', 'debt', 'issued',
                                                 'redeemed', 'expired', 'adjustments')),
  amount     bigint NOT NULL CHECK (amount <> 0),
  PRIMARY KEY (program_id, owner, txn_id, account)
);

-- Stored balances, updated in the same transaction as the entries. The CHECKs are the database's
-- backstop for "no negative available balance"; the service checks first.
CREATE TABLE balances (
  program_id      text   NOT NULL,
  member_id       text   NOT NULL,
  available       bigint NOT NULL DEFAULT 0 CHECK (available >= 0),
  pending         bigint NOT NULL DEFAULT 0 CHECK (pending >= 0),
  held            bigint NOT NULL DEFAULT 0 CHECK (held >= 0),
  debt            bigint NOT NULL DEFAULT 0 CHECK (debt >= 0),
  lifetime_earned bigint NOT NULL DEFAULT 0 CHECK (lifetime_earned >= 0),
  PRIMARY KEY (program_id, member_id)
);

-- Credited points, spent oldest expiry first. Sum of remainders = available + held.
CREATE TABLE lots (
  program_id  text        NOT NULL,
  member_id   text        NOT NULL,
  lot_id      bigint      GENERATED ALWAYS AS IDENTITY,
  txn_id      bigint      NOT NULL,
  amount      bigint      NOT NULL CHECK (amount > 0),
  remaining   bigint      NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
  -- NULL: never expires.
  expire_time timestamptz,
  order_id    text,
  PRIMARY KEY (program_id, member_id, lot_id)
);
CREATE INDEX lots_open_idx ON lots (program_id, member_id, expire_time, lot_id)
  WHERE remaining > 0;
CREATE INDEX lots_due_idx ON lots (program_id, expire_time)
  WHERE remaining > 0 AND expire_time IS NOT NULL;

-- Purchase points in their return window; released into lots when due.
CREATE TABLE pending_credits (
  program_id     text        NOT NULL,
  member_id      text        NOT NULL,
  pending_id     bigint      GENERATED ALWAYS AS IDENTITY,
  order_id       text,
  amount         bigint      NOT NULL CHECK (amount >= 0),
  available_time timestamptz NOT NULL,
  expire_time    timestamptz,
  released       boolean     NOT NULL DEFAULT false,
  PRIMARY KEY (program_id, member_id, pending_id)
);
CREATE INDEX pending_credits_due_idx ON pending_credits (program_id, available_time)
  WHERE NOT released;
CREATE INDEX pending_credits_member_idx ON pending_credits (program_id, member_id, available_time)
  WHERE NOT released;
