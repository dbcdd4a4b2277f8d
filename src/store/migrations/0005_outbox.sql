-- The notification outbox (core::notify, store::outbox). An event is written in the same
-- transaction as the fact it reports; its deliveries (one per channel and recipient, as
-- core::notify::route decided when it was written) with it. A sender drains the deliveries.

CREATE TABLE notify_events (
    id                  INTEGER PRIMARY KEY,
    dedupe_key          TEXT NOT NULL UNIQUE,       -- core::notify::Event::dedupe_key: one event per fact
    kind                TEXT NOT NULL,              -- core::notify::EventKind
    run_id              INTEGER REFERENCES sync_runs (id),
    created_at          TEXT NOT NULL,
    payload_json        TEXT NOT NULL               -- core::notify::Event (the JSON webhook schema)
) STRICT;

CREATE TABLE notify_deliveries (
    id                  INTEGER PRIMARY KEY,
    event_id            INTEGER NOT NULL REFERENCES notify_events (id),
    channel             TEXT NOT NULL CHECK (channel IN ('email', 'webhook', 'desktop')),
    recipient           TEXT NOT NULL,              -- an address, a webhook's name, 'session'
    dedupe_key          TEXT NOT NULL UNIQUE,       -- the event's key, channel and recipient
    state               TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_unix   INTEGER NOT NULL,
    last_error          TEXT,
    last_attempt_at     TEXT,
    sent_at             TEXT,
    sent_as             TEXT,                       -- how it went out: a Message-ID, a summary's id, an HTTP status
    created_at          TEXT NOT NULL,
    CHECK (state <> 'sent' OR sent_at IS NOT NULL)
) STRICT;

CREATE INDEX notify_deliveries_due ON notify_deliveries (next_attempt_unix) WHERE state = 'pending';
CREATE INDEX notify_deliveries_failed ON notify_deliveries (id) WHERE state = 'failed';
CREATE INDEX notify_deliveries_event ON notify_deliveries (event_id);
CREATE INDEX notify_events_created ON notify_events (created_at);
