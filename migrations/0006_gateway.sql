-- Hospital gateway and insurer hub (deployment B): pushed visits, replay protection for signed
-- machine requests, insurer claim state, and the payout ledger.

-- A visit pushed by a hospital's front server; one row per (hospital, hospital's visit id),
-- holding the newest revision. The national id is kept only encrypted plus its blind index.
CREATE TABLE visits (
    id {{id}},
    hospital_id BIGINT NOT NULL REFERENCES hospitals (id),
    hospital_visit_id TEXT NOT NULL,
    patient_id_enc TEXT NOT NULL,
    patient_id_bidx TEXT NOT NULL,
    visit_date TEXT NOT NULL,
    diagnosis_code TEXT NOT NULL,
    diagnosis_text TEXT,
    invoice_no TEXT NOT NULL,
    total_cents BIGINT NOT NULL CHECK (total_cents > 0),
    content_sha256 TEXT NOT NULL,
    revision BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (hospital_id, hospital_visit_id)
);
CREATE INDEX visits_patient_idx ON visits (patient_id_bidx, id);

-- Fee lines of a visit's current revision (the invoice's lineItem).
CREATE TABLE visit_fee_lines (
    id {{id}},
    visit_id BIGINT NOT NULL REFERENCES visits (id),
    line_no BIGINT NOT NULL,
    code TEXT,
    display TEXT NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    UNIQUE (visit_id, line_no)
);

-- Every accepted revision of a visit, the bundle as received (encrypted: it names the patient),
-- so an amendment never loses what was pushed before.
CREATE TABLE visit_revisions (
    id {{id}},
    visit_id BIGINT NOT NULL REFERENCES visits (id),
    revision BIGINT NOT NULL,
    content_sha256 TEXT NOT NULL,
    bundle_enc TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (visit_id, revision)
);

-- Nonces of signed machine requests (hospitals and insurers), unique across instances;
-- rows older than the signature window are pruned.
CREATE TABLE gateway_nonces (
    key_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    seen_at BIGINT NOT NULL,
    PRIMARY KEY (key_id, nonce)
);
CREATE INDEX gateway_nonces_seen_idx ON gateway_nonces (seen_at);

-- What an external insurer said about a case's claim (latest ClaimResponse).
CREATE TABLE insurer_claims (
    id {{id}},
    case_id BIGINT NOT NULL UNIQUE REFERENCES cases (id),
    insurer_id BIGINT NOT NULL REFERENCES insurers (id),
    status TEXT NOT NULL CHECK (status IN ('queued', 'complete', 'partial', 'error')),
    approved_cents BIGINT,
    disposition TEXT,
    adjudication TEXT,                          -- JSON: per-item benefit and reasons
    response_identifier TEXT,
    decided_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Every ClaimResponse received, so a duplicate is recognised and answered without effect.
CREATE TABLE claim_responses (
    id {{id}},
    insurer_id BIGINT NOT NULL REFERENCES insurers (id),
    case_id BIGINT NOT NULL REFERENCES cases (id),
    response_identifier TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    UNIQUE (insurer_id, response_identifier)
);

-- The payout ledger: money an insurer says it paid, one row per PaymentReconciliation detail.
-- `duplicate_of` points at an earlier payment of the same case (paid twice).
CREATE TABLE ledger_entries (
    id {{id}},
    insurer_id BIGINT NOT NULL REFERENCES insurers (id),
    case_id BIGINT,
    payment_identifier TEXT NOT NULL,
    detail_no BIGINT NOT NULL,
    amount_cents BIGINT NOT NULL,
    paid_date TEXT NOT NULL,
    destination_kind TEXT NOT NULL CHECK (destination_kind IN ('wallet', 'bank', 'unknown')),
    destination_masked TEXT,
    duplicate_of BIGINT REFERENCES ledger_entries (id),
    created_at BIGINT NOT NULL,
    UNIQUE (insurer_id, payment_identifier, detail_no)
);
CREATE INDEX ledger_entries_case_idx ON ledger_entries (case_id, id);
CREATE INDEX ledger_entries_date_idx ON ledger_entries (paid_date);
