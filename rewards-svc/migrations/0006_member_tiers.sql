-- rewards-svc's copy of each member's tier (rewards-svc/rpc/member_tiers.h, docs/events.md),
-- written only by its consumer of members-svc's stream: MemberEnrolled and TierChanged set it,
-- MemberErased deletes it. Minimum-tier rewards are decided from it.
CREATE TABLE member_tiers (
  program_id  text        NOT NULL,
  member_id   text        NOT NULL,
  tier        text        NOT NULL,
  update_time timestamptz NOT NULL,
  PRIMARY KEY (program_id, member_id)
);
