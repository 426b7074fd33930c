//! Signing in and out: the password step (throttled), the second factor (a code, or enrolment
//! for a member who has none yet), and the sessions they open.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::throttle::{self, Policy};
use super::{Console, ConsoleError, Member};
use crate::crypto::{password, totp};
use crate::domain::Username;
use crate::registry::clock;
use crate::store::{StoredSession, StoredStaff};

/// What the browser is to do after a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextStep {
    /// Signed in.
    Home,
    /// Type the code of the authenticator app.
    Code,
    /// Enrol an authenticator app (the role needs one and the member has none).
    Enrol,
}

/// A session just opened: the id for the cookie (its only copy) and where to go next.
pub struct NewSession {
    pub id: String,
    pub next: NextStep,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession").field("id", &"(secret)").field("next", &self.next).finish()
    }
}

/// A live session and its member.
#[derive(Clone)]
pub struct SignedIn {
    pub member: Member,
    /// The token this session's forms carry.
    pub csrf_token: String,
    /// The password is right but the second factor is still to come.
    pub pending: bool,
    pub next: NextStep,
    id_hash: Vec<u8>,
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn").field("member", &self.member.username).field("pending", &self.pending).finish()
    }
}

impl SignedIn {
    /// Whether `token` is this session's CSRF token (compared in constant time).
    pub fn csrf_matches(&self, token: &str) -> bool {
        !token.is_empty() && bool::from(self.csrf_token.as_bytes().ct_eq(token.as_bytes()))
    }
}

/// What the enrolment page shows: the URI for the QR code, and the secret to type by hand.
pub struct Enrolment {
    pub uri: String,
    pub secret_base32: String,
}

/// 32 random bytes as base64url: a session id or a CSRF token.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the store keeps of a session id.
fn id_hash(id: &str) -> Vec<u8> {
    Sha256::digest(id.as_bytes()).to_vec()
}

fn next_step(staff: &StoredStaff) -> NextStep {
    if staff.totp_confirmed_at.is_some() {
        NextStep::Code
    } else if staff.role.needs_totp() {
        NextStep::Enrol
    } else {
        NextStep::Home
    }
}

impl Console {
    /// The wait still owed under `key`, in seconds (0: none).
    async fn owed(&self, key: &str, policy: Policy, now: DateTime<Utc>) -> Result<i64, ConsoleError> {
        Ok(match self.store.login_failures(key).await? {
            Some(failures) => policy.remaining_secs(&failures, now),
            None => 0,
        })
    }

    /// Refuses while either throttle is owed a wait.
    async fn check_throttles(&self, account: Option<&str>, client: &str) -> Result<(), ConsoleError> {
        let now = clock::now();
        let mut wait = self.owed(&throttle::client_key(client), throttle::CLIENT, now).await?;
        if let Some(account) = account {
            wait = wait.max(self.owed(&throttle::account_key(account), throttle::ACCOUNT, now).await?);
        }
        if wait > 0 {
            return Err(ConsoleError::Throttled { retry_after_secs: wait as u64 });
        }
        Ok(())
    }

    /// Counts a failure against the client and, when known, the account.
    async fn count_failure(&self, account: Option<&str>, client: &str) -> Result<(), ConsoleError> {
        let now = clock::now();
        let forget = now - chrono::Duration::hours(throttle::FORGET_AFTER_HOURS);
        self.store.add_login_failure(&throttle::client_key(client), now, forget).await?;
        if let Some(account) = account {
            self.store.add_login_failure(&throttle::account_key(account), now, forget).await?;
        }
        Ok(())
    }

    async fn open_session(&self, staff: &StoredStaff, pending: bool) -> Result<NewSession, ConsoleError> {
        let id = random_token();
        let now = clock::now();
        let session = StoredSession {
            id_hash: id_hash(&id),
            staff_id: staff.id,
            csrf_token: random_token(),
            pending,
            created_at: now,
            last_seen_at: now,
        };
        self.store.insert_session(&session).await?;
        let next = if pending { next_step(staff) } else { NextStep::Home };
        Ok(NewSession { id, next })
    }

    /// The password step. `client` is the client's address, the throttle's other key.
    pub async fn login(&self, username: &str, password: &str, client: &str) -> Result<NewSession, ConsoleError> {
        let username = Username::parse(username).ok();
        let account = username.as_ref().map(Username::as_str);
        self.check_throttles(account, client).await?;
        let staff = match &username {
            Some(name) => self.store.staff_by_username(name).await?,
            None => None,
        };
        let decoy = self.decoy.get().cloned();
        let (hash, known) = match (&staff, decoy) {
            (Some(staff), _) => (staff.password_hash.clone(), true),
            (None, Some(decoy)) => (decoy, false),
            (None, None) => {
                let decoy = self.hashing(|| password::hash("no one's password at all")).await??;
                (self.decoy.get_or_init(|| decoy).clone(), false)
            }
        };
        let typed = password.to_string();
        let right = self.hashing(move || password::verify(&typed, &hash)).await? && known;
        let Some(staff) = staff.filter(|_| right) else {
            self.count_failure(account, client).await?;
            return Err(ConsoleError::BadCredentials);
        };
        if staff.disabled_at.is_some() {
            return Err(ConsoleError::Disabled);
        }
        self.store.clear_login_failures(&throttle::account_key(staff.username.as_str())).await?;
        self.purge_expired().await?;
        let pending = next_step(&staff) != NextStep::Home;
        let session = self.open_session(&staff, pending).await?;
        tracing::info!(username = %staff.username, second_factor_next = pending, "staff password accepted");
        Ok(session)
    }

    /// Removes the rows of sessions past either timeout (each is refused when used anyway; this
    /// keeps the table to the live ones), at each sign-in.
    async fn purge_expired(&self) -> Result<(), ConsoleError> {
        let now = clock::now();
        let idle = chrono::Duration::from_std(self.settings.idle_timeout).unwrap_or(chrono::Duration::MAX);
        let absolute = chrono::Duration::from_std(self.settings.absolute_timeout).unwrap_or(chrono::Duration::MAX);
        let (Some(idle_before), Some(created_before)) =
            (now.checked_sub_signed(idle), now.checked_sub_signed(absolute))
        else {
            return Ok(());
        };
        self.store.delete_expired_sessions(idle_before, created_before).await?;
        Ok(())
    }

    /// The session whose id is `id`, if it is live; an expired one is ended here, and a
    /// member's disabling ends it too. Each use counts as activity.
    pub async fn session(&self, id: &str) -> Result<Option<SignedIn>, ConsoleError> {
        let hash = id_hash(id);
        let Some(session) = self.store.session(&hash).await? else { return Ok(None) };
        let now = clock::now();
        let idle = chrono::Duration::from_std(self.settings.idle_timeout).unwrap_or(chrono::Duration::MAX);
        let absolute = chrono::Duration::from_std(self.settings.absolute_timeout).unwrap_or(chrono::Duration::MAX);
        let past =
            |start: DateTime<Utc>, span: chrono::Duration| start.checked_add_signed(span).is_some_and(|end| now >= end);
        let expired = past(session.last_seen_at, idle) || past(session.created_at, absolute);
        let staff = self.store.staff_by_id(session.staff_id).await?;
        let Some(staff) = staff.filter(|s| s.disabled_at.is_none() && !expired) else {
            self.store.delete_session(&hash).await?;
            return Ok(None);
        };
        self.store.touch_session(&hash, now).await?;
        let next = if session.pending { next_step(&staff) } else { NextStep::Home };
        Ok(Some(SignedIn {
            member: Member::from(&staff),
            csrf_token: session.csrf_token,
            pending: session.pending,
            next,
            id_hash: hash,
        }))
    }

    /// Ends a session (logout).
    pub async fn logout(&self, signed_in: &SignedIn) -> Result<(), ConsoleError> {
        self.store.delete_session(&signed_in.id_hash).await?;
        tracing::info!(username = %signed_in.member.username, "staff signed out");
        Ok(())
    }

    /// Checks `code` against the member's secret and claims its step, counting a wrong code as a
    /// failed login.
    async fn accept_code(&self, staff: &StoredStaff, code: &str, client: &str) -> Result<(), ConsoleError> {
        let account = Some(staff.username.as_str());
        self.check_throttles(account, client).await?;
        let secret = staff.totp_secret.as_deref().ok_or(ConsoleError::NoSession)?;
        let Some(step) = totp::matching_step(secret, code, clock::now().timestamp()) else {
            self.count_failure(account, client).await?;
            return Err(ConsoleError::CodeRefused);
        };
        if !self.store.claim_totp_step(staff.id, step).await? {
            return Err(ConsoleError::CodeReused);
        }
        Ok(())
    }

    /// The pending session's member, if the session is pending and at step `step`.
    async fn pending_at(&self, signed_in: &SignedIn, step: NextStep) -> Result<StoredStaff, ConsoleError> {
        if !signed_in.pending || signed_in.next != step {
            return Err(ConsoleError::NoSession);
        }
        self.store.staff_by_id(signed_in.member.id).await?.ok_or(ConsoleError::NoSession)
    }

    /// Replaces a pending session by a full one (a new id: the pending one's is never worth
    /// more than the password step it passed).
    async fn complete(&self, signed_in: &SignedIn, staff: &StoredStaff) -> Result<NewSession, ConsoleError> {
        self.store.delete_session(&signed_in.id_hash).await?;
        self.store.clear_login_failures(&throttle::account_key(staff.username.as_str())).await?;
        let session = self.open_session(staff, false).await?;
        tracing::info!(username = %staff.username, "staff signed in with a second factor");
        Ok(session)
    }

    /// The code step of a pending session.
    pub async fn second_factor(
        &self,
        signed_in: &SignedIn,
        code: &str,
        client: &str,
    ) -> Result<NewSession, ConsoleError> {
        let staff = self.pending_at(signed_in, NextStep::Code).await?;
        self.accept_code(&staff, code, client).await?;
        self.complete(signed_in, &staff).await
    }

    /// The enrolment of a pending session's member: a secret is made the first time and kept
    /// until it is confirmed, so the page shows the same QR code when reloaded.
    pub async fn enrolment(&self, signed_in: &SignedIn) -> Result<Enrolment, ConsoleError> {
        let mut staff = self.pending_at(signed_in, NextStep::Enrol).await?;
        if staff.totp_secret.is_none() {
            self.store.begin_totp(staff.id, &totp::new_secret()).await?;
            staff = self.pending_at(signed_in, NextStep::Enrol).await?;
        }
        let secret = staff.totp_secret.as_deref().ok_or(ConsoleError::NoSession)?;
        Ok(Enrolment {
            uri: totp::otpauth_uri(&self.settings.totp_issuer, staff.username.as_str(), secret),
            secret_base32: totp::secret_base32(secret),
        })
    }

    /// Confirms enrolment with a first code and signs the member in.
    pub async fn confirm_enrolment(
        &self,
        signed_in: &SignedIn,
        code: &str,
        client: &str,
    ) -> Result<NewSession, ConsoleError> {
        let staff = self.pending_at(signed_in, NextStep::Enrol).await?;
        self.accept_code(&staff, code, client).await?;
        if !self.store.confirm_totp(staff.id, clock::now()).await? {
            return Err(ConsoleError::NoSession);
        }
        tracing::info!(username = %staff.username, "staff second factor enrolled");
        self.complete(signed_in, &staff).await
    }
}
