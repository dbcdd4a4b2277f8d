-- Cases: one case per EP application whatever number it was added by, and a slower retry
-- for a case the office does not know.

-- The EP publication (epodoc, EP + 7 digits) a case was added by, once the Register said
-- which application it belongs to; `number` is then the application.
ALTER TABLE cases ADD COLUMN publication_number TEXT;
CREATE INDEX cases_publication ON cases (publication_number) WHERE publication_number IS NOT NULL;

-- While the office does not know a case: since when, how many lookups in a row said so, and
-- when the next one is due (core::schedule::not_found_wait_days). NULL/0 otherwise.
ALTER TABLE cases ADD COLUMN not_found_since TEXT;
ALTER TABLE cases ADD COLUMN not_found_misses INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN next_attempt_at TEXT;
