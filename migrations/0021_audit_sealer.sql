-- Issue 19 item 3: the audit chain off the write path. A writer only inserts its event; the
-- sealer gives it its sequence number and hashes later (see src/audit/mod.rs), so an event
-- waiting to be sealed has none yet. PostgreSQL drops the NOT NULLs; SQLite cannot alter a
-- column, so its stored table text is edited (SQLite's documented procedure for removing NOT
-- NULL constraints, which does not touch stored rows).
{{postgres}} ALTER TABLE audit_events ALTER COLUMN seq DROP NOT NULL;
{{postgres}} ALTER TABLE audit_events ALTER COLUMN prev_hash DROP NOT NULL;
{{postgres}} ALTER TABLE audit_events ALTER COLUMN hash DROP NOT NULL;
{{sqlite}} PRAGMA writable_schema = ON;
{{sqlite}} UPDATE sqlite_master SET sql = replace(replace(replace(sql, 'seq BIGINT NOT NULL UNIQUE', 'seq BIGINT UNIQUE'), 'prev_hash TEXT NOT NULL', 'prev_hash TEXT'), 'hash TEXT NOT NULL', 'hash TEXT') WHERE type = 'table' AND name = 'audit_events';
{{sqlite}} PRAGMA writable_schema = OFF;

-- The sealer's work list: only the events not yet sealed.
CREATE INDEX audit_events_pending_idx ON audit_events (id) WHERE seq IS NULL;
