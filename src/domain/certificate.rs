//! The certificate record: what is signed, stored and shown for every version of a certificate.

use std::fmt;

use chrono::{Datelike, Days, Months, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::evaluation::{Evaluation, EvaluationError, Level};
use super::marks::{self, MarkBatch, MarkError, Product, RevokedMarks, SerialStatus};
use super::status::{effective_state, State, Status};
use super::text::{clean_text, FieldError};
use super::uscc::Uscc;

/// The standard every certificate of this registry is issued against.
pub const STANDARD: &str = "GB/T 27922-2011";
/// The day GB/T 27922-2011 was published: no certificate under it can be issued earlier.
pub const EARLIEST_DATE: NaiveDate = match NaiveDate::from_ymd_opt(2011, 12, 30) {
    Some(date) => date,
    None => NaiveDate::MIN,
};
/// Years a certificate stays valid.
pub const VALIDITY_YEARS: u32 = 3;

/// A certificate number: 6 to 32 of `A-Z 0-9 -`, starting with a letter, so it fits QR
/// alphanumeric mode and URLs without escaping.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CertificateNumber(String);

impl CertificateNumber {
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let number = input.trim().to_ascii_uppercase();
        let len = number.chars().count();
        if !(6..=32).contains(&len) {
            return Err(FieldError::new("number", format!("must have 6 to 32 characters, not {len}")));
        }
        if !number.starts_with(|c: char| c.is_ascii_uppercase()) {
            return Err(FieldError::new("number", "must start with a letter"));
        }
        if let Some((index, bad)) =
            number.chars().enumerate().find(|(_, c)| !(c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(FieldError::new(
                "number",
                format!("character '{bad}' at position {} is not allowed (use A-Z, 0-9 and -)", index + 1),
            ));
        }
        Ok(Self(number))
    }

    /// The number the registry assigns to the `sequence`-th certificate of `year`.
    pub fn assigned(year: i32, sequence: u64) -> Self {
        Self(format!("SM{year}ASC{sequence:06}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Hands the text on without a copy, to keys and messages that hold plain strings.
impl From<CertificateNumber> for String {
    fn from(number: CertificateNumber) -> Self {
        number.0
    }
}

impl fmt::Display for CertificateNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CertificateNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertificateNumber({})", self.0)
    }
}

impl Serialize for CertificateNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for CertificateNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        CertificateNumber::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// An accreditation approval number of the form `CNCA-R-YYYY-NNN`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ApprovalNumber(String);

impl ApprovalNumber {
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let value = input.trim();
        let parts: Vec<&str> = value.split('-').collect();
        let ok = parts.len() == 4
            && parts[0] == "CNCA"
            && parts[1] == "R"
            && parts[2].len() == 4
            && parts[2].bytes().all(|b| b.is_ascii_digit())
            && parts[3].len() == 3
            && parts[3].bytes().all(|b| b.is_ascii_digit());
        if ok {
            Ok(Self(value.to_string()))
        } else {
            Err(FieldError::new("issuer.approval_number", format!("'{value}' is not of the form CNCA-R-YYYY-NNN")))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for ApprovalNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        ApprovalNumber::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// The company that holds a certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Holder {
    /// Registered Chinese name.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_en: Option<String>,
    pub uscc: Uscc,
    pub address: String,
}

/// The certification body that issued a certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Issuer {
    pub name: String,
    pub approval_number: ApprovalNumber,
}

/// Result of a yearly surveillance audit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SurveillanceOutcome {
    /// Conditions for the certificate still met.
    Passed,
    /// Nonconformities to correct; the body may suspend separately.
    Nonconformities,
}

/// One surveillance audit in a certificate's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurveillanceAudit {
    pub date: NaiveDate,
    pub outcome: SurveillanceOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One version of a certificate: exactly what is signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateRecord {
    pub number: CertificateNumber,
    /// 1 for the issue, +1 for every change.
    pub version: u32,
    pub holder: Holder,
    pub scope: String,
    pub standard: String,
    pub level: Level,
    pub evaluation: Evaluation,
    pub first_issued: NaiveDate,
    pub issued: NaiveDate,
    pub valid_until: NaiveDate,
    pub issuer: Issuer,
    pub status: Status,
    #[serde(default)]
    pub surveillance: Vec<SurveillanceAudit>,
    /// Serialised star marks ordered for this certificate (absent until the first order).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mark_batches: Vec<MarkBatch>,
}

/// What the body supplies to issue a certificate; everything else is derived.
#[derive(Clone, Debug)]
pub struct CertificateDraft {
    pub number: Option<CertificateNumber>,
    pub holder: Holder,
    pub scope: String,
    pub evaluation: Evaluation,
    pub level: Option<Level>,
    pub issued: Option<NaiveDate>,
    pub first_issued: Option<NaiveDate>,
}

/// Why a draft cannot become a certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssueError {
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error(transparent)]
    Evaluation(#[from] EvaluationError),
}

/// Last day of validity for a certificate issued on `issued`: the day before its anniversary
/// [`VALIDITY_YEARS`] later. The anniversary of 29 February in a common year is 1 March (the
/// date a day past 28 February), so such a certificate is valid through 28 February, as one
/// issued a day later is; it is never cut a day short.
pub fn validity_end(issued: NaiveDate) -> NaiveDate {
    let anniversary = issued.checked_add_months(Months::new(12 * VALIDITY_YEARS)).map(|date| {
        if date.day() < issued.day() {
            // The month is shorter than the issue date: the anniversary falls on the next day.
            date.succ_opt().unwrap_or(date)
        } else {
            date
        }
    });
    anniversary.and_then(|d| d.checked_sub_days(Days::new(1))).unwrap_or(NaiveDate::MAX)
}

impl Holder {
    /// Trims and checks the free-text fields.
    pub fn cleaned(self) -> Result<Self, FieldError> {
        Ok(Self {
            name: clean_text("holder.name", &self.name, 200)?,
            name_en: match self.name_en {
                Some(name) if !name.trim().is_empty() => Some(clean_text("holder.name_en", &name, 200)?),
                _ => None,
            },
            uscc: self.uscc,
            address: clean_text("holder.address", &self.address, 300)?,
        })
    }
}

impl CertificateRecord {
    /// Builds version 1 of a certificate from a draft, or says what is wrong with it.
    pub fn issue(
        draft: CertificateDraft,
        number: CertificateNumber,
        issuer: Issuer,
        today: NaiveDate,
    ) -> Result<Self, IssueError> {
        let level = draft.evaluation.confirm_level(draft.level)?;
        let issued = draft.issued.unwrap_or(today);
        if issued > today {
            return Err(FieldError::new("issued", format!("must not be after today ({today})")).into());
        }
        let first_issued = draft.first_issued.unwrap_or(issued);
        if first_issued > issued {
            return Err(FieldError::new("first_issued", "must not be after the issue date").into());
        }
        for (field, date) in [("issued", issued), ("first_issued", first_issued)] {
            if date < EARLIEST_DATE {
                return Err(FieldError::new(
                    field,
                    format!("must not be before {EARLIEST_DATE}, the day {STANDARD} was published, not {date}"),
                )
                .into());
            }
        }
        Ok(Self {
            number,
            version: 1,
            holder: draft.holder.cleaned()?,
            scope: clean_text("scope", &draft.scope, 2000)?,
            standard: STANDARD.to_string(),
            level,
            evaluation: draft.evaluation,
            first_issued,
            issued,
            valid_until: validity_end(issued),
            issuer,
            status: Status::valid(issued),
            surveillance: Vec::new(),
            mark_batches: Vec::new(),
        })
    }

    /// The state in force on `today`.
    pub fn state_on(&self, today: NaiveDate) -> State {
        effective_state(&self.status, self.valid_until, today)
    }

    /// Adds a batch of `count` marks; only a valid certificate may order marks.
    pub fn order_marks(&mut self, count: u64, today: NaiveDate) -> Result<&MarkBatch, MarkError> {
        self.order_product_marks(count, None, today)
    }

    /// Adds a batch of `count` marks bound to `product` (GS1 Digital Link marks) or to none.
    pub fn order_product_marks(
        &mut self,
        count: u64,
        product: Option<Product>,
        today: NaiveDate,
    ) -> Result<&MarkBatch, MarkError> {
        let current = self.state_on(today);
        marks::order(&mut self.mark_batches, current, count, product, today)
    }

    /// Revokes serials `first..=last` of batch `batch` (the whole batch when no range is given)
    /// without touching the certificate's own state.
    pub fn revoke_marks(
        &mut self,
        batch: u32,
        range: Option<(u32, u32)>,
        reason: &str,
        today: NaiveDate,
    ) -> Result<RevokedMarks, MarkError> {
        marks::revoke(&mut self.mark_batches, batch, range, reason, today)
    }

    /// What the record says about serial `serial` of batch `batch`.
    pub fn serial_status(&self, batch: u32, serial: u32) -> SerialStatus {
        marks::serial_status(&self.mark_batches, batch, serial)
    }

    /// The mark batch numbered `id`, if the record has one: what marks, scans and products read
    /// of a batch.
    pub fn mark_batch(&self, id: u32) -> Option<&MarkBatch> {
        self.mark_batches.iter().find(|b| b.id == id)
    }

    /// The next version, with the version counter moved on.
    pub fn next_version(&self) -> Self {
        let mut next = self.clone();
        next.version += 1;
        next
    }

    /// Bytes the record holds beyond its own struct (texts and lists): caches that keep parsed
    /// records count them against their memory bound.
    pub fn heap_bytes(&self) -> usize {
        let optional = |text: &Option<String>| text.as_ref().map_or(0, String::len);
        let holder = &self.holder;
        let texts = self.number.as_str().len()
            + holder.name.len()
            + optional(&holder.name_en)
            + holder.uscc.as_str().len()
            + holder.address.len()
            + self.scope.len()
            + self.standard.len()
            + self.issuer.name.len()
            + self.issuer.approval_number.as_str().len()
            + optional(&self.status.reason);
        let surveillance: usize = self
            .surveillance
            .iter()
            .map(|audit| std::mem::size_of::<SurveillanceAudit>() + optional(&audit.note))
            .sum();
        let batches: usize = self
            .mark_batches
            .iter()
            .map(|batch| {
                let revoked = batch.revoked.iter().map(|r| std::mem::size_of_val(r) + r.reason.len());
                std::mem::size_of::<MarkBatch>() + revoked.sum::<usize>()
            })
            .sum();
        texts + surveillance + batches
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::evaluation::Points;

    pub(crate) fn draft() -> CertificateDraft {
        CertificateDraft {
            number: None,
            holder: Holder {
                name: " 厦门示例电器有限公司 ".into(),
                name_en: Some("".into()),
                uscc: Uscc::parse("91350200776049653A").unwrap(),
                address: "厦门市思明区示例路1号".into(),
            },
            scope: "家用电器的售后服务".into(),
            evaluation: Evaluation {
                system: Points::whole(38),
                commodity: Points::whole(33),
                customer: Points::whole(24),
                applicable: Points::whole(100),
                special_deductions: 0,
                special_bonus: false,
            },
            level: None,
            issued: None,
            first_issued: None,
        }
    }

    pub(crate) fn issuer() -> Issuer {
        Issuer { name: "Body".into(), approval_number: ApprovalNumber::parse("CNCA-R-2026-001").unwrap() }
    }

    #[test]
    fn issue_derives_level_dates_and_status() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        let record = CertificateRecord::issue(draft(), CertificateNumber::assigned(2026, 1), issuer(), today).unwrap();
        assert_eq!(record.level, Level::FiveStar);
        assert_eq!(record.holder.name, "厦门示例电器有限公司");
        assert_eq!(record.holder.name_en, None);
        assert_eq!(record.valid_until, NaiveDate::from_ymd_opt(2029, 11, 25).unwrap());
        assert_eq!(record.state_on(today), State::Valid);
        assert_eq!(record.number.as_str(), "SM2026ASC000001");
    }

    #[test]
    fn a_certificate_issued_on_a_leap_day_is_valid_through_the_day_before_its_anniversary() {
        let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        // Counted by hand: three years from 29 Feb 2024 reach 1 Mar 2027 (2027 has no 29 Feb).
        assert_eq!(validity_end(date(2024, 2, 29)), date(2027, 2, 28));
        assert_eq!(validity_end(date(2024, 2, 28)), date(2027, 2, 27));
        assert_eq!(validity_end(date(2024, 3, 1)), date(2027, 2, 28));
        // Three years from a leap day can land on one: 29 Feb 2028 + 3 years = 1 Mar 2031.
        assert_eq!(validity_end(date(2028, 2, 29)), date(2031, 2, 28));
        // Into a leap year: 29 Feb 2032 exists, so 28 Feb is the last day before it.
        assert_eq!(validity_end(date(2029, 2, 28)), date(2032, 2, 27));
        assert_eq!(validity_end(date(2029, 3, 1)), date(2032, 2, 29));
    }

    #[test]
    fn dates_before_the_standard_are_refused() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        let number = || CertificateNumber::assigned(2026, 1);
        let mut ancient = draft();
        ancient.issued = NaiveDate::from_ymd_opt(1, 1, 1);
        let err = CertificateRecord::issue(ancient, number(), issuer(), today).unwrap_err();
        assert!(matches!(&err, IssueError::Field(f) if f.field == "issued"), "{err}");
        let mut first = draft();
        first.first_issued = NaiveDate::from_ymd_opt(2011, 12, 29);
        let err = CertificateRecord::issue(first, number(), issuer(), today).unwrap_err();
        assert!(matches!(&err, IssueError::Field(f) if f.field == "first_issued"), "{err}");
        let mut earliest = draft();
        earliest.issued = Some(EARLIEST_DATE);
        assert!(CertificateRecord::issue(earliest, number(), issuer(), today).is_ok());
    }

    #[test]
    fn invisible_characters_in_displayed_text_are_refused() {
        for (name, bad) in [("甲\u{202E}乙公司", 0x202E), ("\u{FEFF}甲公司", 0xFEFF), ("甲\u{200B}公司", 0x200B)]
        {
            let mut d = draft();
            d.holder.name = name.into();
            let err = CertificateRecord::issue(d, CertificateNumber::assigned(2026, 1), issuer(), NaiveDate::MAX)
                .unwrap_err();
            let IssueError::Field(f) = err else { panic!("not a field error") };
            assert_eq!(f.field, "holder.name");
            assert!(f.message.contains(&format!("U+{bad:04X}")), "{}", f.message);
        }
        let mut scope = draft();
        scope.scope = "家用电器\u{2066}的售后服务".into();
        assert!(
            CertificateRecord::issue(scope, CertificateNumber::assigned(2026, 1), issuer(), NaiveDate::MAX).is_err()
        );
    }

    #[test]
    fn numbers_are_checked() {
        assert!(CertificateNumber::parse("sm2026asc000001").is_ok());
        assert!(CertificateNumber::parse("12345678").is_err());
        assert!(CertificateNumber::parse("SM 2026").is_err());
        assert!(CertificateNumber::parse("SM/2026/1").is_err());
        assert!(CertificateNumber::parse("SM1").is_err());
    }

    #[test]
    fn approval_numbers_are_checked() {
        assert!(ApprovalNumber::parse("CNCA-R-2003-117").is_ok());
        assert!(ApprovalNumber::parse("CNCA-R-03-117").is_err());
        assert!(ApprovalNumber::parse("CNAS-R-2003-117").is_err());
    }
}
