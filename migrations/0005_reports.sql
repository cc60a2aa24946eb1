-- Reports and the dashboard: exports filter approved cases by approval time; the dashboard
-- counts claims by first submission.
CREATE INDEX cases_approved_idx ON cases (approved_at, id);
CREATE INDEX cases_first_submitted_idx ON cases (first_submitted_at);
