-- Counterparts (issue 11): the JP cases found through the INPADOC family of an EP case and
-- through the JPO's national-phase API for a PCT application, linked to what they belong to.

-- `cases.source` gains 'family' and 'pct'. SQLite cannot change a CHECK constraint in place,
-- so the table is rebuilt as https://www.sqlite.org/lang_altertable.html#otheralter says
-- (`store::migrate` runs every migration with foreign keys off and checks them before commit).
CREATE TABLE cases_new (
    id                  INTEGER PRIMARY KEY,
    office              TEXT NOT NULL CHECK (office IN ('EP', 'JP')),
    kind                TEXT NOT NULL CHECK (kind IN ('patent', 'design', 'trademark')),
    number              TEXT NOT NULL,
    input_number        TEXT NOT NULL,
    client_reference    TEXT,
    source              TEXT NOT NULL CHECK (source IN ('mailbox', 'manual', 'import', 'family', 'pct')),
    added_at            TEXT NOT NULL,
    removed_at          TEXT,
    checked_at          TEXT,
    attempted_at        TEXT,
    last_error          TEXT,
    not_found           INTEGER NOT NULL DEFAULT 0 CHECK (not_found IN (0, 1)),
    status_code         TEXT,
    status_text         TEXT,
    status_date         TEXT,
    fingerprint         TEXT,
    last_change_at      TEXT,
    publication_number  TEXT,
    not_found_since     TEXT,
    not_found_misses    INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     TEXT,
    UNIQUE (office, kind, number)
) STRICT;

INSERT INTO cases_new (id, office, kind, number, input_number, client_reference, source, added_at,
    removed_at, checked_at, attempted_at, last_error, not_found, status_code, status_text, status_date,
    fingerprint, last_change_at, publication_number, not_found_since, not_found_misses, next_attempt_at)
SELECT id, office, kind, number, input_number, client_reference, source, added_at,
    removed_at, checked_at, attempted_at, last_error, not_found, status_code, status_text, status_date,
    fingerprint, last_change_at, publication_number, not_found_since, not_found_misses, next_attempt_at
FROM cases;

DROP TABLE cases;
ALTER TABLE cases_new RENAME TO cases;
CREATE INDEX cases_publication ON cases (publication_number) WHERE publication_number IS NOT NULL;

-- The last family lookup of each EP case: when, and what OPS said. A lookup that failed
-- leaves no row (the next cycle tries again); "none" (OPS knows no family) waits like a found
-- one (core::schedule::lookups_due).
CREATE TABLE family_lookups (
    ep_case_id          INTEGER PRIMARY KEY REFERENCES cases (id),
    looked_up_at        TEXT NOT NULL,
    family_id           TEXT,                       -- NULL: OPS knows no family
    truncated           INTEGER NOT NULL DEFAULT 0 CHECK (truncated IN (0, 1))
) STRICT;

-- The members of that family, replaced with each lookup. For a JP member: the JPO number it
-- maps to, or why it does not (core::family), and the case it is followed as.
CREATE TABLE family_members (
    id                  INTEGER PRIMARY KEY,
    ep_case_id          INTEGER NOT NULL REFERENCES family_lookups (ep_case_id),
    country             TEXT NOT NULL,
    publication         TEXT,                       -- docdb (JP.2021090037.A) or epodoc
    application         TEXT,                       -- the references as OPS gave them, space-separated
    jp_number           TEXT,                       -- JP members: the JPO application number
    unmapped_reason     TEXT,                       -- JP members not mapped: why
    jp_case_id          INTEGER REFERENCES cases (id)
) STRICT;
CREATE INDEX family_members_case ON family_members (ep_case_id);

-- PCT applications from the mailbox and their JP national phase.
CREATE TABLE pct_lookups (
    international_application TEXT PRIMARY KEY,    -- as the mailbox wrote it: PCT/EP2024/071234
    jpo_form            TEXT,                       -- EP2024071234; NULL if it cannot be written so
    looked_up_at        TEXT NOT NULL,
    jp_number           TEXT,                       -- NULL: no national phase known (107)
    jp_case_id          INTEGER REFERENCES cases (id),
    reason              TEXT                        -- why it cannot be looked up
) STRICT;

-- Which JP case is the counterpart of which EP or PCT case. One row per pair; a person's
-- removal of the JP case keeps the row (the family view still shows it) and is never undone
-- by a lookup.
CREATE TABLE case_links (
    jp_case_id          INTEGER NOT NULL REFERENCES cases (id),
    linked_to           TEXT NOT NULL,              -- EP application (epodoc) or PCT number
    ep_case_id          INTEGER REFERENCES cases (id),
    via                 TEXT NOT NULL CHECK (via IN ('family', 'pct')),
    family_id           TEXT,
    linked_at           TEXT NOT NULL,
    PRIMARY KEY (jp_case_id, linked_to)
) STRICT;
CREATE INDEX case_links_to ON case_links (linked_to);
