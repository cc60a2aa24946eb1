//! A claim in one tap (SPEC §8): the patient turns a visit a hospital pushed into a submitted
//! case. Hospital, level, diagnosis, invoice and fee lines come from the visit, marked
//! `source: "hospital"` and hospital-verified, so no photo is needed; the case then follows the
//! same rules as any other (coverage, claim window, duplicate and blacklisted invoices), and is
//! reviewed by staff or, when the coverage names an external insurer, adjudicated by it.

use super::domain::{CaseFacts, CaseStatus, InvoiceNo};
use super::lifecycle::CaseEvent;
use super::service::{check_eligible, event};
use super::store;
use crate::audit;
use crate::db::{Backend, now_ms};
use crate::gateway::store::{LinesOf, SealedLine, insert_fee_lines};
use crate::http::auth::CurrentUser;
use crate::http::{AppError, AppResult, AppState, ErrorCode};
use crate::ids::CaseId;

/// Creates and submits the case; answers its id. 404 when the visit is not the caller's,
/// 409 `visit_already_claimed` when a live case was already made from it.
pub async fn claim_visit(state: &AppState, user: &CurrentUser, visit_id: i64) -> AppResult<CaseId> {
    let account = crate::accounts::store::find_by_id(&state.db.pool, user.id)
        .await?
        .ok_or_else(AppError::unauthenticated)?;
    // Matched on the national id's blind index: without a verified id number, no visit is ours.
    let bidx = account.id_number_bidx.ok_or_else(AppError::not_found)?;
    let mut tx = state.db.begin().await?;
    // Two taps at once: on PostgreSQL the second waits at the invoice number's lock for the
    // first to finish, then reads the visit with its case. (A SQLite transaction here holds the
    // database's write lock from its start, so the read below already comes after.)
    if state.db.backend == Backend::Postgres {
        let invoice_no = crate::gateway::store::invoice_no_of(&mut tx, visit_id, &bidx)
            .await?
            .ok_or_else(AppError::not_found)?;
        store::lock_invoice_no(&mut tx, state.db.backend, &InvoiceNo::parse(&invoice_no)?).await?;
    }
    let visit = crate::gateway::store::visit_of_patient(&mut tx, visit_id, &bidx)
        .await?
        .ok_or_else(AppError::not_found)?;
    let invoice_no = InvoiceNo::parse(&visit.invoice_no)?;
    if visit.case_id.is_some() {
        return Err(already_claimed());
    }
    let reason = visit
        .diagnosis_text
        .clone()
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| visit.diagnosis_code.clone());
    let facts = CaseFacts::parse(
        &visit.hospital,
        Some(visit.hospital_level.get()),
        &reason,
        &visit.visit_date,
    )?;
    check_eligible(state, &mut tx, user.id, &facts).await?;
    store::check_invoice_no(&mut tx, &invoice_no, None).await?;

    let now = now_ms();
    let case_id: i64 = sqlx::query_scalar(
        "INSERT INTO cases (student_id, hospital, hospital_level, reason, visit_date, coverage_year,
             review_level, may_edit, source, visit_id, diagnosis_code, created_at, first_submitted_at, submitted_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 1, 0, 'hospital', $7, $8, $9, $9, $9, $9) RETURNING id",
    )
    .bind(user.id)
    .bind(&facts.hospital)
    .bind(facts.hospital_level)
    .bind(crate::seal::seal(&facts.reason))
    .bind(&visit.visit_date)
    .bind(facts.coverage_year())
    .bind(visit.id)
    .bind(crate::seal::seal(&visit.diagnosis_code))
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    // Two taps racing: the partial unique index on cases.visit_id lets only one case in.
    .map_err(|e| {
        if crate::db::is_unique_violation(&e) {
            already_claimed()
        } else {
            e.into()
        }
    })?;
    // The hospital's invoice: nothing self-paid is reported, so all of it is the covered part.
    sqlx::query(
        "INSERT INTO invoices (case_id, invoice_no, total_cents, self_pay_cents, status, may_edit, hospital_verified, created_at, updated_at)
         VALUES ($1, $2, $3, 0, 'pending', 0, 1, $4, $4)",
    )
    .bind(case_id)
    .bind(&visit.invoice_no)
    .bind(visit.total_cents)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let lines: Vec<SealedLine> = visit
        .fee_lines
        .iter()
        .map(|line| SealedLine {
            code: crate::seal::seal_opt(line.code.as_deref()),
            display: crate::seal::seal(&line.display),
            amount_cents: line.amount_cents,
        })
        .collect();
    insert_fee_lines(&mut tx, LinesOf::Case(case_id), &lines).await?;
    // Made complete from the visit, the new draft is submitted at once.
    store::advance(&mut tx, case_id, CaseStatus::Draft, CaseEvent::Submit).await??;
    let insurer = super::routing::route_submission(&mut tx, case_id).await?;
    let payer = insurer.map_or("staff review".to_string(), |i| format!("insurer {i}"));
    let summary = format!(
        "from visit {} revision {}, {} fee lines, {payer}",
        visit.id,
        visit.revision,
        visit.fee_lines.len()
    );
    audit::record(
        &mut tx,
        &user.actor(),
        event("case.from_visit", "case", case_id, summary),
    )
    .await?;
    tx.commit().await?;
    Ok(CaseId::new(case_id))
}

fn already_claimed() -> AppError {
    ErrorCode::VisitAlreadyClaimed
        .with_message("This visit was already claimed; open the case made from it.")
}
