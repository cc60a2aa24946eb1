-- Issue 16 item 2: "我的" lists one's sessions by device; forgotten passwords are reset by a
-- one-time secret (an SMS code now, an administrator's reset link later).

-- A short label from the User-Agent at sign-in ("Chrome · Android"), never the full string.
ALTER TABLE sessions ADD COLUMN device TEXT;

-- One-time password-reset secrets. Only a keyed hash of the secret is kept; each is single
-- use, expires, and allows a few wrong tries. `via` says how it reached the person: a 6-digit
-- code by SMS to the phone on file, or a link an administrator hands over (`created_by`).
CREATE TABLE password_resets (
    id {{id}},
    user_id BIGINT NOT NULL REFERENCES users (id),
    via TEXT NOT NULL CHECK (via IN ('sms', 'link')),
    secret_hash TEXT NOT NULL,
    tries_left BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    created_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL
);
CREATE INDEX password_resets_user_idx ON password_resets (user_id, created_at);
CREATE INDEX password_resets_secret_idx ON password_resets (secret_hash);
