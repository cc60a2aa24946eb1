-- The university's name, the office's name and how to reach it, and its logo (issue 17 item
-- 8), set by an administrator; one row. Empty text means "not set" (the product's own name is
-- shown instead).
CREATE TABLE branding (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    university_name TEXT NOT NULL DEFAULT '',
    office_name TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    opening_hours TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    logo_file_id BIGINT REFERENCES files (id),
    updated_at BIGINT NOT NULL
);
