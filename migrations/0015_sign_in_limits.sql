-- The sign-in limit per client address, shared by every instance on PostgreSQL (one token
-- bucket per address; SQLite, with one instance, keeps it in memory and leaves this empty).
CREATE TABLE sign_in_limits (
    address TEXT PRIMARY KEY,           -- the address, an IPv6 address by its /64
    tokens_milli BIGINT NOT NULL,       -- thousandths of an attempt left in the bucket
    seen_at BIGINT NOT NULL,            -- ms, the last attempt
    allowed BIGINT NOT NULL             -- 0/1: whether the last attempt was let through
);
CREATE INDEX sign_in_limits_seen_idx ON sign_in_limits (seen_at);
