//! Changes to an existing certificate: status actions, renewal and surveillance audits.

use chrono::NaiveDate;
use serde_json::json;

use super::{clock, Registry, RegistryError};
use crate::crypto::SignedCertificate;
use crate::domain::EventKind;
use crate::domain::{
    clean_text, transition, validity_end, CertificateNumber, CertificateRecord, Evaluation, FieldError, Level, Product,
    State, Status, StatusAction, SurveillanceAudit, TransitionError,
};
use crate::store::{NewEvent, StoreError};

/// How often a change is retried when another writer got in first.
const ATTEMPTS: usize = 3;

/// A change the certification body orders on an existing certificate.
#[derive(Clone, Debug)]
pub enum Change {
    Status(StatusAction),
    /// Re-certification: a new evaluation and a new three-year validity from `issued`.
    Renew {
        evaluation: Evaluation,
        level: Option<Level>,
        issued: Option<NaiveDate>,
    },
    /// A yearly surveillance audit; the state is changed separately if needed.
    Surveillance(SurveillanceAudit),
    /// A batch of `count` serialised marks for a valid certificate, bound to `product` (GS1
    /// Digital Link marks) or to none.
    OrderMarks {
        count: u64,
        product: Option<Product>,
    },
    /// Serials `range` (the whole batch when `None`) of batch `batch` are no longer genuine.
    RevokeMarks {
        batch: u32,
        range: Option<(u32, u32)>,
        reason: String,
    },
}

fn refuse_unless_live(action: &'static str, record: &CertificateRecord, today: NaiveDate) -> Result<(), RegistryError> {
    let current = record.state_on(today);
    if matches!(current, State::Valid | State::Suspended) {
        Ok(())
    } else {
        Err(TransitionError::Illegal { action, current }.into())
    }
}

/// The next record version and its event kind and details, or why the change is refused.
fn apply(
    current: &CertificateRecord,
    change: &Change,
    today: NaiveDate,
) -> Result<(CertificateRecord, EventKind, serde_json::Value), RegistryError> {
    let mut next = current.next_version();
    match change {
        Change::Status(action) => {
            next.status = transition(&current.status, current.valid_until, action, today)?;
            let kind = match action {
                StatusAction::Suspend { .. } => EventKind::Suspended,
                StatusAction::Reinstate { .. } => EventKind::Reinstated,
                StatusAction::Revoke { .. } => EventKind::Revoked,
                StatusAction::Withdraw { .. } => EventKind::Withdrawn,
            };
            let details = json!({
                "action": action.name(),
                "from": current.state_on(today),
                "reason": next.status.reason,
                "until": next.status.until,
            });
            Ok((next, kind, details))
        }
        Change::Renew { evaluation, level, issued } => {
            refuse_unless_live("renew", current, today)?;
            let issued = issued.unwrap_or(today);
            if issued > today {
                return Err(FieldError::new("issued", format!("must not be after today ({today})")).into());
            }
            if issued < current.issued {
                return Err(FieldError::new(
                    "issued",
                    format!("must not be before the current issue date {}", current.issued),
                )
                .into());
            }
            next.level = evaluation.confirm_level(*level).map_err(crate::domain::IssueError::from)?;
            next.evaluation = evaluation.clone();
            next.issued = issued;
            next.valid_until = validity_end(issued);
            next.status = Status::valid(issued);
            let details = json!({ "level": next.level, "issued": issued, "valid_until": next.valid_until });
            Ok((next, EventKind::Renewed, details))
        }
        Change::Surveillance(audit) => {
            refuse_unless_live("record a surveillance audit for", current, today)?;
            if audit.date > today {
                return Err(FieldError::new("date", format!("must not be after today ({today})")).into());
            }
            if audit.date < current.issued {
                return Err(
                    FieldError::new("date", format!("must not be before the issue date {}", current.issued)).into()
                );
            }
            let note = match &audit.note {
                Some(note) if !note.trim().is_empty() => Some(clean_text("note", note, 1000)?),
                _ => None,
            };
            let audit = SurveillanceAudit { date: audit.date, outcome: audit.outcome, note };
            let details = json!({ "date": audit.date, "outcome": audit.outcome });
            next.surveillance.push(audit);
            Ok((next, EventKind::Surveillance, details))
        }
        Change::OrderMarks { count, product } => {
            let batch = next.order_product_marks(*count, product.clone(), today)?;
            let mut details = json!({ "batch": batch.id, "count": batch.count });
            if let Some((gtin, name)) = batch.product() {
                details["gtin"] = json!(gtin);
                details["product"] = json!(name);
            }
            Ok((next, EventKind::MarksOrdered, details))
        }
        Change::RevokeMarks { batch, range, reason } => {
            let revoked = next.revoke_marks(*batch, *range, reason, today)?;
            let details =
                json!({ "batch": batch, "first": revoked.first, "last": revoked.last, "reason": revoked.reason });
            Ok((next, EventKind::MarksRevoked, details))
        }
    }
}

impl Registry {
    /// Applies `change` to certificate `number` as a new signed version with its event.
    pub async fn change(
        &self,
        actor: &str,
        number: &CertificateNumber,
        change: &Change,
    ) -> Result<SignedCertificate, RegistryError> {
        for _ in 0..ATTEMPTS {
            let current = self.get(number).await?;
            let (next, kind, details) = apply(&current.record, change, clock::today())?;
            let signed = self.sign(next)?;
            let event = NewEvent { kind, actor: actor.to_string(), at: clock::now(), details, signed };
            match self.store.append(&event, current.record.version).await {
                Ok(()) => {
                    self.log_appended().await;
                    self.answer_changed(number).await;
                    return self.get(number).await;
                }
                Err(StoreError::VersionConflict { .. }) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(RegistryError::Conflict(number.to_string()))
    }
}
