-- A run stopped by a signal, or found unfinished by the next writer, is 'interrupted'.
-- SQLite cannot alter a CHECK: the table is rebuilt with every column of 0001 and 0002.

CREATE TABLE sync_runs_new (
    id                  INTEGER PRIMARY KEY,
    job                 TEXT NOT NULL,              -- 'mailbox', 'status'
    started_at          TEXT NOT NULL,
    finished_at         TEXT,
    outcome             TEXT CHECK (outcome IN ('ok', 'partial', 'failed', 'interrupted')),
    listed              INTEGER NOT NULL DEFAULT 0,
    archived            INTEGER NOT NULL DEFAULT 0,
    handled             INTEGER NOT NULL DEFAULT 0,
    failed              INTEGER NOT NULL DEFAULT 0,
    quarantined         INTEGER NOT NULL DEFAULT 0,
    error               TEXT,
    checked             INTEGER NOT NULL DEFAULT 0,
    changes             INTEGER NOT NULL DEFAULT 0
) STRICT;

INSERT INTO sync_runs_new (id, job, started_at, finished_at, outcome, listed, archived, handled, failed,
                           quarantined, error, checked, changes)
    SELECT id, job, started_at, finished_at, outcome, listed, archived, handled, failed,
           quarantined, error, checked, changes
    FROM sync_runs;

DROP TABLE sync_runs;
ALTER TABLE sync_runs_new RENAME TO sync_runs;
