//! Pure domain rules: no I/O, no async. Every type here parses its input once, so code above
//! it never validates twice.

pub mod certificate;
pub mod evaluation;
pub mod events;
pub mod gtin;
pub mod invisible;
pub mod marks;
pub mod receipt;
pub mod roles;
pub mod scans;
pub mod search;
pub mod staff;
pub mod status;
pub mod text;
pub mod uscc;

pub use certificate::{
    validity_end, ApprovalNumber, CertificateDraft, CertificateNumber, CertificateRecord, Holder, IssueError, Issuer,
    SurveillanceAudit, SurveillanceOutcome, STANDARD,
};
pub use evaluation::{Evaluation, EvaluationError, Level, Points};
pub use events::EventKind;
pub use gtin::{check_ai21_serial, Ai21Error, Gtin, GtinError};
pub use marks::{MarkBatch, MarkError, Product, RevokedMarks, SerialStatus, MAX_BATCH, MAX_PRODUCT_CHARS};
pub use roles::Role;
pub use scans::{ScanTally, ScannerSet, SerialKey, SCANNER_CAPACITY};
pub use search::SearchQuery;
pub use staff::{DisplayName, StaffRole, Username};
pub use status::{effective_state, transition, State, Status, StatusAction, TransitionError};
pub use text::{clean_text, FieldError};
pub use uscc::{Uscc, UsccError};
