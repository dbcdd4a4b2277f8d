-- Mailbox: every communication the office listed, its local state, its archived documents,
-- and one row per sync run. Times are RFC 3339 UTC text unless named *_unix.

CREATE TABLE communications (
    id                  TEXT PRIMARY KEY NOT NULL,  -- the office's communication id, verbatim
    office              TEXT NOT NULL,              -- 'EP' for MyEPO
    application_number  TEXT NOT NULL,              -- as the office wrote it (EP23184567.2, PCT/EP2024/012345)
    document_code       TEXT NOT NULL,              -- EPO Form number
    title               TEXT NOT NULL,
    dispatch_date       TEXT NOT NULL,              -- YYYY-MM-DD: the legal notification date
    delivered_at        TEXT,
    user_reference      TEXT,
    metadata_json       TEXT NOT NULL,              -- the item as last listed, raw
    state               TEXT NOT NULL CHECK (state IN ('seen', 'archived', 'handled', 'quarantined')),
    handled_at_office   INTEGER NOT NULL DEFAULT 0 CHECK (handled_at_office IN (0, 1)),
    handled_by          TEXT CHECK (handled_by IN ('mailroom', 'office')),
    attempts            INTEGER NOT NULL DEFAULT 0,
    not_before_unix     INTEGER,                    -- no archiving attempt before this
    last_error          TEXT,
    first_seen_at       TEXT NOT NULL,
    last_seen_at        TEXT NOT NULL,
    archived_at         TEXT,
    handled_at          TEXT,
    quarantined_at      TEXT,
    CHECK (state NOT IN ('archived', 'handled') OR archived_at IS NOT NULL)
) STRICT;

CREATE INDEX communications_state ON communications (state);
CREATE INDEX communications_dispatch ON communications (dispatch_date);

CREATE TABLE documents (
    communication_id    TEXT NOT NULL REFERENCES communications (id),
    document_key        TEXT NOT NULL,              -- the office's document id; '' for a single flat file
    file_name           TEXT,
    media_type          TEXT,
    size                INTEGER NOT NULL,
    sha256              TEXT NOT NULL,
    path                TEXT NOT NULL,              -- relative to the archive directory
    archived_at         TEXT NOT NULL,
    PRIMARY KEY (communication_id, document_key)
) STRICT;

CREATE TABLE sync_runs (
    id                  INTEGER PRIMARY KEY,
    job                 TEXT NOT NULL,              -- 'mailbox'
    started_at          TEXT NOT NULL,
    finished_at         TEXT,
    outcome             TEXT CHECK (outcome IN ('ok', 'partial', 'failed')),
    listed              INTEGER NOT NULL DEFAULT 0,
    archived            INTEGER NOT NULL DEFAULT 0,
    handled             INTEGER NOT NULL DEFAULT 0,
    failed              INTEGER NOT NULL DEFAULT 0,
    quarantined         INTEGER NOT NULL DEFAULT 0,
    error               TEXT
) STRICT;
