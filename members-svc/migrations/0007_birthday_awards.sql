-- The birthday job (members-svc/rpc/birthdays.h): once a year each active member with a birthday
-- gets points-svc's BIRTHDAY activity. A row here says the member's year is settled, whatever
-- points-svc answered, so the job asks once per member and year.
CREATE TABLE birthday_awards (
  program_id  text        NOT NULL,
  member_id   text        NOT NULL,
  year        integer     NOT NULL,
  -- AWARDED (points credited, or credited before and replayed), ALREADY_AWARDED,
  -- NOT_CONFIGURED (the program has no birthday bonus), NOT_ELIGIBLE (suspended or unknown
  -- to points-svc).
  outcome     text        NOT NULL,
  settle_time timestamptz NOT NULL,
  PRIMARY KEY (program_id, member_id, year)
);

-- Today's birthdays among active members, without reading the others.
CREATE INDEX members_birthday_idx ON members (birthday_month, birthday_day, program_id, member_id)
  WHERE status = 1;
