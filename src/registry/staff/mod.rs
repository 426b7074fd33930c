//! The console's people: members of staff, their passwords and second factors, their sessions
//! and the throttle on guessing. The CLI (`starmark staff`) and the console's pages both go
//! through [`Console`], so the rules are the same from either.
//!
//! Sessions are 256-bit random ids, kept in the store only as their SHA-256 (several instances
//! share them; a copy of the database opens no session). A session that passed the password of
//! a member who needs a second factor is *pending*: it opens the code or enrolment step and
//! nothing else, and the step's success replaces it with a new, full session.

mod members;
mod sessions;
pub mod throttle;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::RegistryError;
use crate::crypto::password::PasswordError;
use crate::domain::{DisplayName, FieldError, StaffRole, Username};
use crate::store::{Store, StoredStaff};

pub use sessions::{Enrolment, NewSession, NextStep, SignedIn};

/// Default idle timeout of a session.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Default absolute lifetime of a session.
pub const DEFAULT_ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(12 * 3600);

/// How long sessions live, and the name authenticator apps show.
#[derive(Clone, Debug)]
pub struct ConsoleSettings {
    pub idle_timeout: Duration,
    pub absolute_timeout: Duration,
    /// The issuer in `otpauth://` URIs.
    pub totp_issuer: String,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            absolute_timeout: DEFAULT_ABSOLUTE_TIMEOUT,
            totp_issuer: "Starmark".into(),
        }
    }
}

/// A member of staff as shown to people: never the password hash or the TOTP secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub id: i64,
    pub username: Username,
    pub display_name: DisplayName,
    pub role: StaffRole,
    /// Whether a second factor is confirmed.
    pub totp_enrolled: bool,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub password_changed_at: DateTime<Utc>,
}

impl From<&StoredStaff> for Member {
    fn from(staff: &StoredStaff) -> Self {
        Self {
            id: staff.id,
            username: staff.username.clone(),
            display_name: staff.display_name.clone(),
            role: staff.role,
            totp_enrolled: staff.totp_confirmed_at.is_some(),
            disabled: staff.disabled_at.is_some(),
            created_at: staff.created_at,
            password_changed_at: staff.password_changed_at,
        }
    }
}

/// Why the console refused. Messages never hold a password, a code or a session id.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error("there is no member of staff named {0}")]
    NoSuchMember(String),
    #[error("a member of staff named {0} exists already")]
    Duplicate(String),
    /// The username or the password is wrong (which one is not said).
    #[error("the username or the password is wrong")]
    BadCredentials,
    #[error("this account is disabled; ask an administrator")]
    Disabled,
    #[error("too many failed attempts; try again in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    #[error("the code is wrong or too old")]
    CodeRefused,
    #[error("this code was used already; wait for the next one")]
    CodeReused,
    /// The session is not at the step asked for (signed out, expired, or at another step).
    #[error("the session has ended or is not at this step; sign in again")]
    NoSession,
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl From<crate::store::StoreError> for ConsoleError {
    fn from(error: crate::store::StoreError) -> Self {
        ConsoleError::Registry(error.into())
    }
}

/// The staff service.
pub struct Console {
    store: Arc<dyn Store>,
    settings: ConsoleSettings,
    /// Argon2id computations at once: each holds 19 MiB and a core for tens of milliseconds, so
    /// a flood of logins queues here instead of taking the machine.
    hashing: tokio::sync::Semaphore,
    /// A hash of no one's password, checked when the username is unknown, so that the answer
    /// takes as long as for a known one.
    decoy: std::sync::OnceLock<String>,
}

impl Console {
    pub fn new(store: Arc<dyn Store>, settings: ConsoleSettings) -> Self {
        Self { store, settings, hashing: tokio::sync::Semaphore::new(2), decoy: std::sync::OnceLock::new() }
    }

    pub fn settings(&self) -> &ConsoleSettings {
        &self.settings
    }

    /// Runs Argon2id off the async threads, a bounded number at once.
    async fn hashing<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, ConsoleError> {
        let _permit = self.hashing.acquire().await.map_err(|e| RegistryError::Internal(e.to_string()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ConsoleError::Registry(RegistryError::Internal(e.to_string())))
    }

    async fn member_named(&self, username: &Username) -> Result<StoredStaff, ConsoleError> {
        self.store.staff_by_username(username).await?.ok_or_else(|| ConsoleError::NoSuchMember(username.to_string()))
    }
}
