//! Reconciliation rules, without I/O: every mismatch between approved payouts and payments.

use crate::money::Cents;
use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

/// An approved payout an insurer owes for a case.
#[derive(Clone, Debug)]
pub struct Approval {
    pub case_id: i64,
    pub insurer_id: i64,
    pub approved_cents: Cents,
    pub approved_on: NaiveDate,
}

/// A payment recorded in the ledger.
#[derive(Clone, Debug)]
pub struct Paid {
    pub entry_id: i64,
    pub case_id: Option<i64>,
    pub insurer_id: i64,
    pub amount_cents: Cents,
    pub paid_on: NaiveDate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MismatchKind {
    /// Money arrived for a case without an approved claim (or for no known case).
    PaidWithoutApproval,
    /// The first payment differs from the approved payout.
    AmountDiffers,
    /// More than one payment for the same case.
    PaidTwice,
    /// Approved, but nothing paid after the allowed number of days.
    UnpaidOverdue,
}

impl MismatchKind {
    pub const ALL: [MismatchKind; 4] = [
        MismatchKind::PaidWithoutApproval,
        MismatchKind::AmountDiffers,
        MismatchKind::PaidTwice,
        MismatchKind::UnpaidOverdue,
    ];

    /// The wire name, also the end of the kind's translation key (`ledger.kind.<name>`).
    pub fn as_str(self) -> &'static str {
        match self {
            MismatchKind::PaidWithoutApproval => "paid_without_approval",
            MismatchKind::AmountDiffers => "amount_differs",
            MismatchKind::PaidTwice => "paid_twice",
            MismatchKind::UnpaidOverdue => "unpaid_overdue",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Mismatch {
    pub kind: MismatchKind,
    pub case_id: Option<i64>,
    pub insurer_id: i64,
    pub approved_cents: Option<Cents>,
    pub paid_cents: Option<Cents>,
    /// The ledger entries involved.
    pub entry_ids: Vec<i64>,
}

/// Which dates count: payments by payment date, unpaid approvals by approval date.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl Window {
    fn holds(&self, d: NaiveDate) -> bool {
        self.from.is_none_or(|f| d >= f) && self.to.is_none_or(|t| d <= t)
    }
}

/// Every mismatch, ordered by case then kind.
pub fn reconcile(
    approvals: &[Approval],
    payments: &[Paid],
    window: Window,
    today: NaiveDate,
    unpaid_after_days: i64,
) -> Vec<Mismatch> {
    let approved: BTreeMap<i64, &Approval> = approvals.iter().map(|a| (a.case_id, a)).collect();
    let mut by_case: BTreeMap<Option<i64>, Vec<&Paid>> = BTreeMap::new();
    for p in payments {
        by_case.entry(p.case_id).or_default().push(p);
    }
    let mut out = Vec::new();
    for (case_id, all_paid) in &by_case {
        let approval = case_id.and_then(|c| approved.get(&c).copied());
        // Money from an insurer that did not approve this case counts as unapproved money.
        let (paid, strays): (Vec<&Paid>, Vec<&Paid>) = all_paid
            .iter()
            .partition(|p| approval.is_some_and(|a| a.insurer_id == p.insurer_id));
        for p in strays.iter().filter(|p| window.holds(p.paid_on)) {
            out.push(Mismatch {
                kind: MismatchKind::PaidWithoutApproval,
                case_id: *case_id,
                insurer_id: p.insurer_id,
                approved_cents: None,
                paid_cents: Some(p.amount_cents),
                entry_ids: vec![p.entry_id],
            });
        }
        let Some(approval) = approval else {
            continue;
        };
        if paid.is_empty() || !paid.iter().any(|p| window.holds(p.paid_on)) {
            continue;
        }
        let first = paid[0];
        if window.holds(first.paid_on) && first.amount_cents != approval.approved_cents {
            out.push(Mismatch {
                kind: MismatchKind::AmountDiffers,
                case_id: *case_id,
                insurer_id: first.insurer_id,
                approved_cents: Some(approval.approved_cents),
                paid_cents: Some(first.amount_cents),
                entry_ids: vec![first.entry_id],
            });
        }
        if paid.len() > 1 {
            out.push(Mismatch {
                kind: MismatchKind::PaidTwice,
                case_id: *case_id,
                insurer_id: approval.insurer_id,
                approved_cents: Some(approval.approved_cents),
                paid_cents: Some(
                    Cents::checked_sum(paid.iter().map(|p| p.amount_cents))
                        .expect("payment amounts are bounded at entry"),
                ),
                entry_ids: paid.iter().map(|p| p.entry_id).collect(),
            });
        }
    }
    for a in approvals {
        let overdue = (today - a.approved_on).num_days() > unpaid_after_days;
        let paid_by_approver = by_case
            .get(&Some(a.case_id))
            .is_some_and(|ps| ps.iter().any(|p| p.insurer_id == a.insurer_id));
        if overdue && window.holds(a.approved_on) && !paid_by_approver {
            out.push(Mismatch {
                kind: MismatchKind::UnpaidOverdue,
                case_id: Some(a.case_id),
                insurer_id: a.insurer_id,
                approved_cents: Some(a.approved_cents),
                paid_cents: None,
                entry_ids: Vec::new(),
            });
        }
    }
    out.sort_by_key(|m| (m.case_id, m.kind));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }
    fn approval(case_id: i64, cents: i64, on: &str) -> Approval {
        Approval {
            case_id,
            insurer_id: 1,
            approved_cents: Cents::new(cents),
            approved_on: d(on),
        }
    }
    fn paid(entry_id: i64, case_id: Option<i64>, cents: i64, on: &str) -> Paid {
        Paid {
            entry_id,
            case_id,
            insurer_id: 1,
            amount_cents: Cents::new(cents),
            paid_on: d(on),
        }
    }
    const ALL: Window = Window {
        from: None,
        to: None,
    };

    fn kinds(m: &[Mismatch]) -> Vec<(Option<i64>, MismatchKind)> {
        m.iter().map(|m| (m.case_id, m.kind)).collect()
    }

    #[test]
    fn wire_names_are_the_serde_names() {
        for k in MismatchKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
    }

    #[test]
    fn clean_books_have_no_mismatch() {
        let a = [approval(1, 500, "2026-01-02")];
        let p = [paid(10, Some(1), 500, "2026-01-05")];
        assert!(reconcile(&a, &p, ALL, d("2026-06-01"), 30).is_empty());
    }

    #[test]
    fn every_kind_is_found() {
        let a = [
            approval(1, 500, "2026-01-02"),
            approval(2, 700, "2026-01-02"),
            approval(3, 900, "2026-01-02"),
            approval(4, 100, "2026-05-30"),
        ];
        let p = [
            paid(10, Some(1), 450, "2026-01-05"),
            paid(11, Some(2), 700, "2026-01-05"),
            paid(12, Some(2), 700, "2026-01-06"),
            paid(13, Some(9), 300, "2026-01-05"),
            paid(14, None, 300, "2026-01-05"),
        ];
        let m = reconcile(&a, &p, ALL, d("2026-06-01"), 30);
        assert_eq!(
            kinds(&m),
            vec![
                (None, MismatchKind::PaidWithoutApproval),
                (Some(1), MismatchKind::AmountDiffers),
                (Some(2), MismatchKind::PaidTwice),
                (Some(3), MismatchKind::UnpaidOverdue),
                (Some(9), MismatchKind::PaidWithoutApproval),
            ],
            "case 4 is approved but not yet overdue"
        );
        assert_eq!(m[2].entry_ids, vec![11, 12]);
    }

    #[test]
    fn money_from_another_insurer_is_not_a_payment_of_the_approval() {
        let a = [approval(1, 500, "2026-01-02")];
        let mut p = paid(10, Some(1), 500, "2026-01-05");
        p.insurer_id = 2;
        let m = reconcile(&a, &[p], ALL, d("2026-06-01"), 30);
        assert_eq!(
            kinds(&m),
            vec![
                (Some(1), MismatchKind::PaidWithoutApproval),
                (Some(1), MismatchKind::UnpaidOverdue)
            ]
        );
    }

    #[test]
    fn the_window_limits_by_date() {
        let a = [approval(1, 500, "2026-01-02")];
        let p = [paid(10, Some(1), 450, "2026-03-05")];
        let feb = Window {
            from: Some(d("2026-02-01")),
            to: Some(d("2026-02-28")),
        };
        assert!(reconcile(&a, &p, feb, d("2026-06-01"), 30).is_empty());
    }
}
