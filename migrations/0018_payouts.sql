-- Issue 17 item 6 (SPEC §13 office): the university pays students by bank transfer, in
-- batches that finance builds, downloads for the bank, and marks paid (or returned).

-- A case paid by the university's transfer is `paid` (after `completed`). The status CHECK
-- names every state, so it is widened: PostgreSQL replaces the constraint; SQLite cannot alter
-- a CHECK, so its stored table text is edited (SQLite's documented procedure for changes that
-- do not touch stored rows; widening a CHECK is one, and the migration runner bumps the schema
-- version after it).
{{postgres}} ALTER TABLE cases DROP CONSTRAINT cases_status_check;
{{postgres}} ALTER TABLE cases ADD CONSTRAINT cases_status_check CHECK (status IN ('draft', 'submitted', 'level2', 'approved', 'booked', 'completed', 'returned', 'rejected', 'withdrawn', 'paid'));
{{sqlite}} PRAGMA writable_schema = ON;
{{sqlite}} UPDATE sqlite_master SET sql = replace(sql, '''rejected'', ''withdrawn'')', '''rejected'', ''withdrawn'', ''paid'')') WHERE type = 'table' AND name = 'cases';
{{sqlite}} PRAGMA writable_schema = OFF;

-- A student's own bank account for payouts ("我的"). The number is sealed (AEAD, bound to the
-- user id) like the phone and the national id; it is shown masked.
CREATE TABLE payout_accounts (
    user_id BIGINT PRIMARY KEY REFERENCES users (id),
    bank_name TEXT NOT NULL,
    account_no_enc TEXT NOT NULL,
    holder_name TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A batch of transfers finance sends to the bank in one file.
CREATE TABLE payout_batches (
    id {{id}},
    through_date TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid')),
    case_count BIGINT NOT NULL,
    total_cents BIGINT NOT NULL,
    created_by BIGINT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    paid_by BIGINT REFERENCES users (id),
    paid_at BIGINT
);

-- One case in a batch, with the account as it was when the batch was built (the bank file
-- must not change when the student edits the account later). A case is in at most one batch
-- that is not returned: the partial unique index holds that under any concurrency.
CREATE TABLE payout_items (
    id {{id}},
    batch_id BIGINT NOT NULL REFERENCES payout_batches (id),
    case_id BIGINT NOT NULL REFERENCES cases (id),
    student_id BIGINT NOT NULL REFERENCES users (id),
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    bank_name TEXT NOT NULL,
    account_no_enc TEXT NOT NULL,
    holder_name TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'paid', 'returned')),
    returned_by BIGINT REFERENCES users (id),
    returned_at BIGINT
);
CREATE UNIQUE INDEX payout_items_live_case_idx ON payout_items (case_id) WHERE status <> 'returned';
CREATE INDEX payout_items_batch_idx ON payout_items (batch_id, id);
CREATE INDEX cases_handed_in_idx ON cases (status, handed_in_at);
