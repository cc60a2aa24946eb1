-- Issue 19 item 5: the review queue at 100,000 waiting cases. The page and its counts (cases
-- waiting at a level, the oldest) read only cases staff review, not those an insurer pays
-- (`insurer_id IS NULL`), which the index on (status, submitted_at, id) cannot tell apart
-- without visiting every row. This partial index holds exactly the reviewable ones, so the
-- count and the oldest are read from the index alone and a page is a range of it.
CREATE INDEX cases_review_queue_idx ON cases (status, submitted_at, id) WHERE insurer_id IS NULL;
