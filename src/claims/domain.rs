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
}
