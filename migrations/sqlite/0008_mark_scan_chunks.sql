-- Scan tallies kept per chunk of 1,024 serials of a mark batch, packed in one blob, instead of
-- one row per serial: a flush of many fresh serials writes a few hundred rows instead of tens of
-- thousands (src/store/sqlite/scans.rs reads and writes the blob).
--
-- Blob: for each serial of the chunk that has a tally, in ascending serial order, 26 bytes:
-- serial - 1024 * chunk (2 bytes), count (8), first and last scan in microseconds since the Unix
-- epoch (8 each), all big-endian (printf's %x writes a negative value as its two's complement).
CREATE TABLE mark_scan_chunks (
    number  TEXT    NOT NULL,
    batch   INTEGER NOT NULL,
    chunk   INTEGER NOT NULL,
    tallies BLOB    NOT NULL,
    PRIMARY KEY (number, batch, chunk)
);

INSERT INTO mark_scan_chunks (number, batch, chunk, tallies)
SELECT number, batch, serial / 1024,
       unhex(group_concat(printf('%04x%016x%016x%016x', serial % 1024, count, first_us, last_us), '' ORDER BY serial))
FROM mark_scans
GROUP BY number, batch, serial / 1024;

DROP TABLE mark_scans;
