-- Distinct scanners of each mark serial (src/store/scanner_set.rs): at most the copy-warning
-- threshold plus one keyed hashes of a client network, user agent and day, and the first scan
-- counted. What the public scan figure shows; mark_scan_chunks keeps the raw request counts.
-- Serials scanned before this table existed have no row: their scanners count from now on.
CREATE TABLE mark_scanners (
    number   text   COLLATE "C" NOT NULL,
    batch    bigint NOT NULL,
    serial   bigint NOT NULL,
    scanners bytea  NOT NULL,
    PRIMARY KEY (number, batch, serial)
);
