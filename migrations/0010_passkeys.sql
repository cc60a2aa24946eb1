-- Passkeys (SPEC §9, §13: "fingerprint on the second login") and step-up re-authentication.

-- A registered passkey. `passkey_json` is webauthn-rs's serialised credential (public key,
-- algorithm, counter: no secret); `sign_count` is the last signature counter seen, and an
-- assertion whose counter does not go above it is refused (a cloned authenticator).
-- `user_handle` is the random WebAuthn user id of the account (the same on all its passkeys;
-- the authenticator hands it back in a usernameless sign-in).
CREATE TABLE passkeys (
    id {{id}},
    user_id BIGINT NOT NULL REFERENCES users(id),
    user_handle TEXT NOT NULL,
    credential_id TEXT NOT NULL UNIQUE,
    passkey_json TEXT NOT NULL,
    name TEXT NOT NULL,
    sign_count BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX passkeys_user ON passkeys (user_id);

-- A WebAuthn ceremony between its two requests, keyed by its challenge, so that any instance
-- can finish what another started; a row is deleted when it is finished (each works once).
CREATE TABLE passkey_ceremonies (
    challenge TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('register', 'login', 'reauth')),
    state_json TEXT NOT NULL,
    user_id BIGINT REFERENCES users(id),
    expires_at BIGINT NOT NULL
);
CREATE INDEX passkey_ceremonies_expiry ON passkey_ceremonies (expires_at);

-- Step-up: when the session's owner last proved who they are (password or passkey).
ALTER TABLE sessions ADD COLUMN reauth_at BIGINT;
