//! Bulk verification: a procurement officer's list of USCCs and certificate numbers, each
//! answered with the certificates it names as they stand today.
//!
//! Each distinct query is read from the store once. Reads go to the store itself, not the
//! answer cache, and any store failure fails the whole check: a list that says "valid" for a
//! row the registry could not read would be worse than no answer.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};

use super::{clock, Registry, RegistryError};
use crate::domain::receipt::{InputRow, Outcome, Query};
use crate::domain::State;
use crate::store::{SearchQuery, StoredCertificate};

/// Most certificates one USCC query returns; a holder has a handful at most.
pub const MAX_PER_HOLDER: u32 = 100;

/// One input row with what it asked and found.
#[derive(Clone, Debug)]
pub struct CheckedRow {
    /// Line (CSV) or position (JSON) in the input, from 1.
    pub row: usize,
    /// The query as given (trimmed).
    pub query: String,
    pub parsed: Query,
    /// The certificates found, in number order; empty when unknown or malformed.
    pub certificates: Vec<StoredCertificate>,
}

impl CheckedRow {
    pub fn outcome(&self) -> Outcome {
        match self.parsed {
            Query::Malformed(_) => Outcome::Malformed,
            _ if self.certificates.is_empty() => Outcome::Unknown,
            _ => Outcome::Found,
        }
    }

    /// Why the row found nothing, in words, or `None` when it found something.
    pub fn error(&self) -> Option<String> {
        match &self.parsed {
            Query::Malformed(message) => Some(message.clone()),
            Query::Uscc(uscc) if self.certificates.is_empty() => {
                Some(format!("no certificate of the holder with unified social credit code {uscc} in this registry"))
            }
            Query::Number(number) if self.certificates.is_empty() => {
                Some(format!("no certificate with number {number} in this registry"))
            }
            _ => None,
        }
    }
}

/// The answer to a list of queries, with the moment and the (China) date it was judged on.
#[derive(Clone, Debug)]
pub struct BulkCheck {
    pub checked_at: DateTime<Utc>,
    pub today: NaiveDate,
    pub rows: Vec<CheckedRow>,
}

/// Counts of a check: certificates by effective state, rows unknown and malformed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct BulkSummary {
    pub valid: usize,
    pub suspended: usize,
    pub revoked: usize,
    pub withdrawn: usize,
    pub expired: usize,
    pub unknown: usize,
    pub malformed: usize,
}

impl BulkCheck {
    pub fn summary(&self) -> BulkSummary {
        let mut summary = BulkSummary::default();
        for row in &self.rows {
            match row.outcome() {
                Outcome::Malformed => summary.malformed += 1,
                Outcome::Unknown => summary.unknown += 1,
                Outcome::Found => {
                    for certificate in &row.certificates {
                        match certificate.record.state_on(self.today) {
                            State::Valid => summary.valid += 1,
                            State::Suspended => summary.suspended += 1,
                            State::Revoked => summary.revoked += 1,
                            State::Withdrawn => summary.withdrawn += 1,
                            State::Expired => summary.expired += 1,
                        }
                    }
                }
            }
        }
        summary
    }
}

impl Registry {
    /// Reads what one well-formed query names: the holder's certificates or one certificate.
    pub(super) async fn lookup(
        &self,
        query: &Query,
        today: NaiveDate,
    ) -> Result<Vec<StoredCertificate>, RegistryError> {
        match query {
            Query::Uscc(uscc) => {
                let search = SearchQuery {
                    text: None,
                    uscc: Some(uscc.clone()),
                    level: None,
                    state: None,
                    today,
                    after: None,
                    limit: MAX_PER_HOLDER,
                };
                let mut confirmed = Vec::new();
                for certificate in self.store.search(&search).await? {
                    confirmed.push(self.confirmed(certificate).await?);
                }
                Ok(confirmed)
            }
            Query::Number(number) => match self.store.get(number).await? {
                Some(certificate) => Ok(vec![self.confirmed(certificate).await?]),
                None => Ok(Vec::new()),
            },
            Query::Malformed(_) => Ok(Vec::new()),
        }
    }

    /// Checks every row (the caller enforces the row limit). Fails as a whole, with
    /// [`RegistryError::Store`], if the store cannot answer any of them.
    pub async fn verify_bulk(&self, input: &[InputRow]) -> Result<BulkCheck, RegistryError> {
        let checked_at = clock::now().trunc_subsecs(3);
        let today = clock::date_in_china(checked_at);
        let mut found: HashMap<String, Vec<StoredCertificate>> = HashMap::new();
        let mut rows = Vec::with_capacity(input.len());
        for line in input {
            let parsed = Query::classify(&line.query);
            let certificates = match parsed.key() {
                None => Vec::new(),
                Some(key) => match found.get(&key) {
                    Some(certificates) => certificates.clone(),
                    None => {
                        let certificates = self.lookup(&parsed, today).await?;
                        found.insert(key, certificates.clone());
                        certificates
                    }
                },
            };
            rows.push(CheckedRow { row: line.row, query: line.query.clone(), parsed, certificates });
        }
        Ok(BulkCheck { checked_at, today, rows })
    }
}
