//! The review rules (SPEC §4 rules 4–9, 11) as pure functions: who may act at which level,
//! what an invoice correction changes, and where a case goes once nothing is pending (rule 6).

use crate::money::Cents;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::claims::InvoiceStatus;
use crate::http::auth::Role;

pub use crate::claims::{Level, Outcome};

impl Level {
    /// The level named in a request (a number): 422 `invalid_level` unless 1 or 2.
    pub fn from_request(n: i64) -> Result<Level, crate::http::AppError> {
        Level::parse(n).ok_or_else(|| {
            crate::http::ErrorCode::InvalidLevel
                .with_message("level must be 1 or 2")
                .with_field("level", "1 or 2")
        })
    }
    /// The role that acts at this level (roles are per level).
    pub fn role(self) -> Role {
        match self {
            Level::One => Role::Reviewer1,
            Level::Two => Role::Reviewer2,
        }
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
        code: crate::http::ErrorCode,
        field: &'static str,
        message: &'static str,
    },
}

impl From<ReviewError> for crate::http::AppError {
    fn from(e: ReviewError) -> Self {
        use crate::http::ErrorCode;
        let msg = e.to_string();
        match e {
            ReviewError::Stale => ErrorCode::Stale.with_message(msg),
            ReviewError::InvalidTransition => ErrorCode::InvalidTransition.with_message(msg),
            ReviewError::InsurerAdjudicates => ErrorCode::InsurerAdjudicates.with_message(msg),
            ReviewError::SameReviewer => ErrorCode::SameReviewer.with_message(msg),
            ReviewError::HospitalLevelRequired => ErrorCode::HospitalLevelRequired
                .with_message(msg)
                .with_field("hospital_level", "required"),
            ReviewError::Invalid {
                code,
                field,
                message,
            } => code.with_message(message).with_field(field, message),
        }
    }
}

/// The editable figures of an invoice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvoiceFigures {
    pub invoice_no: String,
    pub total_cents: Cents,
    pub self_pay_cents: Cents,
}

/// A reviewer's corrections; `None` keeps the value.
#[derive(Clone, Debug, Default)]
pub struct Corrections {
    pub invoice_no: Option<String>,
    pub total_cents: Option<Cents>,
    pub self_pay_cents: Option<Cents>,
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
                    code: crate::http::ErrorCode::InvalidInvoiceNo,
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
    if !total_cents.is_positive() || total_cents > crate::claims::domain::MAX_INVOICE_CENTS {
        return Err(ReviewError::Invalid {
            code: crate::http::ErrorCode::InvalidAmount,
            field: "total_cents",
            message: "must be greater than 0 and at most 100,000,000,000 yuan",
        });
    }
    if self_pay_cents.is_negative() {
        return Err(ReviewError::Invalid {
            code: crate::http::ErrorCode::InvalidAmount,
            field: "self_pay_cents",
            message: "must not be negative",
        });
    }
    if self_pay_cents > total_cents {
        return Err(ReviewError::Invalid {
            code: crate::http::ErrorCode::SelfPayExceedsTotal,
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
pub fn settle(invoices: &[InvoiceState]) -> Option<Outcome> {
    if invoices.iter().any(|i| i.status == InvoiceStatus::Pending) {
        return None;
    }
    if invoices
        .iter()
        .any(|i| i.status == InvoiceStatus::Rejected && i.may_edit)
    {
        return Some(Outcome::Return);
    }
    if invoices.iter().any(|i| i.status == InvoiceStatus::Approved) {
        return Some(Outcome::Pass);
    }
    Some(Outcome::Reject)
}

/// A reason is needed for every rejection; free text up to 500 characters.
pub fn parse_reason(reason: Option<&str>, required: bool) -> Result<Option<String>, ReviewError> {
    let r = reason.map(str::trim).filter(|r| !r.is_empty());
    match r {
        None if required => Err(ReviewError::Invalid {
            code: crate::http::ErrorCode::ReasonRequired,
            field: "reason",
            message: "give a reason for the rejection",
        }),
        Some(r) if r.chars().count() > 500 => Err(ReviewError::Invalid {
            code: crate::http::ErrorCode::InvalidInput,
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
        assert_eq!(settle(&[inv(Pending, true), inv(Approved, false)]), None);
        assert_eq!(
            settle(&[inv(Rejected, true), inv(Approved, false)]),
            Some(Outcome::Return)
        );
        assert_eq!(
            settle(&[inv(Rejected, false), inv(Approved, false)]),
            Some(Outcome::Pass)
        );
        assert_eq!(settle(&[inv(Approved, false)]), Some(Outcome::Pass));
        assert_eq!(settle(&[inv(Rejected, false)]), Some(Outcome::Reject));
        assert_eq!(settle(&[]), Some(Outcome::Reject));
    }

    #[test]
    fn corrections_are_checked_and_logged() {
        let old = InvoiceFigures {
            invoice_no: "A1".into(),
            total_cents: Cents::new(1000),
            self_pay_cents: Cents::new(100),
        };
        let (new, changes) = correct(
            &old,
            &Corrections {
                total_cents: Some(Cents::new(1200)),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(new.total_cents, Cents::new(1200));
        assert_eq!(changes["total_cents"], json!({"old": 1000, "new": 1200}));
        assert_eq!(changes.len(), 1);
        let err = correct(
            &old,
            &Corrections {
                self_pay_cents: Some(Cents::new(1001)),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(matches!(
            err,
            ReviewError::Invalid {
                code: crate::http::ErrorCode::SelfPayExceedsTotal,
                ..
            }
        ));
    }
}
