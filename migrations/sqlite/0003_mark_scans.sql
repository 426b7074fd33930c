-- How often each mark serial was scanned. Written in batches by the scan counter; a serial of
-- batch 0 is the certificate-level mark.
CREATE TABLE mark_scans (
    number   TEXT    NOT NULL,
    batch    INTEGER NOT NULL,
    serial   INTEGER NOT NULL,
    count    INTEGER NOT NULL,
    first_at TEXT    NOT NULL,
    last_at  TEXT    NOT NULL,
    PRIMARY KEY (number, batch, serial)
) WITHOUT ROWID;
