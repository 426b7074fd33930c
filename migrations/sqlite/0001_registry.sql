-- Starmark embedded store. `events` is the append-only log of every signed record version;
-- `certificates` is the current state derived from it, never changed without a matching event.

CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    number     TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    actor      TEXT    NOT NULL,
    at         TEXT    NOT NULL,
    details    TEXT    NOT NULL,
    record     TEXT    NOT NULL,
    signature  TEXT    NOT NULL,
    UNIQUE (number, version)
);

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;

CREATE TABLE certificates (
    number         TEXT    PRIMARY KEY,
    version        INTEGER NOT NULL,
    holder_name    TEXT    NOT NULL,
    holder_name_en TEXT,
    uscc           TEXT    NOT NULL,
    level          TEXT    NOT NULL,
    state          TEXT    NOT NULL,
    valid_until    TEXT    NOT NULL,
    record         TEXT    NOT NULL,
    signature      TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL
) WITHOUT ROWID;

CREATE INDEX certificates_uscc ON certificates (uscc);

-- The current state must always be a version that the log holds, with the same bytes.
CREATE TRIGGER certificates_insert_needs_event BEFORE INSERT ON certificates
WHEN NOT EXISTS (
    SELECT 1 FROM events
    WHERE number = NEW.number AND version = NEW.version AND record = NEW.record
)
BEGIN
    SELECT RAISE(ABORT, 'certificate state without its event');
END;

CREATE TRIGGER certificates_update_needs_event BEFORE UPDATE ON certificates
WHEN NOT EXISTS (
    SELECT 1 FROM events
    WHERE number = NEW.number AND version = NEW.version AND record = NEW.record
)
BEGIN
    SELECT RAISE(ABORT, 'certificate state without its event');
END;

CREATE TRIGGER certificates_no_delete BEFORE DELETE ON certificates
BEGIN
    SELECT RAISE(ABORT, 'certificates are never deleted');
END;

CREATE TABLE number_sequences (
    year INTEGER PRIMARY KEY,
    last INTEGER NOT NULL
);

CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY,
    role        TEXT NOT NULL,
    secret_hash BLOB NOT NULL,
    label       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
