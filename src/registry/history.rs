//! A certificate's history as the registry hands it out: the store's events in a type of the
//! registry's own, so that HTTP renders a history without naming a store type.

use chrono::{DateTime, Utc};

use super::{Registry, RegistryError};
use crate::crypto::Signature;
use crate::domain::{CertificateNumber, EventKind};
use crate::store::StoredEvent;

/// One event of a certificate's history: what happened, who ordered it, and the signed record
/// version it produced, whose canonical text is shown verbatim.
#[derive(Clone, Debug)]
pub struct HistoryEvent {
    /// The event's place in the registry's event log.
    pub seq: i64,
    pub number: String,
    pub version: u32,
    pub kind: EventKind,
    /// Token id (or `cli:<user>`) of whoever ordered the change.
    pub actor: String,
    pub at: DateTime<Utc>,
    /// Free-form details of the action (reason, dates).
    pub details: serde_json::Value,
    /// The signed record version as canonical JSON text.
    pub record: String,
    pub signature: Signature,
}

impl From<StoredEvent> for HistoryEvent {
    fn from(event: StoredEvent) -> Self {
        let StoredEvent { seq, number, version, kind, actor, at, details, record, signature } = event;
        Self { seq, number: number.into(), version, kind, actor, at, details, record, signature }
    }
}

impl Registry {
    /// Every event of a certificate, oldest first.
    pub async fn history(&self, number: &CertificateNumber) -> Result<Vec<HistoryEvent>, RegistryError> {
        let events = self.store.history(number).await?;
        if events.is_empty() {
            return Err(RegistryError::NotFound(number.to_string()));
        }
        Ok(events.into_iter().map(HistoryEvent::from).collect())
    }
}
