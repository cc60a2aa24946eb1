-- Deployment B, end to end: a case made from a pushed visit (its fee lines copied as they were
-- when claimed, so a later amendment of the visit does not change a claim under review), and
-- cases an external insurer adjudicates and pays instead of the two review levels.

-- The visit a case was claimed from (one live case per visit) and its ICD-10 code.
ALTER TABLE cases ADD COLUMN visit_id BIGINT REFERENCES visits (id);
ALTER TABLE cases ADD COLUMN diagnosis_code TEXT;
-- Set on submit when the coverage of the case's year names an external insurer: the case then
-- waits for the insurer (not in the staff queues) until its ClaimResponse arrives.
ALTER TABLE cases ADD COLUMN insurer_id BIGINT REFERENCES insurers (id);
-- When the insurer's payment for the case was recorded.
ALTER TABLE cases ADD COLUMN paid_at BIGINT;
CREATE UNIQUE INDEX cases_visit_idx ON cases (visit_id) WHERE status <> 'withdrawn';
CREATE INDEX cases_insurer_idx ON cases (insurer_id, status);

-- The fee lines of a case claimed from a visit, as the hospital sent them.
CREATE TABLE case_fee_lines (
    id {{id}},
    case_id BIGINT NOT NULL REFERENCES cases (id),
    line_no BIGINT NOT NULL,
    code TEXT,
    display TEXT NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    UNIQUE (case_id, line_no)
);
