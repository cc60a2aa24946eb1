-- medclaim schema, one source for SQLite and PostgreSQL.
-- `{{id}}` is the only dialect word: an auto-increment BIGINT primary key.
-- Conventions: money is BIGINT cents; instants are BIGINT Unix milliseconds (UTC);
-- calendar dates are TEXT 'YYYY-MM-DD' in the deployment's zone; flags are BIGINT 0/1.

CREATE TABLE users (
    id {{id}},
    username TEXT NOT NULL UNIQUE,             -- student id for students
    name TEXT NOT NULL,
    class_name TEXT,
    phone_enc TEXT,                             -- AEAD ciphertext (see crypto.rs)
    phone_bidx TEXT,                            -- keyed blind index for exact lookup
    id_number_enc TEXT,
    id_number_bidx TEXT,
    bank_account_enc TEXT,
    email TEXT,
    enrolment_status TEXT NOT NULL DEFAULT 'enrolled',
    password_hash TEXT,                         -- NULL: no usable password
    failed_logins BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT,
    lang TEXT NOT NULL DEFAULT 'zh-CN',
    active BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX users_name_idx ON users (name);
CREATE INDEX users_phone_bidx_idx ON users (phone_bidx);
CREATE INDEX users_id_number_bidx_idx ON users (id_number_bidx);

CREATE TABLE user_roles (
    user_id BIGINT NOT NULL REFERENCES users (id),
    role TEXT NOT NULL CHECK (role IN ('student', 'reviewer1', 'reviewer2', 'admin', 'finance', 'auditor')),
    PRIMARY KEY (user_id, role)
);

-- Server-side sessions: page cookies and API bearer tokens alike; only a hash of the token is kept.
CREATE TABLE sessions (
    id {{id}},
    token_hash TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL CHECK (kind IN ('api', 'web')),
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,                 -- absolute expiry
    revoked_at BIGINT
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE insurers (
    id {{id}},
    name TEXT NOT NULL,
    fhir_base_url TEXT NOT NULL,
    key_id TEXT NOT NULL UNIQUE,
    secret_enc TEXT NOT NULL,
    active BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at BIGINT NOT NULL
);

CREATE TABLE hospitals (
    id {{id}},
    name TEXT NOT NULL,
    level BIGINT NOT NULL CHECK (level BETWEEN 0 AND 3),
    key_id TEXT NOT NULL UNIQUE,
    secret_enc TEXT NOT NULL,
    active BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at BIGINT NOT NULL
);

-- Insur: a student is covered for a coverage year.
CREATE TABLE coverage (
    id {{id}},
    user_id BIGINT NOT NULL REFERENCES users (id),
    year BIGINT NOT NULL,
    insurer_id BIGINT REFERENCES insurers (id),  -- NULL: the university's own fund
    policy_no TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, year)
);

-- Versioned reimbursement policy; the newest version is current.
CREATE TABLE policies (
    id {{id}},
    version BIGINT NOT NULL UNIQUE,
    ratio_bp_0 BIGINT NOT NULL CHECK (ratio_bp_0 BETWEEN 0 AND 10000),
    ratio_bp_1 BIGINT NOT NULL CHECK (ratio_bp_1 BETWEEN 0 AND 10000),
    ratio_bp_2 BIGINT NOT NULL CHECK (ratio_bp_2 BETWEEN 0 AND 10000),
    ratio_bp_3 BIGINT NOT NULL CHECK (ratio_bp_3 BETWEEN 0 AND 10000),
    deductible_cents BIGINT NOT NULL CHECK (deductible_cents >= 0),
    annual_cap_cents BIGINT NOT NULL CHECK (annual_cap_cents >= 0),
    created_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL
);
INSERT INTO policies (version, ratio_bp_0, ratio_bp_1, ratio_bp_2, ratio_bp_3, deductible_cents, annual_cap_cents, created_at)
VALUES (1, 7000, 9000, 8500, 8000, 20000, 5000000, 0);

-- Stored uploads, content-addressed on disk or object storage; never under a web root.
CREATE TABLE files (
    id {{id}},
    owner_id BIGINT NOT NULL REFERENCES users (id),
    sha256 TEXT NOT NULL,
    mime TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    width BIGINT,
    height BIGINT,
    storage_key TEXT NOT NULL,
    thumb_key TEXT,
    original_name TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX files_owner_idx ON files (owner_id);
CREATE INDEX files_sha256_idx ON files (sha256);

-- CaseListSet: a medical case (病历) and its claim.
CREATE TABLE cases (
    id {{id}},
    student_id BIGINT NOT NULL REFERENCES users (id),
    hospital TEXT NOT NULL,
    hospital_level BIGINT CHECK (hospital_level BETWEEN 0 AND 3),
    reason TEXT NOT NULL,
    visit_date TEXT NOT NULL,
    coverage_year BIGINT NOT NULL,
    status TEXT NOT NULL DEFAULT 'draft' CHECK (status IN
        ('draft', 'submitted', 'level2', 'approved', 'booked', 'completed', 'returned', 'rejected', 'withdrawn')),
    review_level BIGINT NOT NULL DEFAULT 0 CHECK (review_level BETWEEN 0 AND 2),
    may_edit BIGINT NOT NULL DEFAULT 1 CHECK (may_edit IN (0, 1)),
    source TEXT NOT NULL DEFAULT 'student' CHECK (source IN ('student', 'hospital')),
    payout_cents BIGINT,
    deductible_used_cents BIGINT,               -- part of the year's deductible this case used
    policy_version BIGINT,
    payout_breakdown TEXT,                      -- JSON explanation of the payout
    reviewer1_id BIGINT REFERENCES users (id),
    reviewer2_id BIGINT REFERENCES users (id),
    version BIGINT NOT NULL DEFAULT 1,          -- bumps on every change to the case or its invoices
    created_at BIGINT NOT NULL,
    first_submitted_at BIGINT,
    submitted_at BIGINT,                        -- latest (re)submission: queue order
    updated_at BIGINT NOT NULL,
    approved_at BIGINT,
    handed_in_at BIGINT
);
CREATE INDEX cases_student_idx ON cases (student_id, created_at);
CREATE INDEX cases_queue_idx ON cases (status, submitted_at, id);

CREATE TABLE case_records (
    id {{id}},
    case_id BIGINT NOT NULL REFERENCES cases (id),
    file_id BIGINT NOT NULL REFERENCES files (id),
    created_at BIGINT NOT NULL
);
CREATE INDEX case_records_case_idx ON case_records (case_id);

-- LogListSet: an invoice (发票) of a case.
CREATE TABLE invoices (
    id {{id}},
    case_id BIGINT NOT NULL REFERENCES cases (id),
    invoice_no TEXT NOT NULL,
    total_cents BIGINT NOT NULL CHECK (total_cents > 0),
    self_pay_cents BIGINT NOT NULL CHECK (self_pay_cents >= 0 AND self_pay_cents <= total_cents),
    photo_file_id BIGINT REFERENCES files (id),
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    reason TEXT,
    may_edit BIGINT NOT NULL DEFAULT 1 CHECK (may_edit IN (0, 1)),
    hospital_verified BIGINT NOT NULL DEFAULT 0 CHECK (hospital_verified IN (0, 1)),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX invoices_case_idx ON invoices (case_id);
CREATE INDEX invoices_no_idx ON invoices (invoice_no);

-- CheckList: every review decision, with corrections recorded old -> new.
CREATE TABLE review_decisions (
    id {{id}},
    case_id BIGINT NOT NULL REFERENCES cases (id),
    invoice_id BIGINT REFERENCES invoices (id),
    reviewer_id BIGINT NOT NULL REFERENCES users (id),
    level BIGINT NOT NULL CHECK (level IN (1, 2)),
    result TEXT NOT NULL,
    reason TEXT,
    may_edit BIGINT CHECK (may_edit IN (0, 1)),
    changes TEXT,                               -- JSON
    created_at BIGINT NOT NULL
);
CREATE INDEX review_decisions_case_idx ON review_decisions (case_id, id);

CREATE TABLE rejection_reasons (
    id {{id}},
    text_zh TEXT NOT NULL,
    text_en TEXT NOT NULL,
    sort_order BIGINT NOT NULL DEFAULT 0,
    active BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1))
);
INSERT INTO rejection_reasons (text_zh, text_en, sort_order) VALUES
    ('发票照片不清晰', 'Invoice photo is not legible', 1),
    ('非正规医疗发票', 'Not a valid medical invoice', 2),
    ('金额与发票不符', 'Amount does not match the invoice', 3),
    ('专家门诊费用不予报销', 'Expert clinic fees are not reimbursable', 4),
    ('缺少病历或诊断证明', 'Medical record or diagnosis is missing', 5),
    ('非转诊医院就诊', 'Visit was not at a referral hospital', 6);

-- BlackList: an invoice number that may never be claimed again by that student.
CREATE TABLE blacklist (
    id {{id}},
    user_id BIGINT NOT NULL REFERENCES users (id),
    invoice_no TEXT NOT NULL,
    case_id BIGINT REFERENCES cases (id),
    created_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, invoice_no)
);
CREATE INDEX blacklist_no_idx ON blacklist (invoice_no);

-- OrderInfo: a hand-in slot; `booked` is kept exact by conditional updates.
CREATE TABLE slots (
    id {{id}},
    slot_date TEXT NOT NULL,
    start_time TEXT NOT NULL,
    end_time TEXT NOT NULL,
    capacity BIGINT NOT NULL CHECK (capacity >= 0),
    booked BIGINT NOT NULL DEFAULT 0 CHECK (booked >= 0 AND booked <= capacity),
    created_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL,
    UNIQUE (slot_date, start_time)
);

-- OrderList: a booking of a slot for a case.
CREATE TABLE bookings (
    id {{id}},
    slot_id BIGINT NOT NULL REFERENCES slots (id),
    case_id BIGINT NOT NULL REFERENCES cases (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'cancelled', 'completed', 'no_show')),
    created_at BIGINT NOT NULL,
    cancelled_at BIGINT,
    completed_at BIGINT
);
CREATE INDEX bookings_slot_idx ON bookings (slot_id, status);
CREATE INDEX bookings_case_idx ON bookings (case_id, status);

CREATE TABLE notices (
    id {{id}},
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    priority BIGINT NOT NULL DEFAULT 0,
    published_at BIGINT NOT NULL,
    valid_until BIGINT,
    file_id BIGINT REFERENCES files (id),
    created_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX notices_order_idx ON notices (priority, published_at);

-- In-app inbox.
CREATE TABLE notifications (
    id {{id}},
    user_id BIGINT NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    case_id BIGINT REFERENCES cases (id),
    read_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX notifications_user_idx ON notifications (user_id, id);

-- Durable outbox of messages and outbound calls, claimed by workers.
CREATE TABLE outbox (
    id {{id}},
    channel TEXT NOT NULL,                      -- sms, email, insurer, ...
    recipient TEXT,                             -- encrypted where it is personal data
    payload TEXT NOT NULL,                      -- JSON
    idempotency_key TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'dead', 'not_configured')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    locked_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX outbox_due_idx ON outbox (status, next_attempt_at);

CREATE TABLE support_threads (
    id {{id}},
    user_id BIGINT NOT NULL REFERENCES users (id),
    subject TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'answered', 'closed')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX support_threads_user_idx ON support_threads (user_id, updated_at);

CREATE TABLE support_messages (
    id {{id}},
    thread_id BIGINT NOT NULL REFERENCES support_threads (id),
    author_id BIGINT NOT NULL REFERENCES users (id),
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX support_messages_thread_idx ON support_messages (thread_id, id);

-- Hash-chained audit log. `audit_head` is locked by every writer (UPDATE) so the chain
-- never forks, and remembers the last hash so a deleted tail is noticed.
CREATE TABLE audit_events (
    id {{id}},
    seq BIGINT NOT NULL UNIQUE,
    at BIGINT NOT NULL,
    actor_id BIGINT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    summary TEXT NOT NULL,
    client_addr TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    last_hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, last_hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
