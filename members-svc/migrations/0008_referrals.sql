-- Referrals (docs/decisions.md): a member enrolled with another member's referral code is linked
-- to that referrer; both get the program's referral bonus when the referee's first qualifying
-- purchase is earned, at most referral_rewards_max times per referrer (0: no limit).
ALTER TABLE programs ADD COLUMN referral_rewards_max integer NOT NULL DEFAULT 0
  CHECK (referral_rewards_max BETWEEN 0 AND 1000000);

CREATE TABLE referrals (
  program_id     text        NOT NULL,
  referral_id    text        NOT NULL,
  referrer_id    text        NOT NULL,
  referee_id     text        NOT NULL,
  -- 1 PENDING, 2 REWARDED, 3 REFUSED (loyalty.members.v1.ReferralStatus).
  status         smallint    NOT NULL CHECK (status IN (1, 2, 3)),
  refusal_reason text,
  create_time    timestamptz NOT NULL,
  resolve_time   timestamptz,
  PRIMARY KEY (program_id, referral_id),
  -- A member is referred at most once, so a second bonus for one referee cannot exist.
  CONSTRAINT referrals_referee_key UNIQUE (program_id, referee_id),
  CHECK (referrer_id <> referee_id)
);

-- A referrer's referrals, newest first (ListReferrals), and their rewarded count (the cap).
CREATE INDEX referrals_referrer_idx ON referrals (program_id, referrer_id, create_time, referral_id);
