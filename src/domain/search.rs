//! What a search asks for: built by HTTP and the CLI from their parameters, answered by the
//! registry's index or the store, so it is a plain value below both.

use chrono::NaiveDate;

use super::certificate::CertificateNumber;
use super::evaluation::Level;
use super::status::State;
use super::uscc::Uscc;

/// Filters of a search; all given filters must match.
#[derive(Clone, Debug)]
pub struct SearchQuery {
    /// Certificate number (exact or prefix), USCC, or a substring of the holder's name.
    pub text: Option<String>,
    pub uscc: Option<Uscc>,
    pub level: Option<Level>,
    /// Effective state, with expiry judged on `today`.
    pub state: Option<State>,
    pub today: NaiveDate,
    /// Keyset cursor: only numbers after this one.
    pub after: Option<CertificateNumber>,
    pub limit: u32,
}
