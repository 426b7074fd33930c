-- The transparency log's origin (its name in every checkpoint and the name of its note key),
-- fixed the first time the store is used and never changed: checkpoints signed under one name
-- cannot be continued under another (src/registry/origin.rs).
CREATE TABLE tlog_origin (
    id     integer PRIMARY KEY CHECK (id = 1),
    origin text    NOT NULL
);

CREATE TRIGGER tlog_origin_no_update BEFORE UPDATE ON tlog_origin
    FOR EACH ROW EXECUTE FUNCTION starmark_refuse('the log origin is fixed');
CREATE TRIGGER tlog_origin_no_delete BEFORE DELETE ON tlog_origin
    FOR EACH ROW EXECUTE FUNCTION starmark_refuse('the log origin is fixed');
CREATE TRIGGER tlog_origin_no_truncate BEFORE TRUNCATE ON tlog_origin
    FOR EACH STATEMENT EXECUTE FUNCTION starmark_refuse('the log origin is fixed');
