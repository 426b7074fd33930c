-- The console's staff, their sessions and the failed logins that throttle guessing.
-- Passwords only as Argon2id hashes (PHC strings); sessions only as the SHA-256 of their id.
CREATE TABLE staff (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    username            TEXT    NOT NULL UNIQUE,
    display_name        TEXT    NOT NULL,
    role                TEXT    NOT NULL CHECK (role IN ('evaluator', 'decider', 'marks', 'auditor', 'admin')),
    password_hash       TEXT    NOT NULL,
    password_changed_at TEXT    NOT NULL,
    totp_secret         BLOB,
    totp_confirmed_at   TEXT,
    totp_last_step      INTEGER,
    disabled_at         TEXT,
    created_at          TEXT    NOT NULL
);

CREATE TABLE staff_sessions (
    id_hash      BLOB    PRIMARY KEY,
    staff_id     INTEGER NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    csrf_token   TEXT    NOT NULL,
    pending      INTEGER NOT NULL,
    created_at   TEXT    NOT NULL,
    last_seen_at TEXT    NOT NULL
);

CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id);

-- One row per throttle key: `account:<username>` or `client:<address>`.
CREATE TABLE login_failures (
    key     TEXT    PRIMARY KEY,
    count   INTEGER NOT NULL,
    last_at TEXT    NOT NULL
);
