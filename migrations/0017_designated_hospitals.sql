-- The designated (referral) hospitals the university reimburses (issue 17 item 7), with their
-- level. Not the gateway partners (`hospitals`): a list the office keeps. `name_key` and
-- `alias_keys` are the normalised forms a typed name is matched on ('|' around each alias key).
CREATE TABLE designated_hospitals (
    id {{id}},
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    level BIGINT NOT NULL CHECK (level BETWEEN 0 AND 3),
    aliases TEXT NOT NULL DEFAULT '',
    alias_keys TEXT NOT NULL DEFAULT '',
    active BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
