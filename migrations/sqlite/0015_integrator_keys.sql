-- Integrator keys: what a platform built on the registry presents on public reads (and later
-- its webhooks) to be known by its own quota. Only the SHA-256 of the key's secret is kept.
-- The rate is the key's own purse: `rate_quota` units per `rate_window_secs` seconds, with a
-- burst of the whole quota. `last_used_at` is written at most about once a minute per key.
CREATE TABLE integrator_keys (
    id               TEXT    PRIMARY KEY,
    label            TEXT    NOT NULL,
    secret_hash      BLOB    NOT NULL,
    rate_quota       INTEGER NOT NULL CHECK (rate_quota BETWEEN 1 AND 4294967295),
    rate_window_secs INTEGER NOT NULL CHECK (rate_window_secs BETWEEN 1 AND 86400),
    created_at       TEXT    NOT NULL,
    last_used_at     TEXT,
    revoked_at       TEXT
);
