-- Claims intake: one-time codes for changing the phone number (sent by SMS through the outbox).
-- Only a keyed hash of the code is kept; the new number is encrypted like users.phone_enc.
CREATE TABLE phone_change_codes (
    id {{id}},
    user_id BIGINT NOT NULL REFERENCES users (id),
    code_hash TEXT NOT NULL,
    phone_enc TEXT NOT NULL,
    phone_bidx TEXT NOT NULL,
    tries_left BIGINT NOT NULL DEFAULT 5,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX phone_change_codes_user_idx ON phone_change_codes (user_id, created_at);
