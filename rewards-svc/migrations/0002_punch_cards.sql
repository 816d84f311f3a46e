-- Punch cards: definitions per program, each member's current card, and the orders stamped.
CREATE TABLE punch_card_definitions (
  program_id    text        NOT NULL,
  definition_id text        NOT NULL,
  title         text        NOT NULL,
  sku           text        NOT NULL,
  category      text        NOT NULL,
  stamps_needed integer     NOT NULL CHECK (stamps_needed >= 2),
  reward_id     text        NOT NULL,
  create_time   timestamptz NOT NULL,
  PRIMARY KEY (program_id, definition_id)
);

-- `stamps` on the open card; `completed_cards` full ones (each issued a voucher whose id is
-- "<definition>.<member>.<card number>").
CREATE TABLE punch_cards (
  program_id      text    NOT NULL,
  member_id       text    NOT NULL,
  definition_id   text    NOT NULL,
  stamps          integer NOT NULL CHECK (stamps >= 0),
  completed_cards integer NOT NULL,
  PRIMARY KEY (program_id, member_id, definition_id)
);

-- An order is stamped once; a refunded one is remembered as revoked so that a late stamp of it
-- is ignored.
CREATE TABLE stamped_orders (
  program_id  text        NOT NULL,
  member_id   text        NOT NULL,
  order_id    text        NOT NULL,
  revoked     boolean     NOT NULL,
  create_time timestamptz NOT NULL,
  PRIMARY KEY (program_id, member_id, order_id)
);

-- Which card (by number) each stamp of an order went on.
CREATE TABLE stamps (
  program_id    text    NOT NULL,
  member_id     text    NOT NULL,
  order_id      text    NOT NULL,
  definition_id text    NOT NULL,
  card_number   integer NOT NULL,
  PRIMARY KEY (program_id, member_id, order_id, definition_id)
);
