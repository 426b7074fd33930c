-- Stored scan chunks whose blob could not be read (damaged on disk, or edited by hand), kept as
-- they were when a flush found them: the flush starts the chunk again from its own scans rather
-- than stop every later flush (src/store/scan_chunks.rs). Nothing reads this table; it is there
-- for whoever repairs the counts.
CREATE TABLE mark_scan_chunks_damaged (
    id       INTEGER PRIMARY KEY,
    number   TEXT    NOT NULL,
    batch    INTEGER NOT NULL,
    chunk    INTEGER NOT NULL,
    tallies  BLOB    NOT NULL,
    found_at TEXT    NOT NULL
);
