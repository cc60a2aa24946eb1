//! The review actions, each one transaction: check the level's role, the case's `version`
//! (rule 8, bumped under a row lock so exactly one of two racing reviewers wins), the case's
//! status and four eyes (rule 9); then change, log, audit and notify together.

use crate::ids::CaseId;
use crate::money::Cents;
use serde_json::{Map, Value, json};

use super::domain::{
    self, Corrections, Decision, InvoiceFigures, InvoiceState, Level, Outcome, ReviewError,
};
use super::store::{self, CaseRow, NewDecision};
use crate::audit::{self, Event};
use crate::claims::store::{advance, bump_version_if};
use crate::claims::{CaseEvent, CaseStatus, InvoiceEvent, InvoiceStatus};
use crate::db::Tx;
use crate::http::auth::{CurrentUser, Role};
use crate::http::{AppError, AppResult, AppState, ErrorCode};
use crate::notify::{Message, notify};

pub struct InvoiceDecisionInput {
    pub version: i64,
    pub level: Level,
    pub decision: Decision,
    pub reason: Option<String>,
    pub may_edit: Option<bool>,
    pub corrections: Corrections,
}

pub struct CaseDecisionInput {
    pub version: i64,
    pub level: Level,
    pub decision: Decision,
    pub reason: Option<String>,
    pub may_edit: Option<bool>,
    pub blacklist: bool,
}

/// The level named in a request, which the user must hold the role of (403 otherwise).
fn level_for(user: &CurrentUser, level: Level) -> AppResult<Level> {
    if !user.has(level.role()) {
        return Err(AppError::forbidden());
    }
    Ok(level)
}

/// Claims the case at `version` (stale otherwise) and checks it awaits `level` and that
/// `user` may decide it. Answers the case as it is now, under the lock.
async fn guard(
    tx: &mut Tx,
    user: &CurrentUser,
    case_id: i64,
    level: Level,
    version: i64,
) -> AppResult<CaseRow> {
    if bump_version_if(tx, CaseId::new(case_id), version)
        .await?
        .is_none()
    {
        return Err(ReviewError::Stale.into());
    }
    let case = store::find_case(&mut **tx, case_id)
        .await?
        .ok_or_else(AppError::not_found)?;
    if case.insurer_id.is_some() {
        return Err(ReviewError::InsurerAdjudicates.into());
    }
    if Level::of_status(case.status) != Some(level) {
        return Err(ReviewError::InvalidTransition.into());
    }
    if case.student_id == user.id {
        return Err(ReviewError::SameReviewer.into());
    }
    if level == Level::Two
        && (case.reviewer1_id == Some(user.id)
            || store::decided_at_level1(tx, case_id, user.id).await?)
    {
        return Err(ReviewError::SameReviewer.into());
    }
    Ok(case)
}

fn changes_json(changes: Map<String, Value>) -> Option<String> {
    (!changes.is_empty()).then(|| Value::Object(changes).to_string())
}

/// `POST /api/v1/review/invoices/{id}`: approve or reject one invoice, with corrections.
pub async fn decide_invoice(
    state: &AppState,
    user: &CurrentUser,
    invoice_id: i64,
    input: InvoiceDecisionInput,
) -> AppResult<i64> {
    let level = level_for(user, input.level)?;
    let reject = input.decision == Decision::Reject;
    let reason = domain::parse_reason(input.reason.as_deref(), reject)?;
    let mut tx = state.db.begin().await?;
    let invoice = store::find_invoice(&mut *tx, invoice_id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let case = guard(&mut tx, user, invoice.case_id, level, input.version).await?;
    // Read again under the case's lock.
    let invoice = store::find_invoice(&mut *tx, invoice_id)
        .await?
        .ok_or_else(AppError::not_found)?;
    if !reject && case.hospital_level.is_none() {
        return Err(ReviewError::HospitalLevelRequired.into());
    }
    let old = InvoiceFigures {
        invoice_no: invoice.invoice_no.clone(),
        total_cents: invoice.total_cents,
        self_pay_cents: invoice.self_pay_cents,
    };
    let (new, mut changes) = domain::correct(&old, &input.corrections)?;
    let may_edit = reject && input.may_edit.unwrap_or(true);
    let status = invoice.status.apply(if reject {
        InvoiceEvent::Reject
    } else {
        InvoiceEvent::Approve
    })?;
    if invoice.status != status {
        changes.insert(
            "status".into(),
            json!({"old": invoice.status.as_str(), "new": status.as_str()}),
        );
    }
    store::set_invoice_decision(
        &mut tx,
        invoice_id,
        status,
        reason.as_deref(),
        may_edit,
        &new.invoice_no,
        new.total_cents,
        new.self_pay_cents,
    )
    .await?;
    store::insert_decision(
        &mut tx,
        NewDecision {
            case_id: case.id.get(),
            invoice_id: Some(invoice_id),
            reviewer_id: user.id,
            level,
            result: input.decision.as_str(),
            reason: reason.as_deref(),
            may_edit: reject.then_some(may_edit),
            changes: changes_json(changes),
        },
    )
    .await?;
    store::set_reviewer(&mut tx, case.id.get(), level, user.id).await?;
    audit::record(
        &mut tx,
        &user.actor(),
        Event {
            action: "review.invoice",
            object_type: "invoice",
            object_id: invoice_id.to_string(),
            summary: format!(
                "case {} level {} {} may_edit={}",
                case.id,
                level.as_i64(),
                input.decision.as_str(),
                may_edit
            ),
        },
    )
    .await?;
    if let Some(reason) = &reason {
        notify(
            &mut tx,
            case.student_id,
            &Message::InvoiceRejected {
                case_id: case.id.get(),
                invoice_no: new.invoice_no.clone(),
                reason: reason.clone(),
            },
        )
        .await?;
    }
    // Rule 6 runs when the last pending invoice is decided; re-deciding an already decided
    // invoice (level 2 overruling level 1) leaves the case to the whole-case decision.
    if invoice.status == InvoiceStatus::Pending {
        let states = invoice_states(&mut tx, case.id.get()).await?;
        if let Some(outcome) = domain::settle(&states) {
            settle_case(&mut tx, user, &case, level, outcome, None).await?;
        }
    }
    tx.commit().await?;
    Ok(case.id.get())
}

async fn invoice_states(tx: &mut Tx, case_id: i64) -> AppResult<Vec<InvoiceState>> {
    Ok(store::invoices_of(&mut **tx, case_id)
        .await?
        .iter()
        .map(|i| InvoiceState {
            status: i.status,
            may_edit: i.may_edit == 1,
        })
        .collect())
}

/// `POST /api/v1/review/cases/{id}`: approve the case (every pending invoice approved, then
/// rule 6), or reject it — returned when `may_edit` (the default), else final; `blacklist`
/// puts every invoice number of the case on the student's blacklist.
pub async fn decide_case(
    state: &AppState,
    user: &CurrentUser,
    case_id: i64,
    input: CaseDecisionInput,
) -> AppResult<()> {
    let level = level_for(user, input.level)?;
    let reject = input.decision == Decision::Reject;
    let reason = domain::parse_reason(input.reason.as_deref(), reject)?;
    let mut tx = state.db.begin().await?;
    store::find_case(&mut *tx, case_id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let case = guard(&mut tx, user, case_id, level, input.version).await?;
    let mut changes = Map::new();
    let outcome = if reject {
        let may_edit = input.may_edit.unwrap_or(true);
        if input.blacklist {
            store::blacklist_case(&mut tx, case_id, case.student_id, user.id).await?;
            changes.insert("blacklist".into(), json!(true));
        }
        if may_edit {
            Outcome::Return
        } else {
            store::reject_pending(&mut tx, case_id, reason.as_deref().unwrap_or_default()).await?;
            Outcome::Reject
        }
    } else {
        if case.hospital_level.is_none() {
            return Err(ReviewError::HospitalLevelRequired.into());
        }
        let approved = store::approve_pending(&mut tx, case_id).await?;
        if !approved.is_empty() {
            changes.insert("approved_invoices".into(), json!(approved));
        }
        let states = invoice_states(&mut tx, case_id).await?;
        domain::settle(&states).unwrap_or(Outcome::Reject)
    };
    store::insert_decision(
        &mut tx,
        NewDecision {
            case_id,
            invoice_id: None,
            reviewer_id: user.id,
            level,
            result: input.decision.as_str(),
            reason: reason.as_deref(),
            may_edit: reject.then_some(outcome == Outcome::Return),
            changes: changes_json(changes),
        },
    )
    .await?;
    store::set_reviewer(&mut tx, case_id, level, user.id).await?;
    audit::record(
        &mut tx,
        &user.actor(),
        Event {
            action: "review.case",
            object_type: "case",
            object_id: case_id.to_string(),
            summary: format!(
                "level {} {} blacklist={}",
                level.as_i64(),
                input.decision.as_str(),
                input.blacklist
            ),
        },
    )
    .await?;
    settle_case(&mut tx, user, &case, level, outcome, reason.as_deref()).await?;
    tx.commit().await?;
    Ok(())
}

/// Moves the case on by the level's `outcome` and tells the student; a final approval computes
/// the payout.
async fn settle_case(
    tx: &mut Tx,
    user: &CurrentUser,
    case: &CaseRow,
    level: Level,
    outcome: Outcome,
    case_reason: Option<&str>,
) -> AppResult<()> {
    let next = advance(
        tx,
        case.id.get(),
        case.status,
        CaseEvent::Review { level, outcome },
    )
    .await??;
    let message = match next {
        CaseStatus::Returned | CaseStatus::Rejected => {
            let reason = match case_reason {
                Some(r) => r.to_string(),
                None => rejection_reasons(tx, case.id.get()).await?,
            };
            store::set_review_position(tx, case.id.get(), level, next == CaseStatus::Returned)
                .await?;
            Some(if next == CaseStatus::Returned {
                Message::CaseReturned {
                    case_id: case.id.get(),
                    reason,
                }
            } else {
                Message::CaseRejected {
                    case_id: case.id.get(),
                    reason,
                }
            })
        }
        CaseStatus::Level2 => {
            store::set_review_position(tx, case.id.get(), Level::Two, false).await?;
            None
        }
        CaseStatus::Approved => {
            let payout = compute_and_store_payout(tx, case).await?;
            store::set_review_position(tx, case.id.get(), Level::Two, false).await?;
            Some(Message::CaseApproved {
                case_id: case.id.get(),
                payout_cents: payout,
            })
        }
        _ => return Err(ReviewError::InvalidTransition.into()),
    };
    audit::record(
        tx,
        &user.actor(),
        Event {
            action: "case.status",
            object_type: "case",
            object_id: case.id.to_string(),
            summary: format!("{} -> {}", case.status.as_str(), next.as_str()),
        },
    )
    .await?;
    if let Some(m) = message {
        notify(tx, case.student_id, &m).await?;
    }
    Ok(())
}

/// The reasons of the rejected invoices, for the student's message.
async fn rejection_reasons(tx: &mut Tx, case_id: i64) -> AppResult<String> {
    let invoices = store::invoices_of(&mut **tx, case_id).await?;
    let reasons: Vec<String> = invoices
        .iter()
        .filter(|i| i.status == InvoiceStatus::Rejected)
        .map(|i| format!("{}: {}", i.invoice_no, i.reason.as_deref().unwrap_or("")))
        .collect();
    Ok(reasons.join("; "))
}

/// Rule 7 across the student's coverage year: the deductible is consumed once and the cap is
/// shared by their approved cases. The student's row is locked first so two approvals of the
/// same student's cases cannot both spend the same cap.
async fn compute_and_store_payout(tx: &mut Tx, case: &CaseRow) -> AppResult<Cents> {
    sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
        .bind(case.student_id)
        .execute(&mut **tx)
        .await?;
    let policy = crate::policy::store::current(&mut **tx).await?;
    let usage = store::year_usage(tx, case.student_id, case.coverage_year, case.id.get()).await?;
    let covered = store::invoices_of(&mut **tx, case.id.get())
        .await?
        .iter()
        .filter(|i| i.status == InvoiceStatus::Approved)
        .map(|i| i.total_cents - i.self_pay_cents)
        .sum::<Option<Cents>>()
        .expect("invoice amounts are bounded at entry");
    let level = case
        .hospital_level
        .ok_or(ReviewError::HospitalLevelRequired)?;
    let breakdown = crate::policy::compute_payout(&policy, level, covered, usage);
    store::store_payout(tx, case.id.get(), &breakdown).await?;
    Ok(breakdown.payout_cents)
}

/// `PATCH /api/v1/review/cases/{id}`: correct the hospital name and level, logged old → new.
pub async fn correct_case(
    state: &AppState,
    user: &CurrentUser,
    case_id: i64,
    version: i64,
    hospital: Option<String>,
    hospital_level: Option<i64>,
) -> AppResult<()> {
    let hospital = match hospital.map(|h| h.trim().to_string()) {
        Some(h) if h.is_empty() || h.chars().count() > 200 => {
            return Err(ErrorCode::InvalidInput
                .with_message("Hospital name is 1–200 characters.")
                .with_field("hospital", "1–200 characters"));
        }
        h => h,
    };
    let hospital_level = match hospital_level {
        None => None,
        Some(l) => Some(crate::policy::HospitalLevel::new(l).ok_or_else(|| {
            ErrorCode::InvalidHospitalLevel
                .with_message("Hospital level is 0–3.")
                .with_field("hospital_level", "0, 1, 2 or 3")
        })?),
    };
    let mut tx = state.db.begin().await?;
    let found = store::find_case(&mut *tx, case_id)
        .await?
        .ok_or_else(AppError::not_found)?;
    if found.insurer_id.is_some() {
        return Err(ReviewError::InsurerAdjudicates.into());
    }
    let level = match Level::of_status(found.status) {
        Some(level) => level,
        None if user.has(Role::Reviewer1) || user.has(Role::Reviewer2) => {
            if found.version != version {
                return Err(ReviewError::Stale.into());
            }
            return Err(ReviewError::InvalidTransition.into());
        }
        None => return Err(AppError::forbidden()),
    };
    let level = level_for(user, level)?;
    let case = guard(&mut tx, user, case_id, level, version).await?;
    let new_hospital = hospital.unwrap_or_else(|| case.hospital.clone());
    let new_level = hospital_level.or(case.hospital_level);
    let mut changes = Map::new();
    if new_hospital != case.hospital {
        changes.insert(
            "hospital".into(),
            json!({"old": case.hospital, "new": new_hospital}),
        );
    }
    if new_level != case.hospital_level {
        changes.insert(
            "hospital_level".into(),
            json!({"old": case.hospital_level, "new": new_level}),
        );
    }
    if changes.is_empty() {
        return Ok(()); // nothing changed: the version bump is rolled back with the transaction
    }
    store::set_hospital(&mut tx, case_id, &new_hospital, new_level).await?;
    store::insert_decision(
        &mut tx,
        NewDecision {
            case_id,
            invoice_id: None,
            reviewer_id: user.id,
            level,
            result: "correct",
            reason: None,
            may_edit: None,
            changes: changes_json(changes),
        },
    )
    .await?;
    audit::record(
        &mut tx,
        &user.actor(),
        Event {
            action: "review.correct",
            object_type: "case",
            object_id: case_id.to_string(),
            summary: format!("level {} hospital/level corrected", level.as_i64()),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Rule 11: an approved case not yet handed in goes back to level 2 (a level-2 reviewer or an
/// admin); SPEC §13 office: an admin also undoes a final rejection, a booking (its seat is
/// released) or a hand-in. The payout is superseded (kept in the decision log) and computed
/// again at the next approval; the student is told why.
pub async fn reopen(
    state: &AppState,
    user: &CurrentUser,
    case_id: i64,
    version: i64,
    reason: Option<String>,
) -> AppResult<()> {
    let reason = domain::parse_reason(reason.as_deref(), true)?.unwrap_or_default();
    let mut tx = state.db.begin().await?;
    store::find_case(&mut *tx, case_id)
        .await?
        .ok_or_else(AppError::not_found)?;
    if bump_version_if(&mut tx, CaseId::new(case_id), version)
        .await?
        .is_none()
    {
        return Err(ReviewError::Stale.into());
    }
    let case = store::find_case(&mut *tx, case_id)
        .await?
        .ok_or_else(AppError::not_found)?;
    if case.insurer_id.is_some() {
        return Err(ReviewError::InsurerAdjudicates.into());
    }
    let event = if case.status == CaseStatus::Approved {
        CaseEvent::Reopen
    } else {
        CaseEvent::Undo
    };
    let next = case
        .status
        .apply(event)
        .map_err(|_| ReviewError::InvalidTransition)?;
    if event == CaseEvent::Undo && !user.has(Role::Admin) {
        return Err(AppError::forbidden());
    }
    if case.student_id == user.id {
        return Err(ReviewError::SameReviewer.into());
    }
    // A hand-in whose transfer is in a payout batch is finance's now: undoing it would leave
    // the bank's file paying a case that is under review again (paid is never undone).
    let batched: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM payout_items WHERE case_id = $1 AND status <> 'returned'",
    )
    .bind(case_id)
    .fetch_one(&mut *tx)
    .await?;
    if batched > 0 {
        return Err(ErrorCode::InvalidTransition
            .with_message("This case is in a payout batch; finance must take it out first."));
    }
    let released = if case.status == CaseStatus::Booked {
        crate::booking::store::release_booking_of_case(&mut tx, case_id).await?
    } else {
        None
    };
    let changes = json!({
        "status": {"old": case.status.as_str(), "new": next.as_str()},
        "payout_cents": {"old": case.payout_cents, "new": null},
        "policy_version": {"old": case.policy_version, "new": null},
        "released_slot": released,
    });
    store::insert_decision(
        &mut tx,
        NewDecision {
            case_id,
            invoice_id: None,
            reviewer_id: user.id,
            level: Level::Two,
            result: "reopen",
            reason: Some(&reason),
            may_edit: None,
            changes: Some(changes.to_string()),
        },
    )
    .await?;
    store::clear_payout(&mut tx, case_id).await?;
    advance(&mut tx, case_id, case.status, event).await??;
    store::set_review_position(&mut tx, case_id, Level::Two, false).await?;
    notify(
        &mut tx,
        case.student_id,
        &Message::CaseReopened { case_id, reason },
    )
    .await?;
    audit::record(
        &mut tx,
        &user.actor(),
        Event {
            action: "case.reopen",
            object_type: "case",
            object_id: case_id.to_string(),
            summary: format!("{} -> {}", case.status.as_str(), next.as_str()),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
