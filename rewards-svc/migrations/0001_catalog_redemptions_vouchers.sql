-- The reward catalog with its stock, the redemptions the saga drives, and the vouchers they issue.

-- Kind-specific fields are plain columns (unused ones hold 0 or ''). `stock` NULL is unlimited;
-- the saga reserves with a conditional decrement, so the CHECK is a second line of defence.
CREATE TABLE rewards (
  program_id            text        NOT NULL,
  reward_id             text        NOT NULL,
  version               bigint      NOT NULL,
  kind                  smallint    NOT NULL,
  title                 text        NOT NULL,
  description           text        NOT NULL,
  points_cost           bigint      NOT NULL CHECK (points_cost > 0),
  stock                 bigint      CHECK (stock >= 0),
  limit_per_member      integer     NOT NULL,
  limit_period          smallint    NOT NULL,
  min_tier              text        NOT NULL,
  start_time            timestamptz,
  end_time              timestamptz,
  voucher_validity_days integer     NOT NULL,
  amount_minor          bigint      NOT NULL,
  currency_code         text        NOT NULL,
  percent               integer     NOT NULL,
  cap_minor             bigint      NOT NULL,
  sku                   text        NOT NULL,
  experience_type       smallint    NOT NULL,
  charity_name          text        NOT NULL,
  create_time           timestamptz NOT NULL,
  update_time           timestamptz NOT NULL,
  PRIMARY KEY (program_id, reward_id)
);
CREATE INDEX rewards_by_cost_idx ON rewards (program_id, points_cost, reward_id);

-- status: 1 PENDING, 2 COMPLETED, 3 FAILED, 4 CANCELLED (loyalty.rewards.v1.RedemptionStatus).
-- points_state: what points-svc last confirmed for the hold (id = redemption_id): 0 none,
-- 1 held, 2 captured, 3 released, 4 refunded. The recovery loop works off the two partial
-- indexes: PENDING redemptions, and decided ones whose points are not settled yet.
CREATE TABLE redemptions (
  program_id     text        NOT NULL,
  redemption_id  text        NOT NULL,
  member_id      text        NOT NULL,
  reward_id      text        NOT NULL,
  kind           smallint    NOT NULL,
  points         bigint      NOT NULL CHECK (points > 0),
  status         smallint    NOT NULL,
  failure_reason text        NOT NULL DEFAULT '',
  stock_reserved boolean     NOT NULL,
  points_state   smallint    NOT NULL DEFAULT 0,
  fulfilment     smallint    NOT NULL DEFAULT 0,
  create_time    timestamptz NOT NULL,
  update_time    timestamptz NOT NULL,
  PRIMARY KEY (program_id, redemption_id)
);
CREATE INDEX redemptions_by_member_idx
  ON redemptions (program_id, member_id, create_time DESC, redemption_id DESC);
CREATE INDEX redemptions_by_member_reward_idx
  ON redemptions (program_id, member_id, reward_id, create_time);
CREATE INDEX redemptions_pending_idx ON redemptions (update_time) WHERE status = 1;
CREATE INDEX redemptions_unsettled_idx ON redemptions (update_time)
  WHERE (status IN (2, 3, 4) AND points_state = 1) OR (status = 4 AND points_state = 2);

-- A voucher's code is never stored in clear: `code_hash` (HMAC-SHA256 under the configured
-- voucher key) finds it, `code_sealed` (AES-256-GCM under a key derived from the same secret)
-- lets its owner see it again. voucher_id is the redemption id, or the punch card's fill id, so
-- one source can never issue two vouchers. status: 1 ACTIVE, 2 USED, 3 CANCELLED.
CREATE TABLE vouchers (
  program_id    text        NOT NULL,
  voucher_id    text        NOT NULL,
  code_hash     bytea       NOT NULL,
  code_sealed   bytea       NOT NULL,
  member_id     text        NOT NULL,
  reward_id     text        NOT NULL,
  kind          smallint    NOT NULL,
  amount_minor  bigint      NOT NULL,
  currency_code text        NOT NULL,
  percent       integer     NOT NULL,
  cap_minor     bigint      NOT NULL,
  sku           text        NOT NULL,
  value_minor   bigint      NOT NULL,
  balance_minor bigint      NOT NULL CHECK (balance_minor >= 0),
  status        smallint    NOT NULL,
  expire_time   timestamptz NOT NULL,
  create_time   timestamptz NOT NULL,
  update_time   timestamptz NOT NULL,
  PRIMARY KEY (program_id, voucher_id),
  UNIQUE (program_id, code_hash)
);
CREATE INDEX vouchers_by_member_idx ON vouchers (program_id, member_id, create_time DESC);

-- Every use of a voucher, with what it took off the order (history is never rewritten).
CREATE TABLE voucher_uses (
  use_id         bigserial   PRIMARY KEY,
  program_id     text        NOT NULL,
  voucher_id     text        NOT NULL,
  order_id       text        NOT NULL,
  discount_minor bigint      NOT NULL,
  create_time    timestamptz NOT NULL
);
CREATE INDEX voucher_uses_by_voucher_idx ON voucher_uses (program_id, voucher_id);
