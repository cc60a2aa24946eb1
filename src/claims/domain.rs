//! Case and invoice states (SPEC §4). Stored as TEXT; the CHECK constraints in the schema list
//! the same words.

use serde::{Deserialize, Serialize};

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
}

impl CaseStatus {
    pub const ALL: [CaseStatus; 9] = [
        CaseStatus::Draft,
        CaseStatus::Submitted,
        CaseStatus::Level2,
        CaseStatus::Approved,
        CaseStatus::Booked,
        CaseStatus::Completed,
        CaseStatus::Returned,
        CaseStatus::Rejected,
        CaseStatus::Withdrawn,
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
            CaseStatus::Approved | CaseStatus::Booked | CaseStatus::Completed
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

/// Hospital level: 0 unrated, 1–3 (一/二/三级).
pub fn parse_hospital_level(level: i64) -> Option<i64> {
    (0..=3).contains(&level).then_some(level)
}

/// Why a student's claim request is refused (SPEC §4 rules 1–3). Each has a stable code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("not covered in the visit date's year")]
    NotInsured,
    #[error("visit date is in the future or older than the claim window")]
    VisitDateOutOfRange,
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
    pub fn code(&self) -> &'static str {
        match self {
            RuleError::NotInsured => "not_insured",
            RuleError::VisitDateOutOfRange => "visit_date_out_of_range",
            RuleError::SelfPayExceedsTotal => "self_pay_exceeds_total",
            RuleError::InvalidAmount { .. } => "invalid_amount",
            RuleError::PhotoRequired => "photo_required",
            RuleError::DuplicateInvoice => "duplicate_invoice",
            RuleError::BlacklistedInvoice => "blacklisted_invoice",
            RuleError::IncompleteCase => "incomplete_case",
            RuleError::NotEditable => "not_editable",
            RuleError::Invalid { .. } => "invalid_input",
        }
    }

    /// The field a form should mark, if any.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            RuleError::VisitDateOutOfRange => Some("visit_date"),
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
        use axum::http::StatusCode;
        let status = match e {
            RuleError::NotInsured => StatusCode::FORBIDDEN,
            RuleError::DuplicateInvoice
            | RuleError::BlacklistedInvoice
            | RuleError::NotEditable => StatusCode::CONFLICT,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        let mut err = crate::http::AppError::new(status, e.code(), e.to_string());
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
    pub hospital_level: Option<i64>,
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
            Some(l) => Some(parse_hospital_level(l).ok_or(RuleError::Invalid {
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

/// An invoice's number and amounts, checked (rule 2, apart from the photo and the lookups).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvoiceFacts {
    pub invoice_no: String,
    pub total_cents: i64,
    pub self_pay_cents: i64,
}

impl InvoiceFacts {
    pub fn parse(
        invoice_no: &str,
        total_cents: i64,
        self_pay_cents: i64,
    ) -> Result<InvoiceFacts, RuleError> {
        let invoice_no = parse_invoice_no(invoice_no)?;
        if total_cents <= 0 {
            return Err(RuleError::InvalidAmount {
                field: "total_cents",
            });
        }
        if self_pay_cents < 0 {
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
        })
    }

    pub fn covered_cents(&self) -> i64 {
        self.total_cents - self.self_pay_cents
    }
}

/// Invoice numbers are compared exactly, without surrounding spaces.
pub fn parse_invoice_no(s: &str) -> Result<String, RuleError> {
    parse_text("invoice_no", s, 64)
}

/// Whole cents from a text field (multipart sends text): digits only, else `invalid_amount`.
pub fn parse_cents_text(field: &'static str, s: &str) -> Result<i64, RuleError> {
    let s = s.trim();
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(RuleError::InvalidAmount { field });
    }
    s.parse::<i64>()
        .map_err(|_| RuleError::InvalidAmount { field })
}

/// Yuan as typed on a page (`123`, `123.4`, `123.45`) to cents; never through floats.
pub fn parse_yuan(field: &'static str, s: &str) -> Result<i64, RuleError> {
    let s = s.trim().trim_start_matches('¥');
    let bad = || RuleError::InvalidAmount { field };
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty()
        || whole.len() > 12
        || frac.len() > 2
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let frac: i64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    Ok(whole * 100 + frac)
}

/// Cents as yuan with two decimals.
pub fn yuan(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    format!("{sign}{}.{:02}", c / 100, c % 100)
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
            InvoiceFacts::parse("A1", 100, 100).unwrap().covered_cents(),
            0
        );
        assert_eq!(
            InvoiceFacts::parse("A1", 100, 101),
            Err(RuleError::SelfPayExceedsTotal)
        );
        assert_eq!(
            InvoiceFacts::parse("A1", 0, 0).unwrap_err().code(),
            "invalid_amount"
        );
        assert_eq!(
            InvoiceFacts::parse("  ", 1, 0).unwrap_err().code(),
            "invalid_input"
        );
        assert_eq!(
            parse_cents_text("t", "12.5").unwrap_err().code(),
            "invalid_amount"
        );
        assert_eq!(parse_cents_text("t", "1250"), Ok(1250));
    }

    #[test]
    fn yuan_parsing() {
        assert_eq!(parse_yuan("t", "123.4"), Ok(12_340));
        assert_eq!(parse_yuan("t", "0.05"), Ok(5));
        assert_eq!(parse_yuan("t", "7"), Ok(700));
        assert!(parse_yuan("t", "1.234").is_err());
        assert!(parse_yuan("t", "-1").is_err());
        assert!(parse_yuan("t", "1e3").is_err());
        assert_eq!(yuan(12_345), "123.45");
        assert_eq!(yuan(5), "0.05");
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
