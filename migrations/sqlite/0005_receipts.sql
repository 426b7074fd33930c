-- Signed verification receipts, kept so that the QR code on a printed receipt can open it.
-- `id` is derived from the signed document (docs/format.md, "Verification receipts") and
-- `document` is its canonical JSON text; rows are never changed or removed.

CREATE TABLE receipts (
    id        TEXT PRIMARY KEY,
    issued_at TEXT NOT NULL,
    document  TEXT NOT NULL
) WITHOUT ROWID;

CREATE TRIGGER receipts_no_update BEFORE UPDATE ON receipts
BEGIN
    SELECT RAISE(ABORT, 'receipts are append-only');
END;

CREATE TRIGGER receipts_no_delete BEFORE DELETE ON receipts
BEGIN
    SELECT RAISE(ABORT, 'receipts are append-only');
END;
