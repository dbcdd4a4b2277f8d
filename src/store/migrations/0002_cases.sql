-- Case status: the firm's cases, a snapshot of each office status whenever it changes, the
-- change events found between snapshots, and the offices' usage counters.

CREATE TABLE cases (
    id                  INTEGER PRIMARY KEY,
    office              TEXT NOT NULL CHECK (office IN ('EP', 'JP')),
    kind                TEXT NOT NULL CHECK (kind IN ('patent', 'design', 'trademark')),
    number              TEXT NOT NULL,              -- normalised: EP10167109, EP2400812, 2020123456
    input_number        TEXT NOT NULL,              -- as a person or the office first wrote it
    client_reference    TEXT,
    source              TEXT NOT NULL CHECK (source IN ('mailbox', 'manual', 'import')),
    added_at            TEXT NOT NULL,
    removed_at          TEXT,                       -- removed cases keep their history; never re-added from the mailbox
    checked_at          TEXT,                       -- last successful refresh
    attempted_at        TEXT,                       -- last refresh attempt, successful or not
    last_error          TEXT,                       -- why the last attempt failed; NULL after a success
    not_found           INTEGER NOT NULL DEFAULT 0 CHECK (not_found IN (0, 1)),
    status_code         TEXT,
    status_text         TEXT,
    status_date         TEXT,
    fingerprint         TEXT,                       -- of the latest snapshot
    last_change_at      TEXT,
    UNIQUE (office, kind, number)
) STRICT;

CREATE TABLE snapshots (
    id                  INTEGER PRIMARY KEY,
    case_id             INTEGER NOT NULL REFERENCES cases (id),
    taken_at            TEXT NOT NULL,
    fingerprint         TEXT NOT NULL,
    status_json         TEXT NOT NULL               -- core::status::CaseStatus as JSON
) STRICT;

CREATE INDEX snapshots_case ON snapshots (case_id, id);

CREATE TABLE changes (
    id                  INTEGER PRIMARY KEY,
    case_id             INTEGER NOT NULL REFERENCES cases (id),
    snapshot_id         INTEGER NOT NULL REFERENCES snapshots (id),
    detected_at         TEXT NOT NULL,
    kind                TEXT NOT NULL,              -- core::status::ChangeKind
    office_date         TEXT NOT NULL,              -- YYYY-MM-DD the office gave, '' if none
    summary             TEXT NOT NULL,
    old_value           TEXT,
    new_value           TEXT
) STRICT;

CREATE INDEX changes_detected ON changes (detected_at);
CREATE INDEX changes_case ON changes (case_id, id);

CREATE TABLE jpo_usage (
    day                 TEXT NOT NULL,              -- the JST day the counter belongs to
    right_kind          TEXT NOT NULL,
    api                 TEXT NOT NULL,
    used                INTEGER NOT NULL,
    remain              INTEGER,                    -- the office's last remainAccessCount
    exhausted           INTEGER NOT NULL DEFAULT 0 CHECK (exhausted IN (0, 1)),
    PRIMARY KEY (day, right_kind, api)
) STRICT;

CREATE TABLE ops_usage (
    id                  INTEGER PRIMARY KEY CHECK (id = 1),
    observed_at         TEXT NOT NULL,
    week_bytes_used     INTEGER,
    hour_bytes_used     INTEGER,
    throttle            TEXT                        -- the last X-Throttling-Control
) STRICT;

-- A status run counts cases checked and change events found.
ALTER TABLE sync_runs ADD COLUMN checked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_runs ADD COLUMN changes INTEGER NOT NULL DEFAULT 0;
