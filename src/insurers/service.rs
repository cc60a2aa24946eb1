//! What an insurer's answers do to a case whose coverage names it: a refused eligibility check
//! or a ClaimResponse without payout rejects the case, a ClaimResponse with a payout approves it
//! at the insurer's figure, and a payment marks it paid. Each runs inside the caller's
//! transaction, with its audit event and the patient's notification, so an answer is applied
//! exactly once or not at all.

use super::store::{self, Recorded};
use crate::audit::{self, Actor, Event};
use crate::claims::store::{CaseRow, advance, bump_version, find_case};
use crate::claims::{CaseEvent, CaseStatus};
use crate::db::{Tx, now_ms};
use crate::fhir::Adjudication;
use crate::ids::CaseId;
use crate::ledger::store::EntryView;
use crate::notify::{Message, notify};

fn actor(insurer_id: i64) -> Actor {
    Actor::system(&format!("insurer:{insurer_id}"))
}

async fn record(
    tx: &mut Tx,
    insurer_id: i64,
    action: &'static str,
    case_id: i64,
    summary: String,
) -> sqlx::Result<()> {
    let event = Event {
        action,
        object_type: "case",
        object_id: case_id.to_string(),
        summary,
    };
    audit::record(tx, &actor(insurer_id), event).await
}

/// The case, when it still waits for this insurer's decision.
async fn awaiting(tx: &mut Tx, case_id: i64, insurer_id: i64) -> sqlx::Result<Option<CaseRow>> {
    Ok(find_case(&mut **tx, CaseId::new(case_id), None)
        .await?
        .filter(|c| c.status == CaseStatus::Submitted && c.insurer_id == Some(insurer_id)))
}

/// Rejects a case the insurer refused (not covered, or adjudicated without payout); every
/// pending invoice with it. False when the case no longer waited for the insurer.
pub async fn reject(
    tx: &mut Tx,
    case_id: i64,
    insurer_id: i64,
    reason: &str,
) -> sqlx::Result<bool> {
    let Some(case) = awaiting(tx, case_id, insurer_id).await? else {
        return Ok(false);
    };
    if advance(tx, case.id.get(), case.status, CaseEvent::InsurerReject)
        .await?
        .is_err()
    {
        return Ok(false);
    }
    sqlx::query("UPDATE cases SET may_edit = 0 WHERE id = $1")
        .bind(case.id)
        .execute(&mut **tx)
        .await?;
    crate::review::store::reject_pending(tx, case.id.get(), reason).await?;
    let v = bump_version(tx, case.id).await?;
    let summary = format!("rejected by insurer {insurer_id}, version {v}");
    record(
        tx,
        insurer_id,
        "case.insurer_reject",
        case.id.get(),
        summary,
    )
    .await?;
    let message = Message::CaseRejected {
        case_id: case.id.get(),
        reason: reason.to_string(),
    };
    notify(tx, case.student_id, &message).await?;
    Ok(true)
}

/// The ClaimResponse arrived, but the insurer will decide later (`202`, or outcome `queued`).
pub async fn mark_queued(tx: &mut Tx, case_id: i64, insurer_id: i64) -> sqlx::Result<()> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO insurer_claims (case_id, insurer_id, status, created_at, updated_at)
         VALUES ($1, $2, 'queued', $3, $3) ON CONFLICT (case_id) DO NOTHING",
    )
    .bind(case_id)
    .bind(insurer_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records a ClaimResponse (synchronous answer or webhook) and applies it to the case: with a
/// payout the case is approved at the insurer's figure (no staff review, nothing to hand in);
/// `error`, or no payout, rejects it with the insurer's disposition. A duplicate changes
/// nothing; a decision arriving after the case was settled is kept but does not move the case.
pub async fn apply_claim_response(
    tx: &mut Tx,
    insurer_id: i64,
    adj: &Adjudication,
    identifier: &str,
    content_sha256: &str,
) -> sqlx::Result<Recorded> {
    let recorded =
        store::record_claim_response(tx, insurer_id, adj, identifier, content_sha256).await?;
    if recorded != Recorded::New || adj.outcome == "queued" {
        return Ok(recorded);
    }
    let payout = adj.payout_cents.unwrap_or_default();
    let approves = matches!(adj.outcome.as_str(), "complete" | "partial") && payout.is_positive();
    if !approves {
        let reason = adj
            .disposition
            .clone()
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| "保险公司未予赔付 (no benefit payable)".to_string());
        reject(tx, adj.case_id, insurer_id, &reason).await?;
        return Ok(recorded);
    }
    let Some(case) = awaiting(tx, adj.case_id, insurer_id).await? else {
        return Ok(recorded);
    };
    if advance(tx, case.id.get(), case.status, CaseEvent::InsurerApprove)
        .await?
        .is_err()
    {
        return Ok(recorded);
    }
    let now = now_ms();
    sqlx::query("UPDATE cases SET may_edit = 0, payout_cents = $1, approved_at = $2 WHERE id = $3")
        .bind(payout)
        .bind(now)
        .bind(case.id)
        .execute(&mut **tx)
        .await?;
    crate::review::store::approve_pending(tx, case.id.get()).await?;
    let v = bump_version(tx, case.id).await?;
    let summary = format!(
        "approved by insurer {insurer_id} ({}), payout_cents={}, version {v}",
        adj.outcome,
        payout.get()
    );
    record(
        tx,
        insurer_id,
        "case.insurer_approve",
        case.id.get(),
        summary,
    )
    .await?;
    let message = Message::InsurerApproved {
        case_id: case.id.get(),
        payout_cents: payout,
    };
    notify(tx, case.student_id, &message).await?;
    Ok(recorded)
}

/// Marks each newly paid case of this insurer paid (`completed`, payout final) and tells the
/// patient how much went where. A second payment for a case (flagged `paid_twice` in the
/// ledger) and money for a case the insurer did not approve change no case; reconciliation
/// reports them. Answers how many cases became paid.
pub async fn settle_payments(
    tx: &mut Tx,
    insurer_id: i64,
    entries: &[EntryView],
) -> sqlx::Result<usize> {
    let mut settled = 0;
    for e in entries.iter().filter(|e| !e.paid_twice) {
        let Some(case_id) = e.case_id else { continue };
        let Some(case) = find_case(&mut **tx, CaseId::new(case_id), None).await? else {
            continue;
        };
        if case.insurer_id != Some(insurer_id) || case.paid_at.is_some() {
            continue;
        }
        // Only an approved (or booked) case becomes paid.
        if advance(tx, case.id.get(), case.status, CaseEvent::InsurerPaid)
            .await?
            .is_err()
        {
            continue;
        }
        sqlx::query("UPDATE cases SET paid_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(case.id)
            .execute(&mut **tx)
            .await?;
        let v = bump_version(tx, case.id).await?;
        let summary = format!(
            "paid by insurer {insurer_id}: amount_cents={} entry={} version {v}",
            e.amount_cents, e.id
        );
        record(tx, insurer_id, "case.paid", case.id.get(), summary).await?;
        let message = Message::CasePaid {
            case_id: case.id.get(),
            amount_cents: e.amount_cents,
            destination: e.destination_masked.clone(),
        };
        notify(tx, case.student_id, &message).await?;
        settled += 1;
    }
    Ok(settled)
}
