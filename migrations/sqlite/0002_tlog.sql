-- Transparency log. `tlog_leaves` holds one leaf per event, written in the event's own
-- transaction, numbered 0, 1, 2, ... with no gaps; `tlog_checkpoints` keeps every signed
-- checkpoint. Both are append-only. The leaf data is derived from the event (docs/tlog.md), so
-- only its hash is stored here.

CREATE TABLE tlog_leaves (
    idx     INTEGER PRIMARY KEY,
    number  TEXT    NOT NULL,
    version INTEGER NOT NULL,
    hash    BLOB    NOT NULL,
    UNIQUE (number, version)
);

CREATE TRIGGER tlog_leaves_in_order BEFORE INSERT ON tlog_leaves
WHEN NEW.idx IS NOT (SELECT COALESCE(MAX(idx) + 1, 0) FROM tlog_leaves)
BEGIN
    SELECT RAISE(ABORT, 'log leaves are appended in order');
END;

CREATE TRIGGER tlog_leaves_need_event BEFORE INSERT ON tlog_leaves
WHEN NOT EXISTS (SELECT 1 FROM events WHERE number = NEW.number AND version = NEW.version)
BEGIN
    SELECT RAISE(ABORT, 'log leaf without its event');
END;

CREATE TRIGGER tlog_leaves_no_update BEFORE UPDATE ON tlog_leaves
BEGIN
    SELECT RAISE(ABORT, 'the log is append-only');
END;

CREATE TRIGGER tlog_leaves_no_delete BEFORE DELETE ON tlog_leaves
BEGIN
    SELECT RAISE(ABORT, 'the log is append-only');
END;

CREATE TABLE tlog_checkpoints (
    size       INTEGER PRIMARY KEY,
    root       BLOB    NOT NULL,
    note       TEXT    NOT NULL,
    created_at TEXT    NOT NULL
);

CREATE TRIGGER tlog_checkpoints_no_update BEFORE UPDATE ON tlog_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'checkpoints are append-only');
END;

CREATE TRIGGER tlog_checkpoints_no_delete BEFORE DELETE ON tlog_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'checkpoints are append-only');
END;
