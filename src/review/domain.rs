//! The review rules (SPEC §4 rules 4–9, 11) as pure functions: who may act at which level,
//! what an invoice correction changes, and where a case goes once nothing is pending (rule 6).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::accounts::Role;
use crate::claims::{CaseStatus, InvoiceStatus};

/// A review level: 1 (受理点) or 2 (医务处).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    One,
    Two,
}

impl Level {
    pub fn parse(n: i64) -> Option<Level> {
        match n {
            1 => Some(Level::One),
            2 => Some(Level::Two),
            _ => None,
        }
    }
    pub fn as_i64(self) -> i64 {
        match self {
            Level::One => 1,
            Level::Two => 2,
        }
    }
    /// The role that acts at this level (roles are per level).
    pub fn role(self) -> Role {
        match self {
            Level::One => Role::Reviewer1,
            Level::Two => Role::Reviewer2,
        }
    }
    /// The status of a case waiting for this level.
    pub fn awaiting(self) -> CaseStatus {
        match self {
            Level::One => CaseStatus::Submitted,
            Level::Two => CaseStatus::Level2,
        }
    }
    /// Where a case goes when this level passes it.
    pub fn next(self) -> CaseStatus {
        match self {
            Level::One => CaseStatus::Level2,
            Level::Two => CaseStatus::Approved,
        }
    }
    /// The level a case in `status` is waiting for, if any.
    pub fn of_status(status: CaseStatus) -> Option<Level> {
        match status {
            CaseStatus::Submitted => Some(Level::One),
            CaseStatus::Level2 => Some(Level::Two),
            _ => None,
        }
    }
}

/// Where a resubmitted `returned` case goes: back to the level that returned it
/// (`cases.review_level`), so a level-2 return does not start again at level 1.
pub fn resubmit_status(review_level: i64) -> CaseStatus {
    if review_level == 2 {
        CaseStatus::Level2
    } else {
        CaseStatus::Submitted
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approve,
    Reject,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Reject => "reject",
        }
    }
}

/// Why a review request is refused; each maps to a stable code of SPEC §11.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReviewError {
    #[error("the case changed since you loaded it")]
    Stale,
    #[error("the case is not waiting for this decision")]
    InvalidTransition,
    #[error("four eyes: you may not decide this case")]
    SameReviewer,
    #[error("set the hospital level before approving an invoice")]
    HospitalLevelRequired,
    #[error("an external insurer adjudicates this case")]
    InsurerAdjudicates,
    #[error("{field}: {message}")]
    Invalid {
        code: &'static str,
        field: &'static str,
        message: &'static str,
    },
}

impl From<ReviewError> for crate::http::AppError {
    fn from(e: ReviewError) -> Self {
        use crate::http::AppError;
        let msg = e.to_string();
        match e {
            ReviewError::Stale => AppError::conflict("stale", msg),
            ReviewError::InvalidTransition => AppError::conflict("invalid_transition", msg),
            ReviewError::InsurerAdjudicates => AppError::conflict("insurer_adjudicates", msg),
            ReviewError::SameReviewer => {
                AppError::new(axum::http::StatusCode::FORBIDDEN, "same_reviewer", msg)
            }
            ReviewError::HospitalLevelRequired => AppError::invalid("hospital_level_required", msg)
                .with_field("hospital_level", "required"),
            ReviewError::Invalid {
                code,
                field,
                message,
            } => AppError::invalid(code, message).with_field(field, message),
        }
    }
}

/// The editable figures of an invoice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvoiceFigures {
    pub invoice_no: String,
    pub total_cents: i64,
    pub self_pay_cents: i64,
}

/// A reviewer's corrections; `None` keeps the value.
#[derive(Clone, Debug, Default)]
pub struct Corrections {
    pub invoice_no: Option<String>,
    pub total_cents: Option<i64>,
    pub self_pay_cents: Option<i64>,
}

/// Applies corrections, checking the invoice rules (SPEC §4 rule 2); answers the new figures
/// and the changes as `{"field": {"old": …, "new": …}}` for the decision log.
pub fn correct(
    old: &InvoiceFigures,
    c: &Corrections,
) -> Result<(InvoiceFigures, Map<String, Value>), ReviewError> {
    let invoice_no = match &c.invoice_no {
        Some(n) => {
            let n = n.trim();
            if n.is_empty() || n.chars().count() > 64 {
                return Err(ReviewError::Invalid {
                    code: "invalid_invoice_no",
                    field: "invoice_no",
                    message: "must be 1–64 characters",
                });
            }
            n.to_string()
        }
        None => old.invoice_no.clone(),
    };
    let total_cents = c.total_cents.unwrap_or(old.total_cents);
    let self_pay_cents = c.self_pay_cents.unwrap_or(old.self_pay_cents);
    if total_cents <= 0 {
        return Err(ReviewError::Invalid {
            code: "invalid_amount",
            field: "total_cents",
            message: "must be greater than 0",
        });
    }
    if self_pay_cents < 0 {
        return Err(ReviewError::Invalid {
            code: "invalid_amount",
            field: "self_pay_cents",
            message: "must not be negative",
        });
    }
    if self_pay_cents > total_cents {
        return Err(ReviewError::Invalid {
            code: "self_pay_exceeds_total",
            field: "self_pay_cents",
            message: "must not exceed the total",
        });
    }
    let new = InvoiceFigures {
        invoice_no,
        total_cents,
        self_pay_cents,
    };
    let mut changes = Map::new();
    if new.invoice_no != old.invoice_no {
        changes.insert(
            "invoice_no".into(),
            json!({"old": old.invoice_no, "new": new.invoice_no}),
        );
    }
    if new.total_cents != old.total_cents {
        changes.insert(
            "total_cents".into(),
            json!({"old": old.total_cents, "new": new.total_cents}),
        );
    }
    if new.self_pay_cents != old.self_pay_cents {
        changes.insert(
            "self_pay_cents".into(),
            json!({"old": old.self_pay_cents, "new": new.self_pay_cents}),
        );
    }
    Ok((new, changes))
}

/// A decided invoice as rule 6 sees it.
#[derive(Clone, Copy, Debug)]
pub struct InvoiceState {
    pub status: InvoiceStatus,
    pub may_edit: bool,
}

/// Rule 6: once no invoice is pending, an editable rejection returns the case; otherwise at
/// least one approved invoice passes it to the next level; none approved rejects it.
/// `None` while something is still pending.
pub fn settle(level: Level, invoices: &[InvoiceState]) -> Option<CaseStatus> {
    if invoices.iter().any(|i| i.status == InvoiceStatus::Pending) {
        return None;
    }
    if invoices
        .iter()
        .any(|i| i.status == InvoiceStatus::Rejected && i.may_edit)
    {
        return Some(CaseStatus::Returned);
    }
    if invoices.iter().any(|i| i.status == InvoiceStatus::Approved) {
        return Some(level.next());
    }
    Some(CaseStatus::Rejected)
}

/// A reason is needed for every rejection; free text up to 500 characters.
pub fn parse_reason(reason: Option<&str>, required: bool) -> Result<Option<String>, ReviewError> {
    let r = reason.map(str::trim).filter(|r| !r.is_empty());
    match r {
        None if required => Err(ReviewError::Invalid {
            code: "reason_required",
            field: "reason",
            message: "give a reason for the rejection",
        }),
        Some(r) if r.chars().count() > 500 => Err(ReviewError::Invalid {
            code: "invalid_input",
            field: "reason",
            message: "at most 500 characters",
        }),
        r => Ok(r.map(str::to_string)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(status: InvoiceStatus, may_edit: bool) -> InvoiceState {
        InvoiceState { status, may_edit }
    }

    #[test]
    fn rule_six() {
        use InvoiceStatus::*;
        assert_eq!(
            settle(Level::One, &[inv(Pending, true), inv(Approved, false)]),
            None
        );
        assert_eq!(
            settle(Level::One, &[inv(Rejected, true), inv(Approved, false)]),
            Some(CaseStatus::Returned)
        );
        assert_eq!(
            settle(Level::One, &[inv(Rejected, false), inv(Approved, false)]),
            Some(CaseStatus::Level2)
        );
        assert_eq!(
            settle(Level::Two, &[inv(Approved, false)]),
            Some(CaseStatus::Approved)
        );
        assert_eq!(
            settle(Level::Two, &[inv(Rejected, false)]),
            Some(CaseStatus::Rejected)
        );
    }

    #[test]
    fn corrections_are_checked_and_logged() {
        let old = InvoiceFigures {
            invoice_no: "A1".into(),
            total_cents: 1000,
            self_pay_cents: 100,
        };
        let (new, changes) = correct(
            &old,
            &Corrections {
                total_cents: Some(1200),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(new.total_cents, 1200);
        assert_eq!(changes["total_cents"], json!({"old": 1000, "new": 1200}));
        assert_eq!(changes.len(), 1);
        let err = correct(
            &old,
            &Corrections {
                self_pay_cents: Some(1001),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(matches!(
            err,
            ReviewError::Invalid {
                code: "self_pay_exceeds_total",
                ..
            }
        ));
    }
}
