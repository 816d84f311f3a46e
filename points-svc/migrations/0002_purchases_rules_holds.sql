-- Purchases (order history), activities, earning rules, holds and the member projection.

CREATE TABLE purchases (
  program_id      text        NOT NULL,
  order_id        text        NOT NULL,
  member_id       text        NOT NULL,
  currency_code   text        NOT NULL,
  total_minor     bigint      NOT NULL CHECK (total_minor >= 0),
  points_earned   bigint      NOT NULL CHECK (points_earned >= 0),
  refunded_minor  bigint      NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0 AND refunded_minor <= total_minor),
  reversed_points bigint      NOT NULL DEFAULT 0 CHECK (reversed_points >= 0 AND reversed_points <= points_earned),
  pending_id      bigint,
  lot_id          bigint,
  occur_time      timestamptz NOT NULL,
  create_time     timestamptz NOT NULL,
  PRIMARY KEY (program_id, order_id)
);

CREATE TABLE purchase_lines (
  program_id        text   NOT NULL,
  order_id          text   NOT NULL,
  line_no           integer NOT NULL,
  sku               text   NOT NULL,
  category          text   NOT NULL,
  quantity          bigint NOT NULL CHECK (quantity > 0),
  unit_price_minor  bigint NOT NULL CHECK (unit_price_minor >= 0),
  refunded_quantity bigint NOT NULL DEFAULT 0 CHECK (refunded_quantity >= 0 AND refunded_quantity <= quantity),
  PRIMARY KEY (program_id, order_id, line_no)
);

-- One award per (member, activity, reference); counted for per-period limits.
CREATE TABLE activity_awards (
  program_id   text        NOT NULL,
  member_id    text        NOT NULL,
  activity_key text        NOT NULL,
  reference    text        NOT NULL,
  points       bigint      NOT NULL,
  occur_time   timestamptz NOT NULL,
  txn_id       bigint      NOT NULL,
  PRIMARY KEY (program_id, member_id, activity_key, reference)
);
CREATE INDEX activity_awards_period_idx ON activity_awards (program_id, member_id, activity_key, occur_time);

-- Points earned per member and UTC day: purchase caps and leaderboards.
CREATE TABLE earn_daily (
  program_id      text   NOT NULL,
  member_id       text   NOT NULL,
  day             date   NOT NULL,
  purchase_points bigint NOT NULL DEFAULT 0,
  points          bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (program_id, member_id, day)
);
CREATE INDEX earn_daily_leaderboard_idx ON earn_daily (program_id, day);

-- Earning rules per program: the serialized loyalty.points.v1.EarningRules, versioned for etags.
CREATE TABLE earning_rules (
  program_id  text        PRIMARY KEY,
  rules       bytea       NOT NULL,
  version     bigint      NOT NULL,
  update_time timestamptz NOT NULL
);

CREATE TABLE holds (
  program_id   text        NOT NULL,
  hold_id      text        NOT NULL,
  member_id    text        NOT NULL,
  points       bigint      NOT NULL CHECK (points > 0),
  -- loyalty.points.v1.HoldStatus: 1 open, 2 captured, 3 voided, 4 expired.
  status       smallint    NOT NULL CHECK (status IN (1, 2, 3, 4)),
  reason       text,
  expire_time  timestamptz NOT NULL,
  create_time  timestamptz NOT NULL,
  resolve_time timestamptz,
  PRIMARY KEY (program_id, hold_id)
);
CREATE INDEX holds_open_idx ON holds (program_id, expire_time) WHERE status = 1;
CREATE INDEX holds_member_open_idx ON holds (program_id, member_id) WHERE status = 1;

-- What points-svc knows of members-svc's members and programs (refreshed by GetMember /
-- GetProgram on first sight and after a TTL; the events issue feeds it from MemberUpdated).
CREATE TABLE member_projection (
  program_id              text        NOT NULL,
  member_id               text        NOT NULL,
  -- loyalty.members.v1.MemberStatus.
  status                  smallint    NOT NULL,
  tier                    text        NOT NULL,
  tier_multiplier_percent integer     NOT NULL,
  refresh_time            timestamptz NOT NULL,
  PRIMARY KEY (program_id, member_id)
);

CREATE TABLE program_projection (
  program_id    text        PRIMARY KEY,
  currency_code text        NOT NULL,
  refresh_time  timestamptz NOT NULL
);
