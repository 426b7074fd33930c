//! A certificate's life as the certification body drives it: issuing one certificate or a CSV
//! of them (with the numbers the registry assigns), status changes, renewals and surveillance
//! audits, and ordering batches of marks with their tokens.

mod changes;
mod import;
mod issue;
pub(super) mod marks;
mod numbers;

pub use changes::Change;
pub use import::{parse_csv, ImportReport, ImportRow, RowError, CSV_COLUMNS};

// What the files here take from the registry.
use super::{clock, Registry, RegistryError};
