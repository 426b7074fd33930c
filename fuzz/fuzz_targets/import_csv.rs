//! `starmark import FILE.csv`: the CSV reader and every row's checks, as the CLI runs them.
//! Nothing is lost (every row is imported or reported by its line), and a row that is
//! accepted, written back as CSV, is read again as the same draft.
#![no_main]

use chrono::NaiveDate;
use libfuzzer_sys::fuzz_target;
use starmark::domain::{ApprovalNumber, CertificateDraft, CertificateNumber, CertificateRecord, Issuer};
use starmark::registry::{parse_csv, ImportRow, CSV_COLUMNS};

fuzz_target!(|data: &[u8]| {
    let (rows, errors) = match parse_csv(data) {
        Ok(parsed) => parsed,
        Err(refused) => {
            assert_eq!(refused.line, 1, "only the header refuses a whole file");
            assert!(!refused.message.is_empty());
            return;
        }
    };
    let lines = lines(data);
    for line in rows.iter().map(|r| r.line).chain(errors.iter().map(|e| e.line)) {
        assert!((2..=lines.max(2)).contains(&line), "row reported at line {line} of {lines}: {errors:?}");
    }
    for error in &errors {
        assert!(!error.message.trim().is_empty(), "an empty reason for line {}", error.line);
    }
    if rows.is_empty() {
        return;
    }
    let written = write_back(&rows);
    let (again, again_errors) = parse_csv(written.as_slice()).expect("our own header");
    assert!(
        again_errors.is_empty(),
        "rows written back are refused: {again_errors:?}\n{}",
        String::from_utf8_lossy(&written)
    );
    assert_eq!(again.len(), rows.len());
    for (first, second) in rows.iter().zip(&again) {
        assert_eq!(format!("{:?}", first.draft), format!("{:?}", second.draft), "line {}", first.line);
    }
    let issuer = Issuer {
        name: "Fuzz body".into(),
        approval_number: ApprovalNumber::parse("CNCA-R-2026-001").expect("approval"),
    };
    let today = NaiveDate::from_ymd_opt(2026, 6, 1).expect("date");
    for row in rows {
        let number = row.draft.number.clone().unwrap_or_else(|| CertificateNumber::assigned(2026, 1));
        if let Err(e) = CertificateRecord::issue(row.draft, number, issuer.clone(), today) {
            assert!(!e.to_string().trim().is_empty());
        }
    }
});

/// Lines of `data` as people count them: `\n`, `\r\n` and a lone `\r` each end one.
fn lines(data: &[u8]) -> u64 {
    let ends = data.iter().enumerate().filter(|&(i, &b)| b == b'\n' || (b == b'\r' && data.get(i + 1) != Some(&b'\n')));
    ends.count() as u64 + 1
}

/// The rows as an import file with every column.
fn write_back(rows: &[ImportRow]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(CSV_COLUMNS).expect("header");
    for row in rows {
        writer.write_record(fields(&row.draft)).expect("row");
    }
    writer.into_inner().expect("flush")
}

fn fields(draft: &CertificateDraft) -> Vec<String> {
    let date = |d: Option<NaiveDate>| d.map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default();
    let e = &draft.evaluation;
    vec![
        draft.number.as_ref().map(ToString::to_string).unwrap_or_default(),
        draft.holder.name.clone(),
        draft.holder.name_en.clone().unwrap_or_default(),
        draft.holder.uscc.to_string(),
        draft.holder.address.clone(),
        draft.scope.clone(),
        e.system.to_string(),
        e.commodity.to_string(),
        e.customer.to_string(),
        e.applicable.to_string(),
        e.special_deductions.to_string(),
        if e.special_bonus { "true" } else { "false" }.to_string(),
        draft.level.map(|l| l.as_str().to_string()).unwrap_or_default(),
        date(draft.issued),
        date(draft.first_issued),
    ]
}
