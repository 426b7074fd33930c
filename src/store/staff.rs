//! What the store keeps for the console: members of staff, their sessions and the failed logins
//! that throttle guessing. Part of every [`super::Store`], on both backends, so several
//! instances share sessions and throttles.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::{DisplayName, StaffRole, Username};

/// A member of staff as stored. The password only as its Argon2id hash (PHC string).
#[derive(Clone, Debug)]
pub struct StoredStaff {
    pub id: i64,
    pub username: Username,
    pub display_name: DisplayName,
    pub role: StaffRole,
    /// The PHC string of the password's Argon2id hash.
    pub password_hash: String,
    pub password_changed_at: DateTime<Utc>,
    /// The TOTP secret (RFC 6238), from the start of enrolment on.
    pub totp_secret: Option<Vec<u8>>,
    /// When the first code confirmed the secret; until then it is not a second factor.
    pub totp_confirmed_at: Option<DateTime<Utc>>,
    /// The last time step whose code was accepted: a code of that step or an earlier one is a
    /// replay.
    pub totp_last_step: Option<i64>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A member of staff about to be stored.
#[derive(Clone, Debug)]
pub struct NewStaff {
    pub username: Username,
    pub display_name: DisplayName,
    pub role: StaffRole,
    pub password_hash: String,
    pub at: DateTime<Utc>,
}

/// A console session as stored: never its id, only the id's SHA-256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSession {
    pub id_hash: Vec<u8>,
    pub staff_id: i64,
    /// The token every state-changing form of this session carries.
    pub csrf_token: String,
    /// True while the password was right but the second factor is still to come (a code, or an
    /// enrolment): such a session opens nothing but that step.
    pub pending: bool,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

/// Failed logins counted under one throttle key (an account or a client).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginFailures {
    pub count: u32,
    pub last_at: DateTime<Utc>,
}

/// Console storage, part of every [`super::Store`].
#[async_trait]
pub trait StaffStore: Send + Sync {
    /// Stores a new member and returns their id; a taken username is [`StoreError::Duplicate`].
    async fn insert_staff(&self, staff: &NewStaff) -> Result<i64, StoreError>;
    async fn staff_by_username(&self, username: &Username) -> Result<Option<StoredStaff>, StoreError>;
    async fn staff_by_id(&self, id: i64) -> Result<Option<StoredStaff>, StoreError>;
    /// Every member, in username order.
    async fn list_staff(&self) -> Result<Vec<StoredStaff>, StoreError>;
    /// Disables a member and ends all their sessions, in one transaction; false when there is no
    /// such member or they are disabled already.
    async fn disable_staff(&self, id: i64, at: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Replaces a member's password hash and ends all their sessions, in one transaction; false
    /// when there is no such member.
    async fn set_staff_password(&self, id: i64, password_hash: &str, at: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Starts (or restarts) TOTP enrolment with `secret`, unconfirmed; refused (false) once a
    /// secret is confirmed.
    async fn begin_totp(&self, id: i64, secret: &[u8]) -> Result<bool, StoreError>;
    /// Marks the member's secret confirmed at `at`.
    async fn confirm_totp(&self, id: i64, at: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Records `step` as the member's last accepted TOTP step, only if it is later than the one
    /// stored: false means the code was used already (a replay), even by another instance.
    async fn claim_totp_step(&self, id: i64, step: i64) -> Result<bool, StoreError>;

    async fn insert_session(&self, session: &StoredSession) -> Result<(), StoreError>;
    async fn session(&self, id_hash: &[u8]) -> Result<Option<StoredSession>, StoreError>;
    /// Sets the session's last activity.
    async fn touch_session(&self, id_hash: &[u8], at: DateTime<Utc>) -> Result<(), StoreError>;
    async fn delete_session(&self, id_hash: &[u8]) -> Result<(), StoreError>;
    /// Ends every session of a member; returns how many there were.
    async fn delete_staff_sessions(&self, staff_id: i64) -> Result<u64, StoreError>;
    /// Removes sessions idle since before `idle_before` or created before `created_before`.
    async fn delete_expired_sessions(
        &self,
        idle_before: DateTime<Utc>,
        created_before: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    async fn login_failures(&self, key: &str) -> Result<Option<LoginFailures>, StoreError>;
    /// Counts one more failure under `key` at `at` and returns the count; a count whose last
    /// failure is before `forget_before` starts again from one.
    async fn add_login_failure(
        &self,
        key: &str,
        at: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<LoginFailures, StoreError>;
    async fn clear_login_failures(&self, key: &str) -> Result<(), StoreError>;
}
