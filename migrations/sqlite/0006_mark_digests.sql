-- Mark digest indexes (docs/format.md, "Mark digest indexes"): for each batch of marks, the
-- first 8 bytes of SHA-256(salt || token) of every serial's token, serial 1 first, made when the
-- batch was ordered. A scan whose token has its serial's tag is one the registry signed, and is
-- accepted without an Ed25519 verification. `salt` is secret: it never leaves the store.
-- An index is only an accelerator: without it scans verify the signature, so a row may be
-- replaced (a rebuilt index) or deleted at any time.
CREATE TABLE mark_digests (
    number     TEXT    NOT NULL REFERENCES certificates (number),
    batch      INTEGER NOT NULL,
    key_id     TEXT    NOT NULL,
    salt       BLOB    NOT NULL,
    tags       BLOB    NOT NULL,
    created_at TEXT    NOT NULL,
    PRIMARY KEY (number, batch)
);
