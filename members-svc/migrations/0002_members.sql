-- Members, their tier state, qualifying activity and tier history.
-- Hot tables lead their keys with (program_id, member_id) and have no foreign keys across
-- members, so the schema can later be distributed by member.

CREATE TABLE members (
  program_id        text        NOT NULL,
  member_id         text        NOT NULL,
  -- Enrolment order: the keyset for ListMembers.
  seq               bigint      GENERATED ALWAYS AS IDENTITY,
  -- 1 active, 2 suspended, 3 erased (loyalty.members.v1.MemberStatus).
  status            smallint    NOT NULL CHECK (status IN (1, 2, 3)),
  -- Identifiers, normalised (lower-case email, E.164 phone); NULL when absent or erased.
  email             text,
  phone             text,
  display_name      text,
  birthday_year     integer,
  birthday_month    integer,
  birthday_day      integer,
  marketing_consent boolean     NOT NULL DEFAULT false,
  card_number       text        NOT NULL,
  referral_code     text        NOT NULL,
  referred_by_code  text,
  suspend_reason    text,
  tier_position     integer     NOT NULL,
  tier_period_start timestamptz NOT NULL,
  enroll_time       timestamptz NOT NULL,
  update_time       timestamptz NOT NULL,
  erase_time        timestamptz,
  PRIMARY KEY (program_id, member_id),
  CONSTRAINT members_card_number_key UNIQUE (program_id, card_number),
  CONSTRAINT members_referral_code_key UNIQUE (program_id, referral_code),
  CHECK (status = 3 OR email IS NOT NULL OR phone IS NOT NULL)
);
-- One member per identifier and program; erasure sets them NULL, which releases them.
CREATE UNIQUE INDEX members_email_key ON members (program_id, email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX members_phone_key ON members (program_id, phone) WHERE phone IS NOT NULL;
CREATE UNIQUE INDEX members_list_idx ON members (program_id, seq);
CREATE INDEX members_list_status_idx ON members (program_id, status, seq);
CREATE INDEX members_list_tier_idx ON members (program_id, tier_position, seq);

-- Qualifying points for tiers, one row per source event (idempotency by event_id).
CREATE TABLE qualifying_activity (
  program_id  text        NOT NULL,
  member_id   text        NOT NULL,
  event_id    text        NOT NULL,
  points      bigint      NOT NULL,
  occur_time  timestamptz NOT NULL,
  record_time timestamptz NOT NULL,
  PRIMARY KEY (program_id, member_id, event_id)
);
CREATE INDEX qualifying_activity_window_idx
  ON qualifying_activity (program_id, member_id, occur_time);

-- Every tier change (enrolment, upgrade, downgrade), never rewritten.
CREATE TABLE tier_history (
  program_id  text        NOT NULL,
  member_id   text        NOT NULL,
  seq         bigint      GENERATED ALWAYS AS IDENTITY,
  from_tier   text,
  to_tier     text        NOT NULL,
  kind        text        NOT NULL CHECK (kind IN ('ENROLLED', 'UPGRADE', 'DOWNGRADE')),
  change_time timestamptz NOT NULL,
  PRIMARY KEY (program_id, member_id, seq)
);
