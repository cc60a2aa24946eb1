//! The case and invoice lifecycles (SPEC §4, §5, §8) as pure functions of (state, event): the
//! next state, or a typed refusal that names the stable error code. Staff review, booking, the
//! insurer hub and the one-tap claim all ask here; `claims::store::advance` is the one writer of
//! `cases.status` and writes only what `CaseStatus::apply` answered.

use super::domain::{CaseStatus, InvoiceStatus};

/// A review level: 1 (受理点) or 2 (医务处).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    One,
    Two,
}

impl Level {
    pub const ALL: [Level; 2] = [Level::One, Level::Two];

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
    /// The level that returned a case, from `cases.review_level` (0 before any review counts as 1).
    pub fn of_review_level(review_level: i64) -> Level {
        if review_level == 2 {
            Level::Two
        } else {
            Level::One
        }
    }
}

/// Where a reviewer's decisions leave a case once nothing of it is pending (rules 5–6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// On to the next level (level 1), or approved (level 2).
    Pass,
    /// Back to the student for changes.
    Return,
    /// Finally rejected.
    Reject,
}

/// Everything that moves a case (SPEC §4, §5, §8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaseEvent {
    /// The student submits a draft (rule 3); also the one-tap claim of a pushed visit.
    Submit,
    /// The student resubmits a returned case: it goes back to the level that returned it.
    Resubmit { returned_by: Level },
    /// The student withdraws (deletes) a case still being prepared or returned.
    Withdraw,
    /// The student takes a submitted case back to draft before any reviewer decided on it
    /// (SPEC §13 office: recall). Whether anyone decided is the store's check.
    Recall,
    /// A reviewer at `level` settles the case (rules 5–6).
    Review { level: Level, outcome: Outcome },
    /// A level-2 reviewer or an admin reopens an approved case not yet handed in (rule 11).
    Reopen,
    /// An admin undoes a final rejection, a booking or a hand-in (SPEC §13 office): back to
    /// level 2 with a reason; a booked case's seat is released by the caller.
    Undo,
    /// The student books a hand-in slot (§5).
    Book,
    /// The booking is cancelled (by the student, or by the office with its slot); the case can
    /// be booked again.
    CancelBooking,
    /// Staff record that the student did not come; the case can be booked again.
    NoShow,
    /// Staff confirm the paper was handed in: payout final.
    HandIn,
    /// The coverage names an external insurer: it adjudicates instead of staff (§8).
    RouteToInsurer,
    /// The insurer approved the claim with a payout.
    InsurerApprove,
    /// The insurer refused the claim (not covered, or nothing payable).
    InsurerReject,
    /// The insurer's payment arrived: paid, final.
    InsurerPaid,
    /// Finance marked the university's bank transfer of a completed claim sent (SPEC §13
    /// office). Only university-funded cases are batched; that is the store's filter.
    PayOut,
    /// The bank sent the transfer back (e.g. a wrong account): completed again, to be paid in
    /// a later batch once the student fixed the account.
    PayoutReturned,
}

/// Why an event does not apply to a case in its current state. Each maps to the stable code
/// the API and the pages already answer (409 in every case).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The student may change (submit, withdraw) only a draft or a returned case.
    #[error("this can no longer be edited")]
    NotEditable,
    /// The case is not waiting for this decision (review, reopen, insurer answer, hand-in).
    #[error("the case is not waiting for this decision")]
    InvalidTransition,
    #[error("Only an approved case can be booked.")]
    NoApprovedCase,
    #[error("This case already has a booking.")]
    AlreadyBooked,
    /// Someone else changed the case's status between reading and writing it.
    #[error("the case changed since you loaded it")]
    Stale,
    /// A recall came after review began (a decision, a later level, or an insurer deciding).
    #[error("a reviewer has already started on this case")]
    AlreadyInReview,
}

impl TransitionError {
    pub fn code(self) -> crate::http::ErrorCode {
        use crate::http::ErrorCode;
        match self {
            TransitionError::NotEditable => ErrorCode::NotEditable,
            TransitionError::InvalidTransition => ErrorCode::InvalidTransition,
            TransitionError::NoApprovedCase => ErrorCode::NoApprovedCase,
            TransitionError::AlreadyBooked => ErrorCode::AlreadyBooked,
            TransitionError::Stale => ErrorCode::Stale,
            TransitionError::AlreadyInReview => ErrorCode::AlreadyInReview,
        }
    }
}

impl From<TransitionError> for crate::http::AppError {
    fn from(e: TransitionError) -> Self {
        e.code().with_message(e.to_string())
    }
}

impl CaseStatus {
    /// The one transition function of a case: the status `event` leads to from `self`, or why
    /// it does not apply. A refusal changes nothing.
    pub fn apply(self, event: CaseEvent) -> Result<CaseStatus, TransitionError> {
        use CaseEvent as E;
        use CaseStatus as S;
        match (self, event) {
            (S::Draft, E::Submit) => Ok(S::Submitted),
            (S::Returned, E::Resubmit { returned_by }) => Ok(returned_by.awaiting()),
            (S::Draft | S::Returned, E::Withdraw) => Ok(S::Withdrawn),
            (_, E::Submit | E::Resubmit { .. } | E::Withdraw) => Err(TransitionError::NotEditable),
            (S::Submitted, E::Recall) => Ok(S::Draft),
            (S::Draft | S::Withdrawn, E::Recall) => Err(TransitionError::InvalidTransition),
            (_, E::Recall) => Err(TransitionError::AlreadyInReview),

            (s, E::Review { level, outcome }) if Level::of_status(s) == Some(level) => {
                Ok(match outcome {
                    Outcome::Pass => level.next(),
                    Outcome::Return => S::Returned,
                    Outcome::Reject => S::Rejected,
                })
            }
            (S::Approved, E::Reopen) => Ok(S::Level2),
            (S::Rejected | S::Booked | S::Completed, E::Undo) => Ok(S::Level2),

            (S::Approved, E::Book) => Ok(S::Booked),
            (S::Booked, E::Book) => Err(TransitionError::AlreadyBooked),
            (_, E::Book) => Err(TransitionError::NoApprovedCase),
            (S::Booked, E::CancelBooking | E::NoShow) => Ok(S::Approved),
            (S::Booked, E::HandIn) => Ok(S::Completed),

            (S::Submitted | S::Level2, E::RouteToInsurer) => Ok(S::Submitted),
            (S::Submitted, E::InsurerApprove) => Ok(S::Approved),
            (S::Submitted, E::InsurerReject) => Ok(S::Rejected),
            (S::Approved | S::Booked, E::InsurerPaid) => Ok(S::Completed),

            (S::Completed, E::PayOut) => Ok(S::Paid),
            (S::Paid, E::PayoutReturned) => Ok(S::Completed),

            _ => Err(TransitionError::InvalidTransition),
        }
    }
}

/// Everything that changes an invoice's status (SPEC §4 rules 2–6, §8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvoiceEvent {
    /// A reviewer approves it; level 2 may overrule a level-1 decision, so any state.
    Approve,
    /// A reviewer rejects it (may-edit or final), also overruling an earlier decision.
    Reject,
    /// The case is approved or rejected as a whole (by staff or an insurer): only what is still
    /// pending is decided with it.
    SettleWithCase { approve: bool },
    /// The student edits it: it waits for review again.
    StudentEdit,
    /// The case is resubmitted: an editable rejection waits for review again.
    Resubmit,
}

impl InvoiceStatus {
    /// The one transition function of an invoice. Whether the student may edit at all (the
    /// case's state, the may-edit flag) is the case's rule, checked before.
    pub fn apply(self, event: InvoiceEvent) -> Result<InvoiceStatus, TransitionError> {
        use InvoiceEvent as E;
        use InvoiceStatus as S;
        match (self, event) {
            (_, E::Approve) => Ok(S::Approved),
            (_, E::Reject) => Ok(S::Rejected),
            (S::Pending, E::SettleWithCase { approve: true }) => Ok(S::Approved),
            (S::Pending, E::SettleWithCase { approve: false }) => Ok(S::Rejected),
            (_, E::StudentEdit) => Ok(S::Pending),
            (S::Rejected, E::Resubmit) => Ok(S::Pending),
            _ => Err(TransitionError::InvalidTransition),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CaseStatus as S;
    use proptest::prelude::*;

    /// The edges SPEC §4 (workflow, rules 6 and 11), §5 (booking) and §8 (insurers) allow,
    /// written from the text, independently of `apply`.
    const ALLOWED: &[(CaseStatus, CaseStatus)] = &[
        // §4: draft → submitted → level2 → approved → booked → completed.
        (S::Draft, S::Submitted),
        (S::Submitted, S::Level2),
        (S::Level2, S::Approved),
        (S::Approved, S::Booked),
        (S::Booked, S::Completed),
        // §4 side exits: returned (and resubmitted to the level that returned it), rejected,
        // withdrawn while the student may edit.
        (S::Submitted, S::Returned),
        (S::Level2, S::Returned),
        (S::Returned, S::Submitted),
        (S::Returned, S::Level2),
        (S::Submitted, S::Rejected),
        (S::Level2, S::Rejected),
        (S::Draft, S::Withdrawn),
        (S::Returned, S::Withdrawn),
        // §13 office: the student recalls a submitted case nobody has decided on yet.
        (S::Submitted, S::Draft),
        // §4 rule 11: reopen an approved case not yet handed in.
        (S::Approved, S::Level2),
        // §13 office: an admin undoes a rejection, a booking or a hand-in, back to level 2.
        (S::Rejected, S::Level2),
        (S::Booked, S::Level2),
        (S::Completed, S::Level2),
        // §5: cancelling or a no-show frees the case to be booked again.
        (S::Booked, S::Approved),
        // §8: an insurer adjudicates a submitted case and pays an approved one.
        (S::Submitted, S::Submitted),
        (S::Level2, S::Submitted),
        (S::Submitted, S::Approved),
        (S::Approved, S::Completed),
        // §13 office: the university pays a completed claim by transfer; a returned transfer
        // makes it completed (unpaid) again.
        (S::Completed, S::Paid),
        (S::Paid, S::Completed),
    ];

    fn allowed(from: CaseStatus, to: CaseStatus) -> bool {
        ALLOWED.contains(&(from, to))
    }

    fn level() -> impl Strategy<Value = Level> {
        prop_oneof![Just(Level::One), Just(Level::Two)]
    }

    fn event() -> impl Strategy<Value = CaseEvent> {
        let outcome = prop_oneof![
            Just(Outcome::Pass),
            Just(Outcome::Return),
            Just(Outcome::Reject)
        ];
        prop_oneof![
            Just(CaseEvent::Submit),
            level().prop_map(|returned_by| CaseEvent::Resubmit { returned_by }),
            Just(CaseEvent::Withdraw),
            Just(CaseEvent::Recall),
            (level(), outcome).prop_map(|(level, outcome)| CaseEvent::Review { level, outcome }),
            Just(CaseEvent::Reopen),
            Just(CaseEvent::Undo),
            Just(CaseEvent::Book),
            Just(CaseEvent::CancelBooking),
            Just(CaseEvent::NoShow),
            Just(CaseEvent::HandIn),
            Just(CaseEvent::RouteToInsurer),
            Just(CaseEvent::InsurerApprove),
            Just(CaseEvent::InsurerReject),
            Just(CaseEvent::InsurerPaid),
            Just(CaseEvent::PayOut),
            Just(CaseEvent::PayoutReturned),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// From `draft`, any sequence of events only ever takes edges the SPEC allows; a
        /// refused event leaves the case where it was; the final states accept nothing but an admin's undo; a
        /// resubmitted case goes back to the level that returned it (the walk, like the store,
        /// reads that level from what happened before).
        #[test]
        fn random_walks_stay_inside_the_spec(events in prop::collection::vec(event(), 0..60)) {
            let mut state = S::Draft;
            let mut returned_by: Option<Level> = None;
            for e in events {
                let e = match (e, returned_by) {
                    (CaseEvent::Resubmit { .. }, Some(level)) => CaseEvent::Resubmit { returned_by: level },
                    _ => e,
                };
                let before = state;
                match before.apply(e) {
                    Ok(next) => {
                        prop_assert!(allowed(before, next), "{:?} --{:?}--> {:?} is not in the SPEC", before, e, next);
                        prop_assert!(!matches!(before, S::Rejected | S::Withdrawn) || e == CaseEvent::Undo,
                            "{:?} is final but {:?} moved it", before, e);
                        // Completed moves on only by an admin's undo or the university's
                        // transfer; paid only back to completed when the bank returns it.
                        prop_assert!(before != S::Completed || matches!(e, CaseEvent::Undo | CaseEvent::PayOut),
                            "completed moved by {:?}", e);
                        prop_assert!(before != S::Paid || (e == CaseEvent::PayoutReturned && next == S::Completed),
                            "paid moved by {:?}", e);
                        if next == S::Returned {
                            let CaseEvent::Review { level, outcome: Outcome::Return } = e else {
                                panic!("{e:?} returned the case");
                            };
                            returned_by = Some(level);
                        }
                        if let CaseEvent::Resubmit { .. } = e {
                            prop_assert_eq!(Some(next), returned_by.map(Level::awaiting));
                        }
                        state = next;
                    }
                    Err(_) => prop_assert_eq!(state, before),
                }
            }
        }

        /// A resubmission always lands at the level named by the event.
        #[test]
        fn resubmit_goes_to_the_returning_level(l in level()) {
            prop_assert_eq!(S::Returned.apply(CaseEvent::Resubmit { returned_by: l }), Ok(l.awaiting()));
        }
    }

    /// Every state the SPEC names is reachable from `draft` through `apply` (so the walk above
    /// is not vacuous), and every allowed edge is taken by some event.
    #[test]
    fn every_state_and_edge_is_reachable() {
        let events: Vec<CaseEvent> = {
            let mut v = vec![
                CaseEvent::Submit,
                CaseEvent::Withdraw,
                CaseEvent::Recall,
                CaseEvent::Reopen,
                CaseEvent::Undo,
                CaseEvent::Book,
                CaseEvent::CancelBooking,
                CaseEvent::NoShow,
                CaseEvent::HandIn,
                CaseEvent::RouteToInsurer,
                CaseEvent::InsurerApprove,
                CaseEvent::InsurerReject,
                CaseEvent::InsurerPaid,
                CaseEvent::PayOut,
                CaseEvent::PayoutReturned,
            ];
            for level in Level::ALL {
                v.push(CaseEvent::Resubmit { returned_by: level });
                for outcome in [Outcome::Pass, Outcome::Return, Outcome::Reject] {
                    v.push(CaseEvent::Review { level, outcome });
                }
            }
            v
        };
        let mut seen = vec![S::Draft];
        let mut edges = Vec::new();
        let mut i = 0;
        while i < seen.len() {
            let from = seen[i];
            for e in &events {
                if let Ok(to) = from.apply(*e) {
                    if !edges.contains(&(from, to)) {
                        edges.push((from, to));
                    }
                    if !seen.contains(&to) {
                        seen.push(to);
                    }
                }
            }
            i += 1;
        }
        for s in CaseStatus::ALL {
            assert!(seen.contains(&s), "{s:?} unreachable");
        }
        for edge in ALLOWED {
            assert!(edges.contains(edge), "{edge:?} never taken");
        }
        assert_eq!(edges.len(), ALLOWED.len());
    }

    #[test]
    fn the_student_edits_only_drafts_and_returned_cases() {
        for s in CaseStatus::ALL {
            let editable = matches!(s, S::Draft | S::Returned);
            assert_eq!(s.apply(CaseEvent::Withdraw).is_ok(), editable, "{s:?}");
            if !editable {
                assert_eq!(
                    s.apply(CaseEvent::Submit),
                    Err(TransitionError::NotEditable)
                );
                assert_eq!(
                    s.apply(CaseEvent::Withdraw),
                    Err(TransitionError::NotEditable)
                );
            }
        }
        // A returned case is resubmitted, not submitted afresh, and a draft has no returning level.
        assert_eq!(
            S::Returned.apply(CaseEvent::Submit),
            Err(TransitionError::NotEditable)
        );
        assert_eq!(
            S::Draft.apply(CaseEvent::Resubmit {
                returned_by: Level::Two
            }),
            Err(TransitionError::NotEditable)
        );
    }

    #[test]
    fn a_reviewer_decides_only_at_the_awaited_level() {
        let decide = |level, outcome| CaseEvent::Review { level, outcome };
        assert_eq!(
            S::Submitted.apply(decide(Level::Two, Outcome::Pass)),
            Err(TransitionError::InvalidTransition)
        );
        assert_eq!(
            S::Level2.apply(decide(Level::One, Outcome::Reject)),
            Err(TransitionError::InvalidTransition)
        );
        assert_eq!(
            S::Approved.apply(decide(Level::Two, Outcome::Return)),
            Err(TransitionError::InvalidTransition)
        );
        assert_eq!(
            S::Submitted.apply(decide(Level::One, Outcome::Pass)),
            Ok(S::Level2)
        );
        assert_eq!(
            S::Level2.apply(decide(Level::Two, Outcome::Pass)),
            Ok(S::Approved)
        );
        assert_eq!(
            S::Level2.apply(decide(Level::Two, Outcome::Return)),
            Ok(S::Returned)
        );
    }

    #[test]
    fn only_an_approved_case_is_reopened() {
        for s in CaseStatus::ALL {
            let r = s.apply(CaseEvent::Reopen);
            if s == S::Approved {
                assert_eq!(r, Ok(S::Level2));
            } else {
                assert_eq!(r, Err(TransitionError::InvalidTransition), "{s:?}");
            }
        }
    }

    #[test]
    fn booking_refusals_name_the_reason() {
        assert_eq!(
            S::Booked.apply(CaseEvent::Book),
            Err(TransitionError::AlreadyBooked)
        );
        for s in [S::Draft, S::Submitted, S::Level2, S::Completed, S::Returned] {
            assert_eq!(
                s.apply(CaseEvent::Book),
                Err(TransitionError::NoApprovedCase)
            );
        }
        for e in [
            CaseEvent::CancelBooking,
            CaseEvent::NoShow,
            CaseEvent::HandIn,
        ] {
            assert_eq!(
                S::Approved.apply(e),
                Err(TransitionError::InvalidTransition)
            );
        }
        assert_eq!(S::Booked.apply(CaseEvent::HandIn), Ok(S::Completed));
        assert_eq!(S::Booked.apply(CaseEvent::NoShow), Ok(S::Approved));
    }

    #[test]
    fn insurer_answers_apply_only_to_a_case_waiting_for_them() {
        for e in [CaseEvent::InsurerApprove, CaseEvent::InsurerReject] {
            for s in [S::Draft, S::Level2, S::Approved, S::Rejected, S::Withdrawn] {
                assert_eq!(s.apply(e), Err(TransitionError::InvalidTransition));
            }
        }
        for s in [S::Submitted, S::Completed, S::Withdrawn] {
            assert_eq!(
                s.apply(CaseEvent::InsurerPaid),
                Err(TransitionError::InvalidTransition)
            );
        }
        assert_eq!(
            S::Draft.apply(CaseEvent::RouteToInsurer),
            Err(TransitionError::InvalidTransition)
        );
    }

    #[test]
    fn only_a_completed_case_is_paid_out_and_only_a_paid_one_returned() {
        for s in CaseStatus::ALL {
            let paid = s.apply(CaseEvent::PayOut);
            let returned = s.apply(CaseEvent::PayoutReturned);
            if s == S::Completed {
                assert_eq!(paid, Ok(S::Paid));
            } else {
                assert_eq!(paid, Err(TransitionError::InvalidTransition), "{s:?}");
            }
            if s == S::Paid {
                assert_eq!(returned, Ok(S::Completed));
            } else {
                assert_eq!(returned, Err(TransitionError::InvalidTransition), "{s:?}");
            }
        }
        // Money that went out is not undone by a reviewer's or admin's undo.
        assert_eq!(
            S::Paid.apply(CaseEvent::Undo),
            Err(TransitionError::InvalidTransition)
        );
    }

    #[test]
    fn refusals_carry_the_stable_codes() {
        let codes: Vec<_> = [
            TransitionError::NotEditable,
            TransitionError::InvalidTransition,
            TransitionError::NoApprovedCase,
            TransitionError::AlreadyBooked,
            TransitionError::Stale,
            TransitionError::AlreadyInReview,
        ]
        .map(|e| {
            let app = crate::http::AppError::from(e);
            assert_eq!(app.status, axum::http::StatusCode::CONFLICT);
            e.code()
        })
        .to_vec();
        assert_eq!(
            codes,
            [
                "not_editable",
                "invalid_transition",
                "no_approved_case",
                "already_booked",
                "stale",
                "already_in_review"
            ]
        );
    }

    #[test]
    fn invoice_transitions() {
        use InvoiceEvent as E;
        use InvoiceStatus as I;
        assert_eq!(I::Approved.apply(E::Reject), Ok(I::Rejected));
        assert_eq!(I::Rejected.apply(E::Approve), Ok(I::Approved));
        assert_eq!(
            I::Pending.apply(E::SettleWithCase { approve: true }),
            Ok(I::Approved)
        );
        assert_eq!(
            I::Approved.apply(E::SettleWithCase { approve: false }),
            Err(TransitionError::InvalidTransition)
        );
        assert_eq!(I::Rejected.apply(E::Resubmit), Ok(I::Pending));
        assert_eq!(
            I::Approved.apply(E::Resubmit),
            Err(TransitionError::InvalidTransition)
        );
        assert_eq!(I::Approved.apply(E::StudentEdit), Ok(I::Pending));
    }
}
