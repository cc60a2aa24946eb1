-- Medical content sealed at rest (SPEC §9, see src/seal/): the sealing of rows and files written
-- before it is done on start, in batches; this remembers how far each step got, so an
-- interrupted start resumes and a finished step is not scanned again.
CREATE TABLE seal_progress (
    step TEXT PRIMARY KEY,
    last_id BIGINT NOT NULL,
    done BIGINT NOT NULL DEFAULT 0 CHECK (done IN (0, 1)),
    updated_at BIGINT NOT NULL
);
