-- Deadlines (issue 13): the time limit each communication (or JPO document) starts, proposed with its
-- reasoning, checked against the EP Register, and confirmed by a person. Rows are never
-- deleted: a deadline that no longer applies is 'withdrawn', and a recomputation keeps the
-- date it replaced in previous_due.

CREATE TABLE deadlines (
    id                  INTEGER PRIMARY KEY,
    communication_id    TEXT UNIQUE REFERENCES communications (id),  -- a mailbox communication, or
    jp_document         TEXT UNIQUE,                -- a JPO document: '<case id>:<document number or code@date>'
    office              TEXT NOT NULL CHECK (office IN ('EP', 'JP')),
    application_number  TEXT NOT NULL,              -- as the office wrote it
    case_number         TEXT,                       -- normalised (EP10167109), to meet the Register; NULL if unparsable
    title               TEXT NOT NULL,
    document_code       TEXT NOT NULL,              -- EPO form or JPO document code: reminders route by it
    document_date       TEXT NOT NULL,              -- YYYY-MM-DD the period runs from
    received_date       TEXT,                       -- the Mailbox delivery's local date
    source              TEXT NOT NULL CHECK (source IN ('rule', 'letter', 'register')),
    basis               TEXT NOT NULL,              -- 'Rule 71(3) EPC'
    period              TEXT NOT NULL,              -- core::deadline::Period as '4m'
    due                 TEXT NOT NULL,              -- YYYY-MM-DD, after every extension
    unextended          TEXT NOT NULL,              -- before Rule 134(1) EPC / Art. 3(2) moved it
    previous_due        TEXT,                       -- what a recomputation replaced
    steps_json          TEXT NOT NULL,              -- the reasoning, one string per step
    notes_json          TEXT NOT NULL,              -- how the period was chosen
    warnings_json       TEXT NOT NULL,              -- 'calendar missing for 2027', …
    letter_json         TEXT NOT NULL,              -- core::deadline::propose::LetterReading
    remedy              TEXT,
    register            TEXT NOT NULL DEFAULT 'unchecked'
                        CHECK (register IN ('unchecked', 'confirmed', 'disagrees')),
    register_detail     TEXT,                       -- the step and its period
    state               TEXT NOT NULL DEFAULT 'open'
                        CHECK (state IN ('open', 'acknowledged', 'done', 'withdrawn')),
    acknowledged_by     TEXT,
    acknowledged_at     TEXT,
    done_at             TEXT,
    withdrawn_at        TEXT,                       -- a person said it no longer applies (the note says why)
    note                TEXT,
    created_at          TEXT NOT NULL,
    computed_at         TEXT NOT NULL,
    CHECK (state <> 'acknowledged' OR acknowledged_at IS NOT NULL),
    CHECK ((communication_id IS NULL) <> (jp_document IS NULL))
) STRICT;

CREATE INDEX deadlines_due ON deadlines (state, due);
-- The Register check looks deadlines up by case and date, and the start of the mailbox
-- history up by its first sighting, once per case per status cycle: indexed, so a cycle's
-- cost does not grow with the history.
CREATE INDEX deadlines_case_date ON deadlines (case_number, document_date);
CREATE INDEX communications_first_seen ON communications (first_seen_at);

-- The reminder rungs sent (or skipped as reached together with a nearer one), so a restart
-- never sends one twice.
CREATE TABLE deadline_reminders (
    deadline_id         INTEGER NOT NULL REFERENCES deadlines (id),
    days_before         INTEGER NOT NULL,
    queued_at           TEXT NOT NULL,
    PRIMARY KEY (deadline_id, days_before)
) STRICT;

-- Register time limits seen on followed EP cases, and what became of each: matched to a
-- deadline, or reported as having no communication.
CREATE TABLE register_limits (
    case_id             INTEGER NOT NULL REFERENCES cases (id),
    step_id             TEXT NOT NULL,
    description         TEXT NOT NULL,
    dispatch_date       TEXT NOT NULL,
    period              TEXT NOT NULL,
    first_seen_at       TEXT NOT NULL,
    deadline_id         INTEGER REFERENCES deadlines (id),
    reported_at         TEXT,                       -- when 'no communication' was reported
    PRIMARY KEY (case_id, step_id)
) STRICT;
