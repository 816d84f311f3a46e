-- The background tier review walks members whose period may have ended, oldest period first;
-- this partial index serves that walk without scanning the whole table. Erased members and the
-- lowest tier never need a review.
CREATE INDEX members_tier_review_idx ON members (tier_period_start)
  WHERE status <> 3 AND tier_position > 0;
