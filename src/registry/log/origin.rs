//! The log's origin is its name for good: every checkpoint and the note key carry it, and a
//! monitor that followed the log under one name cannot follow it under another. It is fixed in
//! the store the first time the store is used, whatever port a command happened to run on, and
//! a different configured origin later is refused instead of silently starting a second name.

use crate::registry::{log, Registry};
use crate::store::StoreError;
use crate::tlog::NoteError;

/// Why the log's origin cannot be settled.
#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    #[error(
        "STARMARK_LOG_ORIGIN is '{configured}', but this registry's transparency log was named '{fixed}' \
         when its database was first used; a log keeps its name for good (its checkpoints are signed \
         under it). Unset STARMARK_LOG_ORIGIN or set it to '{fixed}'"
    )]
    Changed { configured: String, fixed: String },
    #[error("STARMARK_LOG_ORIGIN '{origin}' cannot name a log: {source}")]
    Invalid { origin: String, source: NoteError },
    #[error("the log origin kept in the database ('{origin}') cannot name a log: {source}")]
    StoredInvalid { origin: String, source: NoteError },
    #[error("cannot read or keep the log origin: {0}")]
    Store(#[from] StoreError),
}

impl Registry {
    /// Names the log by the origin fixed in the store, fixing it first when the store has none:
    /// `configured` (`STARMARK_LOG_ORIGIN`) if given, else the origin of the latest checkpoint
    /// of a log from before origins were kept, else the name derived from the public URL.
    /// A `configured` origin that differs from the fixed one is refused.
    pub async fn settle_log_origin(mut self, configured: Option<&str>) -> Result<Self, OriginError> {
        if let Some(origin) = configured {
            log::TransparencyLog::new(origin, &self.signer)
                .map_err(|source| OriginError::Invalid { origin: origin.to_string(), source })?;
        }
        let fixed = match self.store.log_origin().await? {
            Some(fixed) => fixed,
            None => {
                let derived = self.log_key().name().to_string();
                let wanted = match configured {
                    Some(origin) => origin.to_string(),
                    None => match self.store.latest_checkpoint().await? {
                        Some(checkpoint) => checkpoint
                            .note
                            .split('\n')
                            .next()
                            .filter(|origin| log::TransparencyLog::new(origin, &self.signer).is_ok())
                            .map_or(derived, str::to_string),
                        None => derived,
                    },
                };
                self.store.fix_log_origin(&wanted).await?
            }
        };
        if let Some(origin) = configured {
            if origin != fixed {
                return Err(OriginError::Changed { configured: origin.to_string(), fixed });
            }
        }
        self.log = log::TransparencyLog::new(&fixed, &self.signer)
            .map_err(|source| OriginError::StoredInvalid { origin: fixed.clone(), source })?;
        Ok(self)
    }
}
