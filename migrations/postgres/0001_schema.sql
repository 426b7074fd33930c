-- Starmark on PostgreSQL: the whole schema, with the same guarantees as the SQLite migrations
-- (migrations/sqlite, 0001 to 0008) folded into one. `events` is the append-only log of every
-- signed record version; `certificates` is the current state derived from it, never changed
-- without a matching event; `tlog_leaves` is the transparency log, one leaf per event, written
-- in the event's own transaction (src/store/postgres.rs takes a transaction-scoped advisory lock
-- first, so one writer at a time appends, across every instance).
--
-- Certificate numbers use the "C" collation: byte order, as in SQLite, whatever the database's
-- locale, so that number order and the search's keyset cursor are the same on both backends.
-- Records, details and signatures stay text, never jsonb: they are hashed and verified byte for
-- byte, and jsonb would reorder and respace them.

-- A trigger function that refuses the change with the message its trigger passes.
CREATE FUNCTION starmark_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'restrict_violation';
END;
$$;

-- Events -------------------------------------------------------------------------------------

CREATE TABLE events (
    seq        bigint      PRIMARY KEY CHECK (seq > 0),
    number     text        COLLATE "C" NOT NULL,
    version    bigint      NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
    kind       text        NOT NULL,
    actor      text        NOT NULL,
    at         timestamptz NOT NULL,
    details    text        NOT NULL,
    record     text        NOT NULL,
    signature  text        NOT NULL,
    UNIQUE (number, version)
);

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION starmark_refuse('events are append-only');
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION starmark_refuse('events are append-only');
-- TRUNCATE fires no row trigger: refuse it on its own.
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION starmark_refuse('events are append-only');

-- Current state ------------------------------------------------------------------------------

CREATE TABLE certificates (
    number         text        COLLATE "C" PRIMARY KEY,
    version        bigint      NOT NULL,
    holder_name    text        NOT NULL,
    holder_name_en text,
    uscc           text        NOT NULL,
    level          text        NOT NULL,
    state          text        NOT NULL,
    valid_until    date        NOT NULL,
    record         text        NOT NULL,
    signature      text        NOT NULL,
    updated_at     timestamptz NOT NULL
);

CREATE INDEX certificates_uscc ON certificates (uscc);

-- The current state must always be a version that the log holds, with the same bytes, and its
-- search columns are copies of fields of that signed record: none can change behind it. Checked
-- once per statement over all the rows it wrote (a transition table), not once per row: a bulk
-- import writes a thousand rows a statement, and a row trigger each cost more than the row.
CREATE FUNCTION certificates_need_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        -- MATERIALIZED: each record is parsed once, not once for every field compared below.
        WITH parsed AS MATERIALIZED (SELECT w.*, w.record::jsonb AS signed FROM written AS w)
        SELECT 1
        FROM parsed AS w
        -- A scalar subquery, looked up by index row by row: as NOT EXISTS the planner may
        -- turn it into a join that reads all of `events` for every statement.
        WHERE (SELECT e.record FROM events AS e WHERE e.number = w.number AND e.version = w.version)
                IS DISTINCT FROM w.record
            OR to_jsonb(w.version) IS DISTINCT FROM w.signed -> 'version'
            OR w.holder_name IS DISTINCT FROM w.signed #>> '{holder,name}'
            OR w.holder_name_en IS DISTINCT FROM w.signed #>> '{holder,name_en}'
            OR w.uscc IS DISTINCT FROM w.signed #>> '{holder,uscc}'
            OR w.level IS DISTINCT FROM w.signed ->> 'level'
            OR w.state IS DISTINCT FROM w.signed #>> '{status,state}'
            OR to_char(w.valid_until, 'YYYY-MM-DD') IS DISTINCT FROM w.signed ->> 'valid_until'
    ) THEN
        RAISE EXCEPTION 'certificate state without its event' USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NULL;
END;
$$;

-- A trigger with a transition table serves one kind of statement: one for inserts, one for updates.
CREATE TRIGGER certificates_insert_needs_event AFTER INSERT ON certificates
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION certificates_need_events();
CREATE TRIGGER certificates_update_needs_event AFTER UPDATE ON certificates
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION certificates_need_events();
CREATE TRIGGER certificates_no_delete BEFORE DELETE ON certificates
    FOR EACH ROW EXECUTE FUNCTION starmark_refuse('certificates are never deleted');
CREATE TRIGGER certificates_no_truncate BEFORE TRUNCATE ON certificates
    FOR EACH STATEMENT EXECUTE FUNCTION starmark_refuse('certificates are never deleted');

CREATE TABLE number_sequences (
    year integer PRIMARY KEY,
    last bigint  NOT NULL
);

CREATE TABLE api_tokens (
    id          text        PRIMARY KEY,
    role        text        NOT NULL,
    secret_hash bytea       NOT NULL,
    label       text        NOT NULL,
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);

-- Transparency log ---------------------------------------------------------------------------
-- Leaves are numbered 0, 1, 2, ... with no gaps; the leaf data is derived from the event
-- (docs/tlog.md), so only its hash is stored. Checkpoints are kept for good.

CREATE TABLE tlog_leaves (
    idx     bigint PRIMARY KEY,
    number  text   COLLATE "C" NOT NULL,
    version bigint NOT NULL,
    hash    bytea  NOT NULL,
    UNIQUE (number, version)
);

-- Checked once per statement, like the state rows above: the leaves a statement appends must
-- follow the last one before them without a gap, be the last of the log, and each have its event.
CREATE FUNCTION tlog_leaves_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    first_new bigint;
    last_new  bigint;
    added     bigint;
    expected  bigint;
BEGIN
    SELECT min(idx), max(idx), count(*) INTO first_new, last_new, added FROM appended;
    IF added = 0 THEN
        RETURN NULL;
    END IF;
    SELECT COALESCE(max(idx) + 1, 0) INTO expected FROM tlog_leaves WHERE idx < first_new;
    IF first_new <> expected
        OR last_new - first_new + 1 <> added
        OR EXISTS (SELECT 1 FROM tlog_leaves WHERE idx > last_new)
    THEN
        RAISE EXCEPTION 'log leaves are appended in order' USING ERRCODE = 'restrict_violation';
    END IF;
    IF EXISTS (
        SELECT 1 FROM appended AS a
        WHERE (SELECT e.seq FROM events AS e WHERE e.number = a.number AND e.version = a.version) IS NULL
    ) THEN
        RAISE EXCEPTION 'log leaf without its event' USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER tlog_leaves_append AFTER INSERT ON tlog_leaves
    REFERENCING NEW TABLE AS appended
    FOR EACH STATEMENT EXECUTE FUNCTION tlog_leaves_check();
CREATE TRIGGER tlog_leaves_no_update BEFORE UPDATE ON tlog_leaves
    FOR EACH ROW EXECUTE FUNCTION starmark_refuse('the log is append-only');
CREATE TRIGGER tlog_leaves_no_delete BEFORE DELETE ON tlog_leaves
    FOR EACH ROW EXECUTE FUNCTION starmark_refuse('the log is append-only');
CREATE TRIGGER tlog_leaves_no_truncate BEFORE TRUNCATE ON tlog_leaves
    FOR EACH STATEMENT EXECUTE FUNCTION starmark_refuse('the log is append-only');

CREATE TABLE tlog_checkpoints (
    size       bigint      PRIMARY KEY,
    root       bytea       NOT NULL,
    note       text        NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TRIGGER tlog_checkpoints_no_update BEFORE UPDATE ON tlog_checkpoints
    FOR EACH ROW EXECUTE FUNCTION starmark_refuse('checkpoints are append-only');
CREATE TRIGGER tlog_checkpoints_no_delete BEFORE DELETE ON tlog_checkpoints
    FOR EACH ROW EXECUTE FUNCTION starmark_refuse('checkpoints are append-only');
CREATE TRIGGER tlog_checkpoints_no_truncate BEFORE TRUNCATE ON tlog_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION starmark_refuse('checkpoints are append-only');

-- Scan tallies -------------------------------------------------------------------------------
-- One row per chunk of 1,024 serials of a mark batch (batch 0, serial 0 is the certificate-level
-- mark), the tallies packed in one blob (src/store/scan_chunks.rs has the format).

CREATE TABLE mark_scan_chunks (
    number  text   COLLATE "C" NOT NULL,
    batch   bigint NOT NULL CHECK (batch BETWEEN 0 AND 4294967295),
    chunk   bigint NOT NULL CHECK (chunk >= 0),
    tallies bytea  NOT NULL,
    PRIMARY KEY (number, batch, chunk)
);

-- Verification receipts ----------------------------------------------------------------------
-- Kept so that the QR code on a printed receipt can open it. `id` is derived from the signed
-- document (docs/format.md, "Verification receipts") and `document` is its canonical JSON text.

CREATE TABLE receipts (
    id        text        PRIMARY KEY,
    issued_at timestamptz NOT NULL,
    document  text        NOT NULL
);

CREATE TRIGGER receipts_no_update BEFORE UPDATE ON receipts
    FOR EACH ROW EXECUTE FUNCTION starmark_refuse('receipts are append-only');
CREATE TRIGGER receipts_no_delete BEFORE DELETE ON receipts
    FOR EACH ROW EXECUTE FUNCTION starmark_refuse('receipts are append-only');
CREATE TRIGGER receipts_no_truncate BEFORE TRUNCATE ON receipts
    FOR EACH STATEMENT EXECUTE FUNCTION starmark_refuse('receipts are append-only');

-- Mark digest indexes ------------------------------------------------------------------------
-- (docs/format.md, "Mark digest indexes"): for each batch of marks, the first 8 bytes of
-- SHA-256(salt || token) of every serial's token, serial 1 first. `salt` is secret: it never
-- leaves the store. An index is only an accelerator, so a row may be replaced or deleted.

CREATE TABLE mark_digests (
    number     text        COLLATE "C" NOT NULL REFERENCES certificates (number),
    batch      bigint      NOT NULL CHECK (batch BETWEEN 0 AND 4294967295),
    key_id     text        NOT NULL,
    salt       bytea       NOT NULL,
    tags       bytea       NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (number, batch)
);
