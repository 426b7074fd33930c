-- Scans a flush adds to a chunk of mark_scan_chunks, appended as a blob of their own (the same
-- format, holding only that flush's serials) instead of merged into the chunk's blob at once: a
-- flush then writes bytes in proportion to the scans it carries, not to what the chunks it
-- touches held before. A chunk's deltas are folded into its blob once they are as large as it
-- (src/store/scan_chunks.rs). Readers merge a chunk's blob and its deltas; the chunks stored
-- before this migration stay as they are and are the bases deltas add to.
CREATE TABLE mark_scan_deltas (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number  text   COLLATE "C" NOT NULL,
    batch   bigint NOT NULL CHECK (batch BETWEEN 0 AND 4294967295),
    chunk   bigint NOT NULL CHECK (chunk >= 0),
    tallies bytea  NOT NULL
);

CREATE INDEX mark_scan_deltas_chunk ON mark_scan_deltas (number, batch, chunk);
