-- Programs and their tier ladders. Runs with search_path set to the service's schema.

CREATE TABLE programs (
  program_id                     text        PRIMARY KEY,
  display_name                   text        NOT NULL,
  currency_code                  text        NOT NULL CHECK (currency_code ~ '^[A-Z]{3}$'),
  point_value_minor_per_thousand bigint      NOT NULL CHECK (point_value_minor_per_thousand >= 0),
  tier_window_months             integer     NOT NULL CHECK (tier_window_months BETWEEN 1 AND 60),
  downgrade_grace_days           integer     NOT NULL CHECK (downgrade_grace_days BETWEEN 0 AND 365),
  create_time                    timestamptz NOT NULL
);

-- The ladder, lowest tier first (position 0 has threshold 0).
CREATE TABLE tiers (
  program_id              text    NOT NULL REFERENCES programs (program_id),
  position                integer NOT NULL CHECK (position >= 0),
  code                    text    NOT NULL,
  display_name            text    NOT NULL,
  threshold_points        bigint  NOT NULL CHECK (threshold_points >= 0),
  earn_multiplier_percent integer NOT NULL CHECK (earn_multiplier_percent BETWEEN 100 AND 1000),
  PRIMARY KEY (program_id, position),
  UNIQUE (program_id, code)
);

CREATE TABLE tier_benefits (
  program_id    text    NOT NULL,
  tier_position integer NOT NULL,
  position      integer NOT NULL,
  code          text    NOT NULL,
  description   text    NOT NULL,
  PRIMARY KEY (program_id, tier_position, position),
  FOREIGN KEY (program_id, tier_position) REFERENCES tiers (program_id, position)
);
