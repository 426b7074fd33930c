-- Integrator keys: what a platform built on the registry presents on public reads (and later
-- its webhooks) to be known by its own quota. Only the SHA-256 of the key's secret is kept.
-- The rate is the key's own purse: `rate_quota` units per `rate_window_secs` seconds, with a
-- burst of the whole quota. `last_used_at` is written at most about once a minute per key.
CREATE TABLE integrator_keys (
    id               text        PRIMARY KEY,
    label            text        NOT NULL,
    secret_hash      bytea       NOT NULL,
    rate_quota       bigint      NOT NULL CHECK (rate_quota BETWEEN 1 AND 4294967295),
    rate_window_secs bigint      NOT NULL CHECK (rate_window_secs BETWEEN 1 AND 86400),
    created_at       timestamptz NOT NULL,
    last_used_at     timestamptz,
    revoked_at       timestamptz
);
