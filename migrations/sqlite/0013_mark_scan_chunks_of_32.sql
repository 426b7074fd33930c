-- Scan chunks of 32 serials instead of 1,024, and both tables WITHOUT ROWID: a re-scan of a
-- serial that left the counter's memory reads its chunk's base and deltas, and a chunk of 1,024
-- serials scanned end to end was a 26 KB blob on seven overflow pages (plus as much again in
-- deltas), read whole for one 26-byte entry. A chunk of 32 is at most 832 bytes and stays on one
-- B-tree page, found in one descent, with its deltas beside one another in key order
-- (src/store/scan_chunks.rs). The blob format is unchanged; only the chunk a serial belongs to
-- and its offset there change: serial / 32 and serial % 32.
--
-- Every stored blob, base or delta, is cut into the new chunks entry by entry, each entry's
-- 24 bytes of figures kept as they are. A blob that is not whole 26-byte entries, or holds an
-- offset outside its chunk, is kept aside as it was in mark_scan_chunks_damaged (readers skipped
-- it already). Deltas keep their id as their place among their chunk's deltas.

CREATE TEMP TABLE scan_blobs AS
SELECT 0 AS kind, 0 AS id, number, batch, chunk, tallies FROM mark_scan_chunks
UNION ALL
SELECT 1, id, number, batch, chunk, tallies FROM mark_scan_deltas;

CREATE TEMP TABLE scan_entries AS
WITH RECURSIVE places(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM places WHERE i < 1023),
cut AS (
    SELECT b.kind, b.id, b.number, b.batch, b.chunk, places.i, hex(substr(b.tallies, places.i * 26 + 1, 26)) AS entry
    FROM scan_blobs b JOIN places ON places.i * 26 < length(b.tallies)
    WHERE length(b.tallies) % 26 = 0
)
SELECT kind, id, number, batch, chunk, i,
       (instr('0123456789ABCDEF', substr(entry, 1, 1)) - 1) * 4096
     + (instr('0123456789ABCDEF', substr(entry, 2, 1)) - 1) * 256
     + (instr('0123456789ABCDEF', substr(entry, 3, 1)) - 1) * 16
     + (instr('0123456789ABCDEF', substr(entry, 4, 1)) - 1) AS place,
       substr(entry, 5) AS figures
FROM cut;

CREATE TEMP TABLE scan_blobs_damaged AS
SELECT kind, id, number, batch, chunk FROM scan_blobs WHERE length(tallies) % 26 != 0
UNION
SELECT DISTINCT kind, id, number, batch, chunk FROM scan_entries WHERE place >= 1024;

INSERT INTO mark_scan_chunks_damaged (number, batch, chunk, tallies, found_at)
SELECT b.number, b.batch, b.chunk, b.tallies, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
FROM scan_blobs b JOIN scan_blobs_damaged d
  ON d.kind = b.kind AND d.id = b.id AND d.number = b.number AND d.batch = b.batch AND d.chunk = b.chunk;

DELETE FROM scan_entries WHERE EXISTS (
    SELECT 1 FROM scan_blobs_damaged d
    WHERE d.kind = scan_entries.kind AND d.id = scan_entries.id AND d.number = scan_entries.number
      AND d.batch = scan_entries.batch AND d.chunk = scan_entries.chunk
);

DROP TABLE mark_scan_chunks;
DROP TABLE mark_scan_deltas;

CREATE TABLE mark_scan_chunks (
    number  TEXT    NOT NULL,
    batch   INTEGER NOT NULL,
    chunk   INTEGER NOT NULL,
    tallies BLOB    NOT NULL,
    PRIMARY KEY (number, batch, chunk)
) WITHOUT ROWID;

-- seq orders a chunk's deltas (the flush that appends one takes the chunk's highest plus one);
-- their order does not change what they add up to.
CREATE TABLE mark_scan_deltas (
    number  TEXT    NOT NULL,
    batch   INTEGER NOT NULL,
    chunk   INTEGER NOT NULL,
    seq     INTEGER NOT NULL,
    tallies BLOB    NOT NULL,
    PRIMARY KEY (number, batch, chunk, seq)
) WITHOUT ROWID;

INSERT INTO mark_scan_chunks (number, batch, chunk, tallies)
SELECT number, batch, (chunk * 1024 + place) / 32,
       unhex(group_concat(printf('%04x', place % 32) || figures, '' ORDER BY i))
FROM scan_entries WHERE kind = 0
GROUP BY number, batch, (chunk * 1024 + place) / 32;

INSERT INTO mark_scan_deltas (number, batch, chunk, seq, tallies)
SELECT number, batch, (chunk * 1024 + place) / 32, id,
       unhex(group_concat(printf('%04x', place % 32) || figures, '' ORDER BY i))
FROM scan_entries WHERE kind = 1
GROUP BY id, number, batch, (chunk * 1024 + place) / 32;

DROP TABLE scan_entries;
DROP TABLE scan_blobs;
DROP TABLE scan_blobs_damaged;
