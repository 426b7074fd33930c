-- Scan chunks of 32 serials instead of 1,024: a re-scan of a serial that left the counter's
-- memory reads its chunk's base and deltas, and a chunk of 1,024 serials scanned end to end was a
-- 26 KB value (TOASTed) read whole for one 26-byte entry; a chunk of 32 is at most 832 bytes and
-- stays in its row (src/store/scan_chunks.rs). The blob format is unchanged; only the chunk a
-- serial belongs to and its offset there change: serial / 32 and serial % 32.
--
-- Every stored blob, base or delta, is cut into the new chunks entry by entry, each entry's
-- 24 bytes of figures kept as they are. A blob that is not whole 26-byte entries, or holds an
-- offset outside its chunk, is kept aside as it was in mark_scan_chunks_damaged (readers skipped
-- it already).

CREATE TEMP TABLE scan_blobs ON COMMIT DROP AS
SELECT 0 AS kind, 0::bigint AS id, number, batch, chunk, tallies FROM mark_scan_chunks
UNION ALL
SELECT 1, id, number, batch, chunk, tallies FROM mark_scan_deltas;

CREATE TEMP TABLE scan_entries ON COMMIT DROP AS
SELECT b.kind, b.id, b.number, b.batch, b.chunk, i,
       get_byte(b.tallies, i * 26) * 256 + get_byte(b.tallies, i * 26 + 1) AS place,
       substring(b.tallies FROM i * 26 + 3 FOR 24) AS figures
FROM scan_blobs b, generate_series(0, octet_length(b.tallies) / 26 - 1) AS i
WHERE octet_length(b.tallies) % 26 = 0;

CREATE TEMP TABLE scan_blobs_damaged ON COMMIT DROP AS
SELECT kind, id, number, batch, chunk FROM scan_blobs WHERE octet_length(tallies) % 26 <> 0
UNION
SELECT kind, id, number, batch, chunk FROM scan_entries WHERE place >= 1024;

INSERT INTO mark_scan_chunks_damaged (number, batch, chunk, tallies)
SELECT b.number, b.batch, b.chunk, b.tallies
FROM scan_blobs b JOIN scan_blobs_damaged d USING (kind, id, number, batch, chunk);

DELETE FROM scan_entries e USING scan_blobs_damaged d
WHERE (e.kind, e.id, e.number, e.batch, e.chunk) = (d.kind, d.id, d.number, d.batch, d.chunk);

DELETE FROM mark_scan_chunks;
DELETE FROM mark_scan_deltas;

INSERT INTO mark_scan_chunks (number, batch, chunk, tallies)
SELECT number, batch, (chunk * 1024 + place) / 32,
       string_agg(int2send((place % 32)::smallint) || figures, ''::bytea ORDER BY i)
FROM scan_entries WHERE kind = 0
GROUP BY number, batch, (chunk * 1024 + place) / 32;

INSERT INTO mark_scan_deltas (number, batch, chunk, tallies)
SELECT number, batch, (chunk * 1024 + place) / 32,
       string_agg(int2send((place % 32)::smallint) || figures, ''::bytea ORDER BY i)
FROM scan_entries WHERE kind = 1
GROUP BY id, number, batch, (chunk * 1024 + place) / 32
ORDER BY min(id);
