//! What the registry refuses, and why.

use crate::domain::{FieldError, IssueError, MarkError, TransitionError};
use crate::store::StoreError;

/// Failures of registry operations. All but `Internal` and `Store` are the caller's to fix.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("certificate {0} not found")]
    NotFound(String),
    #[error(transparent)]
    Invalid(#[from] IssueError),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error(transparent)]
    Marks(MarkError),
    #[error("certificate {0} already exists")]
    Duplicate(String),
    #[error("certificate {0} was changed by someone else at the same moment; read it again and retry")]
    Conflict(String),
    /// A public write quota is spent; try again after the given time.
    #[error("too many requests of this kind right now; try again in {} s", .0.as_secs().max(1))]
    Busy(std::time::Duration),
    /// The client is over its own rate limit (a receipt's stored bytes beyond its receipts quota).
    #[error("this client's {} allowance is spent; try again in {} s", .0.standing.class, .0.retry_after_secs)]
    RateLimited(crate::limits::Refusal),
    /// The stored certificate cannot be tied to the transparency log (see `backing.rs`): its
    /// status is refused, never guessed. `problem` is for the log, not for the public.
    #[error("the status of certificate {number} cannot be confirmed: {problem}")]
    Unconfirmed { number: String, problem: String },
    /// Part of the transparency log cannot be served because the store lost what it is made of.
    #[error("the transparency log is damaged: {0}")]
    LogDamaged(String),
    #[error("internal error: {0}")]
    Internal(String),
    #[error(transparent)]
    Store(StoreFailure),
}

/// A storage failure as the layers above the registry see it: what went wrong, in words, and
/// whether it is an outage that passes. HTTP answers 503 with `Retry-After` for the one and 500
/// for the other without knowing the store's own error type.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct StoreFailure {
    message: String,
    unavailable: bool,
}

impl StoreFailure {
    /// Whether the database is out of reach or too busy right now rather than refusing this
    /// request or holding bad data (see `StoreError::is_unavailable`): worth a retry.
    pub fn is_unavailable(&self) -> bool {
        self.unavailable
    }
}

impl From<StoreError> for StoreFailure {
    fn from(error: StoreError) -> Self {
        Self { unavailable: error.is_unavailable(), message: error.to_string() }
    }
}

impl RegistryError {
    /// Seconds to wait before asking again, for a refusal that passes (a spent quota or rate
    /// limit); `None` for every other failure.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            RegistryError::Busy(wait) => Some(wait.as_secs().max(1)),
            RegistryError::RateLimited(refusal) => Some(refusal.retry_after_secs.max(1)),
            _ => None,
        }
    }

    /// The same failure for another request that waited on the one that met it (a coalesced
    /// cache load hands every waiter one shared error): what kind of failure it was survives, so
    /// a store outage stays a 503 for all of them and a missing certificate a 404.
    pub fn relayed(&self) -> Self {
        match self {
            RegistryError::NotFound(number) => RegistryError::NotFound(number.clone()),
            RegistryError::Busy(wait) => RegistryError::Busy(*wait),
            RegistryError::RateLimited(refusal) => RegistryError::RateLimited(*refusal),
            RegistryError::Unconfirmed { number, problem } => {
                RegistryError::Unconfirmed { number: number.clone(), problem: problem.clone() }
            }
            RegistryError::LogDamaged(problem) => RegistryError::LogDamaged(problem.clone()),
            RegistryError::Store(failure) => RegistryError::Store(failure.clone()),
            other => RegistryError::Internal(other.to_string()),
        }
    }
}

impl From<FieldError> for RegistryError {
    fn from(error: FieldError) -> Self {
        RegistryError::Invalid(IssueError::Field(error))
    }
}

impl From<StoreError> for RegistryError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Duplicate(number) => RegistryError::Duplicate(number),
            StoreError::VersionConflict { number, .. } => RegistryError::Conflict(number),
            StoreError::NotFound(number) => RegistryError::NotFound(number),
            other => RegistryError::Store(other.into()),
        }
    }
}

impl From<MarkError> for RegistryError {
    fn from(error: MarkError) -> Self {
        match error {
            MarkError::State(transition) => RegistryError::Transition(transition),
            other => RegistryError::Marks(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relayed_failure_keeps_its_kind() {
        let outage = RegistryError::from(StoreError::Database(sqlx::Error::PoolTimedOut)).relayed();
        assert!(matches!(&outage, RegistryError::Store(store) if store.is_unavailable()), "{outage:?}");
        let fault = RegistryError::from(StoreError::Corrupt("bad row".into())).relayed();
        assert!(matches!(&fault, RegistryError::Store(store) if !store.is_unavailable()), "{fault:?}");
        assert!(fault.to_string().contains("bad row"));
        assert!(matches!(RegistryError::NotFound("SM1".into()).relayed(), RegistryError::NotFound(n) if n == "SM1"));
    }
}
