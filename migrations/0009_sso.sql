-- Sign-on (SPEC §13): flows in progress, tickets already used, and WeChat bindings.

-- A sign-on under way: the `state` (only its hash) bound to the browser by a cookie, with what
-- the callback needs. A row is deleted when its callback comes, so each state works once.
CREATE TABLE sso_flows (
    state_hash TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    nonce TEXT,
    pkce_verifier TEXT,
    next_path TEXT NOT NULL,
    bind_user_id BIGINT REFERENCES users(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Tickets and codes that were presented (hashes only): each works once; a CAS ticket also names
-- the session it created, for single logout.
CREATE TABLE sso_tickets (
    ticket_hash TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    session_id BIGINT REFERENCES sessions(id),
    used_at BIGINT NOT NULL
);

-- A WeChat `openid` bound to one account.
CREATE TABLE wechat_bindings (
    openid TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL UNIQUE REFERENCES users(id),
    bound_at BIGINT NOT NULL
);
