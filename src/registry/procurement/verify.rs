//! Bulk verification: a procurement officer's list of USCCs and certificate numbers, each
//! answered with the certificates it names as they stand today.
//!
//! Each distinct query is read from the store once. Reads go to the store itself, not the
//! answer cache, and any store failure fails the whole check: a list that says "valid" for a
//! row the registry could not read would be worse than no answer.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};

use super::{clock, Registry, RegistryError};
use crate::crypto::SignedCertificate;
use crate::domain::receipt::{InputRow, Outcome, Query, MAX_CERTIFICATES, MAX_CERTIFICATES_PER_ROW};
use crate::domain::SearchQuery;
use crate::domain::State;

/// Most certificates a receipt check reads back for one USCC row: enough for every row of a
/// receipt issued before rows were bounded to [`MAX_CERTIFICATES_PER_ROW`].
pub const MAX_PER_HOLDER: u32 = 100;

/// What one well-formed query names: the first certificates in number order, and how many
/// there are in all.
#[derive(Clone, Debug, Default)]
pub struct Named {
    pub certificates: Vec<SignedCertificate>,
    pub total: u64,
}

/// One input row with what it asked and found.
#[derive(Clone, Debug)]
pub struct CheckedRow {
    /// Line (CSV) or position (JSON) in the input, from 1.
    pub row: usize,
    /// The query as given (trimmed).
    pub query: String,
    pub parsed: Query,
    /// The certificates listed, in number order; empty when unknown or malformed, and at most
    /// [`MAX_CERTIFICATES_PER_ROW`].
    pub certificates: Vec<SignedCertificate>,
    /// Certificates found but not listed: beyond the row's bound or the answer's budget.
    pub more: u64,
}

impl CheckedRow {
    pub fn outcome(&self) -> Outcome {
        match self.parsed {
            Query::Malformed(_) => Outcome::Malformed,
            _ if self.certificates.is_empty() && self.more == 0 => Outcome::Unknown,
            _ => Outcome::Found,
        }
    }

    /// Why the row found nothing, in words, or `None` when it found something.
    pub fn error(&self) -> Option<String> {
        match &self.parsed {
            Query::Malformed(message) => Some(message.clone()),
            _ if self.more > 0 => None,
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
    /// Certificates found but not listed (the sum of the rows' `more`).
    pub more: u64,
}

impl BulkCheck {
    pub fn summary(&self) -> BulkSummary {
        let mut summary = BulkSummary::default();
        for row in &self.rows {
            summary.more += row.more;
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
    /// Reads what one well-formed query names: the holder's certificates (the first `limit` in
    /// number order, and how many there are) or one certificate.
    pub(super) async fn lookup(&self, query: &Query, today: NaiveDate, limit: u32) -> Result<Named, RegistryError> {
        match query {
            Query::Uscc(uscc) => {
                let search = SearchQuery {
                    text: None,
                    uscc: Some(uscc.clone()),
                    level: None,
                    state: None,
                    today,
                    after: None,
                    limit,
                };
                // From the search index when it is current: it was built from signed records,
                // not from the row's `uscc` column. Every certificate listed is confirmed.
                let (certificates, _) = self.search(&search).await?;
                let listed = certificates.len() as u64;
                let total = if listed < u64::from(limit) {
                    listed
                } else {
                    self.store.count_holder_certificates(uscc).await?.max(listed)
                };
                Ok(Named { certificates, total })
            }
            Query::Number(number) => {
                let certificates = match self.store.get(number).await? {
                    Some(certificate) => vec![self.confirmed(certificate).await?],
                    None => Vec::new(),
                };
                Ok(Named { total: certificates.len() as u64, certificates })
            }
            Query::Malformed(_) => Ok(Named::default()),
        }
    }

    /// Checks every row (the caller enforces the row limit). Fails as a whole, with
    /// [`RegistryError::Store`], if the store cannot answer any of them.
    pub async fn verify_bulk(&self, input: &[InputRow]) -> Result<BulkCheck, RegistryError> {
        let checked_at = clock::now().trunc_subsecs(3);
        let today = clock::date_in_china(checked_at);
        let mut found: HashMap<String, Named> = HashMap::new();
        let mut rows = Vec::with_capacity(input.len());
        let mut budget = MAX_CERTIFICATES;
        let per_row = u32::try_from(MAX_CERTIFICATES_PER_ROW).unwrap_or(u32::MAX);
        for line in input {
            let parsed = Query::classify(&line.query);
            let named = match parsed.key() {
                None => Named::default(),
                Some(key) => match found.get(&key) {
                    Some(named) => named.clone(),
                    None => {
                        let named = self.lookup(&parsed, today, per_row).await?;
                        found.insert(key, named.clone());
                        named
                    }
                },
            };
            let Named { mut certificates, total } = named;
            certificates.truncate(MAX_CERTIFICATES_PER_ROW.min(budget));
            budget -= certificates.len();
            let more = total.saturating_sub(certificates.len() as u64);
            rows.push(CheckedRow { row: line.row, query: line.query.clone(), parsed, certificates, more });
        }
        Ok(BulkCheck { checked_at, today, rows })
    }
}
