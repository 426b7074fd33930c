-- The transparency log's origin (its name in every checkpoint and the name of its note key),
-- fixed the first time the store is used and never changed: checkpoints signed under one name
-- cannot be continued under another (src/registry/origin.rs).
CREATE TABLE tlog_origin (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    origin TEXT    NOT NULL
);

CREATE TRIGGER tlog_origin_no_update BEFORE UPDATE ON tlog_origin
BEGIN
    SELECT RAISE(ABORT, 'the log origin is fixed');
END;

CREATE TRIGGER tlog_origin_no_delete BEFORE DELETE ON tlog_origin
BEGIN
    SELECT RAISE(ABORT, 'the log origin is fixed');
END;
