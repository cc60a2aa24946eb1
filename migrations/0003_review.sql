-- Review console: indexes for the anomaly flags and staff search (see src/review/flags.rs and
-- src/review/search.rs for which query each one serves).

-- Same photo in another claim: files_sha256_idx finds the files with the same content, this
-- finds the invoices using them.
CREATE INDEX invoices_photo_idx ON invoices (photo_file_id);

-- A hospital's usual amounts (median of its approved invoices).
CREATE INDEX cases_hospital_idx ON cases (hospital);
