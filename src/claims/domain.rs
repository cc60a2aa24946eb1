//! Case and invoice states (SPEC §4). Stored as TEXT; the CHECK constraints in the schema list
//! the same words.

use crate::money::Cents;
use serde::{Deserialize, Serialize};

use crate::http::ErrorCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CaseStatus {
    Draft,
    /// Awaiting level 1.
    Submitted,
    /// Awaiting level 2.
    Level2,
    Approved,
    Booked,
    Completed,
    /// A reviewer asked for changes; the student edits and resubmits.
    Returned,
    Rejected,
    Withdrawn,
    /// The university's bank transfer of a completed, university-funded claim went out
    /// (SPEC §13 office: payout batches).
    Paid,
}

impl CaseStatus {
    pub const ALL: [CaseStatus; 10] = [
        CaseStatus::Draft,
        CaseStatus::Submitted,
        CaseStatus::Level2,
        CaseStatus::Approved,
        CaseStatus::Booked,
        CaseStatus::Completed,
        CaseStatus::Returned,
        CaseStatus::Rejected,
        CaseStatus::Withdrawn,
        CaseStatus::Paid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Draft => "draft",
            CaseStatus::Submitted => "submitted",
            CaseStatus::Level2 => "level2",
            CaseStatus::Approved => "approved",
            CaseStatus::Booked => "booked",
            CaseStatus::Completed => "completed",
            CaseStatus::Returned => "returned",
            CaseStatus::Rejected => "rejected",
            CaseStatus::Withdrawn => "withdrawn",
            CaseStatus::Paid => "paid",
        }
    }

    pub fn parse(s: &str) -> Option<CaseStatus> {
        CaseStatus::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The student may edit the case and its may-edit items.
    pub fn student_may_edit(self) -> bool {
        matches!(self, CaseStatus::Draft | CaseStatus::Returned)
    }

    /// Counts as an active claim for duplicate-invoice checks (not withdrawn, not finally rejected).
    pub fn is_active(self) -> bool {
        !matches!(self, CaseStatus::Withdrawn | CaseStatus::Rejected)
    }

    /// Approved for payout (what finance and the payout year usage count).
    pub fn is_approved(self) -> bool {
        matches!(
            self,
            CaseStatus::Approved | CaseStatus::Booked | CaseStatus::Completed | CaseStatus::Paid
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InvoiceStatus {
    Pending,
    Approved,
    Rejected,
}

impl InvoiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Pending => "pending",
            InvoiceStatus::Approved => "approved",
            InvoiceStatus::Rejected => "rejected",
        }
    }
    pub fn parse(s: &str) -> Option<InvoiceStatus> {
        [
            InvoiceStatus::Pending,
            InvoiceStatus::Approved,
            InvoiceStatus::Rejected,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// Statuses are TEXT columns; a word the CHECK constraint would not let in is a decoding error,
/// never a guess.
macro_rules! status_column {
    ($t:ty, $what:literal) => {
        impl sqlx::Type<sqlx::Any> for $t {
            fn type_info() -> sqlx::any::AnyTypeInfo {
                <str as sqlx::Type<sqlx::Any>>::type_info()
            }
        }
        impl<'r> sqlx::Decode<'r, sqlx::Any> for $t {
            fn decode(value: sqlx::any::AnyValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let s = <&str as sqlx::Decode<sqlx::Any>>::decode(value)?;
                <$t>::parse(s).ok_or_else(|| format!(concat!("unknown ", $what, " {:?}"), s).into())
            }
        }
        impl<'q> sqlx::Encode<'q, sqlx::Any> for $t {
            fn encode_by_ref(
                &self,
                buf: &mut <sqlx::Any as sqlx::Database>::ArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<sqlx::Any>>::encode(self.as_str(), buf)
            }
        }
    };
}
status_column!(CaseStatus, "case status");
status_column!(InvoiceStatus, "invoice status");

use crate::policy::HospitalLevel;

/// Why a student's claim request is refused (SPEC §4 rules 1–3). Each has a stable code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("not covered in the visit date's year")]
    NotInsured,
    #[error("visit date is in the future or older than the claim window")]
    VisitDateOutOfRange,
    #[error(
        "invoice date must be a date YYYY-MM-DD, not in the future nor older than the claim window"
    )]
    InvalidInvoiceDate,
    #[error("self-paid part exceeds the total")]
    SelfPayExceedsTotal,
    #[error("amount must be a positive whole number of cents")]
    InvalidAmount { field: &'static str },
    #[error("a photo is required")]
    PhotoRequired,
    #[error("invoice number is already in another active claim")]
    DuplicateInvoice,
    #[error("invoice number is blacklisted")]
    BlacklistedInvoice,
    #[error("a record photo and an invoice are needed before submitting")]
    IncompleteCase,
    #[error("this can no longer be edited")]
    NotEditable,
    #[error("{field}: {why}")]
    Invalid {
        field: &'static str,
        why: &'static str,
    },
}

impl RuleError {
    pub fn code(&self) -> ErrorCode {
        match self {
            RuleError::NotInsured => ErrorCode::NotInsured,
            RuleError::VisitDateOutOfRange => ErrorCode::VisitDateOutOfRange,
            RuleError::InvalidInvoiceDate => ErrorCode::InvalidInvoiceDate,
            RuleError::SelfPayExceedsTotal => ErrorCode::SelfPayExceedsTotal,
            RuleError::InvalidAmount { .. } => ErrorCode::InvalidAmount,
            RuleError::PhotoRequired => ErrorCode::PhotoRequired,
            RuleError::DuplicateInvoice => ErrorCode::DuplicateInvoice,
            RuleError::BlacklistedInvoice => ErrorCode::BlacklistedInvoice,
            RuleError::IncompleteCase => ErrorCode::IncompleteCase,
            RuleError::NotEditable => ErrorCode::NotEditable,
            RuleError::Invalid { .. } => ErrorCode::InvalidInput,
        }
    }

    /// The field a form should mark, if any.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            RuleError::VisitDateOutOfRange => Some("visit_date"),
            RuleError::InvalidInvoiceDate => Some("invoice_date"),
            RuleError::SelfPayExceedsTotal => Some("self_pay_cents"),
            RuleError::InvalidAmount { field } | RuleError::Invalid { field, .. } => Some(field),
            RuleError::PhotoRequired => Some("photo"),
            RuleError::DuplicateInvoice | RuleError::BlacklistedInvoice => Some("invoice_no"),
            _ => None,
        }
    }
}

impl From<RuleError> for crate::http::AppError {
    fn from(e: RuleError) -> crate::http::AppError {
        let mut err = e.code().with_message(e.to_string());
        if let Some(field) = e.field() {
            err = err.with_field(field, e.to_string());
        }
        err
    }
}

/// A non-empty text of at most `max` characters, trimmed.
pub fn parse_text(field: &'static str, value: &str, max: usize) -> Result<String, RuleError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(RuleError::Invalid {
            field,
            why: "is required",
        });
    }
    if v.chars().count() > max {
        return Err(RuleError::Invalid {
            field,
            why: "is too long",
        });
    }
    Ok(v.to_string())
}

/// The facts of a case a student types in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseFacts {
    pub hospital: String,
    pub hospital_level: Option<HospitalLevel>,
    pub reason: String,
    pub visit_date: chrono::NaiveDate,
}

impl CaseFacts {
    pub fn parse(
        hospital: &str,
        hospital_level: Option<i64>,
        reason: &str,
        visit_date: &str,
    ) -> Result<CaseFacts, RuleError> {
        let hospital = parse_text("hospital", hospital, 100)?;
        let reason = parse_text("reason", reason, 500)?;
        let hospital_level = match hospital_level {
            None => None,
            Some(l) => Some(HospitalLevel::new(l).ok_or(RuleError::Invalid {
                field: "hospital_level",
                why: "must be 0, 1, 2 or 3",
            })?),
        };
        let visit_date =
            chrono::NaiveDate::parse_from_str(visit_date.trim(), "%Y-%m-%d").map_err(|_| {
                RuleError::Invalid {
                    field: "visit_date",
                    why: "must be a date YYYY-MM-DD",
                }
            })?;
        Ok(CaseFacts {
            hospital,
            hospital_level,
            reason,
            visit_date,
        })
    }

    /// Rule 1: not in the future, not older than the claim window.
    pub fn check_visit_date(
        &self,
        today: chrono::NaiveDate,
        window_days: i64,
    ) -> Result<(), RuleError> {
        let oldest = today - chrono::Duration::days(window_days);
        if self.visit_date > today || self.visit_date < oldest {
            return Err(RuleError::VisitDateOutOfRange);
        }
        Ok(())
    }

    pub fn coverage_year(&self) -> i64 {
        use chrono::Datelike;
        i64::from(self.visit_date.year())
    }
}

/// Largest invoice total: 100 billion yuan (as for amounts a hospital pushes). Bounded amounts
/// keep every sum over a case's or a year's invoices far from overflowing.
pub const MAX_INVOICE_CENTS: Cents = Cents::new(10_000_000_000_000);

/// An invoice's number and amounts, checked (rule 2, apart from the photo and the lookups),
/// and its date when the student gave one (checked against today by [`check_invoice_date`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvoiceFacts {
    pub invoice_no: InvoiceNo,
    pub total_cents: Cents,
    pub self_pay_cents: Cents,
    /// 开票日期, optional.
    pub invoice_date: Option<chrono::NaiveDate>,
}

impl InvoiceFacts {
    pub fn parse(
        invoice_no: &str,
        total_cents: Cents,
        self_pay_cents: Cents,
    ) -> Result<InvoiceFacts, RuleError> {
        let invoice_no = InvoiceNo::parse(invoice_no)?;
        if !total_cents.is_positive() || total_cents > MAX_INVOICE_CENTS {
            return Err(RuleError::InvalidAmount {
                field: "total_cents",
            });
        }
        if self_pay_cents.is_negative() {
            return Err(RuleError::InvalidAmount {
                field: "self_pay_cents",
            });
        }
        if self_pay_cents > total_cents {
            return Err(RuleError::SelfPayExceedsTotal);
        }
        Ok(InvoiceFacts {
            invoice_no,
            total_cents,
            self_pay_cents,
            invoice_date: None,
        })
    }

    /// The same facts dated `invoice_date` (`None`: no date given).
    pub fn dated(self, invoice_date: Option<chrono::NaiveDate>) -> InvoiceFacts {
        InvoiceFacts {
            invoice_date,
            ..self
        }
    }

    pub fn covered_cents(&self) -> Cents {
        self.total_cents - self.self_pay_cents
    }
}

/// An invoice date as typed or sent: `YYYY-MM-DD`, a real calendar date; empty means none.
pub fn parse_invoice_date(s: &str) -> Result<Option<chrono::NaiveDate>, RuleError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    // `%Y` alone would take five-digit and signed years; the form is exactly ten characters.
    if s.len() != 10 {
        return Err(RuleError::InvalidInvoiceDate);
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| RuleError::InvalidInvoiceDate)
}

/// The invoice date's range, as rule 1 bounds the visit date: not after today, not older than
/// the claim window (an invoice older than that could not be claimed with its visit anyway).
pub fn check_invoice_date(
    date: chrono::NaiveDate,
    today: chrono::NaiveDate,
    window_days: i64,
) -> Result<(), RuleError> {
    let oldest = today - chrono::Duration::days(window_days);
    if date > today || date < oldest {
        return Err(RuleError::InvalidInvoiceDate);
    }
    Ok(())
}

/// An invoice number (发票号码): 1–64 characters without surrounding spaces, compared exactly
/// (rule 2's duplicate and blacklist checks). A plain string on the wire and in the database.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, sqlx::Type, utoipa::ToSchema)]
#[serde(transparent)]
#[sqlx(transparent)]
#[schema(value_type = String, min_length = 1, max_length = 64)]
pub struct InvoiceNo(String);

impl InvoiceNo {
    pub fn parse(s: &str) -> Result<InvoiceNo, RuleError> {
        parse_text("invoice_no", s, 64).map(InvoiceNo)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for InvoiceNo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whole cents from a text field (multipart sends text): digits only, else `invalid_amount`.
pub fn parse_cents_text(field: &'static str, s: &str) -> Result<Cents, RuleError> {
    let s = s.trim();
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(RuleError::InvalidAmount { field });
    }
    s.parse::<i64>()
        .map(Cents::new)
        .map_err(|_| RuleError::InvalidAmount { field })
}

/// Yuan as typed on a page (`123`, `123.4`, `123.45`, an optional `¥`) to cents; not negative.
pub fn parse_yuan(field: &'static str, s: &str) -> Result<Cents, RuleError> {
    Cents::parse_typed(s).map_err(|_| RuleError::InvalidAmount { field })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        for s in CaseStatus::ALL {
            assert_eq!(CaseStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(CaseStatus::parse("approved "), None);
    }

    #[test]
    fn invoice_rules() {
        assert_eq!(
            InvoiceFacts::parse("A1", Cents::new(100), Cents::new(100))
                .unwrap()
                .covered_cents(),
            Cents::ZERO
        );
        assert_eq!(
            InvoiceFacts::parse("A1", Cents::new(100), Cents::new(101)),
            Err(RuleError::SelfPayExceedsTotal)
        );
        assert_eq!(
            InvoiceFacts::parse("A1", Cents::new(10_000_000_000_001), Cents::new(0))
                .unwrap_err()
                .code(),
            "invalid_amount"
        );
        assert_eq!(
            InvoiceFacts::parse("A1", Cents::new(0), Cents::new(0))
                .unwrap_err()
                .code(),
            "invalid_amount"
        );
        assert_eq!(
            InvoiceFacts::parse("  ", Cents::new(1), Cents::new(0))
                .unwrap_err()
                .code(),
            "invalid_input"
        );
        assert_eq!(
            parse_cents_text("t", "12.5").unwrap_err().code(),
            "invalid_amount"
        );
        assert_eq!(parse_cents_text("t", "1250"), Ok(Cents::new(1250)));
    }

    #[test]
    fn yuan_parsing() {
        assert_eq!(parse_yuan("t", "123.4"), Ok(Cents::new(12_340)));
        assert_eq!(parse_yuan("t", "¥0.05"), Ok(Cents::new(5)));
        assert_eq!(parse_yuan("t", "7"), Ok(Cents::new(700)));
        assert!(parse_yuan("t", "-0").is_err());
        assert!(parse_yuan("t", "1000000000000").is_err());
        assert!(parse_yuan("t", "999999999999.99").is_ok());
        assert!(parse_yuan("t", "1.234").is_err());
        assert!(parse_yuan("t", "-1").is_err());
        assert!(parse_yuan("t", "1e3").is_err());
    }

    #[test]
    fn invoice_dates() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let d = |s: &str| parse_invoice_date(s).unwrap().unwrap();
        assert_eq!(parse_invoice_date("  "), Ok(None));
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "26-11-01",
            "2026/11/01",
            "+2026-11-01",
            "x",
        ] {
            assert_eq!(
                parse_invoice_date(bad).unwrap_err().code(),
                "invalid_invoice_date",
                "{bad}"
            );
        }
        assert!(check_invoice_date(d("2026-11-25"), today, 365).is_ok());
        assert!(check_invoice_date(d("2025-11-25"), today, 365).is_ok());
        assert!(check_invoice_date(d("2025-11-24"), today, 365).is_err());
        assert!(check_invoice_date(d("2026-11-26"), today, 365).is_err());
    }

    #[test]
    fn visit_window() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let f = |d: &str| CaseFacts::parse("H", None, "R", d).unwrap();
        assert!(f("2026-11-25").check_visit_date(today, 365).is_ok());
        assert!(f("2025-11-25").check_visit_date(today, 365).is_ok());
        assert!(f("2025-11-24").check_visit_date(today, 365).is_err());
        assert!(f("2026-11-26").check_visit_date(today, 365).is_err());
        assert!(CaseFacts::parse("H", None, "R", "2026-02-30").is_err());
    }
}
