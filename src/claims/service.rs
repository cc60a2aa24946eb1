//! The student's operations on cases, records and invoices (SPEC §4 rules 1–3), shared by the
//! JSON API and the pages. Each runs in one transaction with its audit event; a refused
//! request changes nothing.

use super::domain::{
    CaseFacts, CaseStatus, InvoiceFacts, InvoiceStatus, RuleError, check_invoice_date,
};
use super::lifecycle::{CaseEvent, InvoiceEvent, Level, TransitionError};
use super::store::{self, CaseRow, bump_version};
use crate::audit::{self, Event};
use crate::db::{Tx, now_ms};
use crate::http::auth::CurrentUser;
use crate::http::{AppError, AppResult, AppState};
use crate::ids::{CaseId, FileId, InvoiceId, RecordId};
use crate::invoice_qr::InvoiceQr;
use crate::money::Cents;
use crate::storage::Prepared;

/// An uploaded photo, checked and transformed, with the name the client gave it.
pub struct Upload {
    pub prepared: Prepared,
    pub name: Option<String>,
    /// The QR code read from an invoice photo (never looked for on other uploads).
    pub qr: Option<InvoiceQr>,
}

fn today(state: &AppState) -> chrono::NaiveDate {
    chrono::Utc::now()
        .with_timezone(&state.settings.time_zone)
        .date_naive()
}

/// Rule 1, inside `tx`: visit date within the window, student covered that year.
pub(super) async fn check_eligible(
    state: &AppState,
    tx: &mut Tx,
    student: i64,
    facts: &CaseFacts,
) -> AppResult<()> {
    facts.check_visit_date(today(state), state.settings.claim_window_days)?;
    if !store::is_covered(tx, student, facts.coverage_year()).await? {
        return Err(RuleError::NotInsured.into());
    }
    Ok(())
}

/// The date an invoice is stored with: the student's, checked against today; when they gave
/// none, the date on the photo's QR code if it would pass the same check (a date the student
/// never typed does not refuse their invoice; it stays in `qr_date` for the reviewer).
fn invoice_date(
    state: &AppState,
    typed: Option<chrono::NaiveDate>,
    qr: Option<&InvoiceQr>,
) -> Result<Option<chrono::NaiveDate>, RuleError> {
    let window = state.settings.claim_window_days;
    if let Some(date) = typed {
        check_invoice_date(date, today(state), window)?;
        return Ok(Some(date));
    }
    Ok(qr
        .and_then(|q| q.date.as_deref())
        .and_then(|d| super::domain::parse_invoice_date(d).ok().flatten())
        .filter(|d| check_invoice_date(*d, today(state), window).is_ok()))
}

fn date_text(date: Option<chrono::NaiveDate>) -> Option<String> {
    date.map(|d| d.format("%Y-%m-%d").to_string())
}

/// The student's own case, locked for change: 404 when absent or not theirs, 409
/// `not_editable` when it is past draft/returned or marked not editable.
async fn editable_case(tx: &mut Tx, user: &CurrentUser, case_id: CaseId) -> AppResult<CaseRow> {
    let case = store::find_case(&mut **tx, case_id, Some(user.id))
        .await?
        .ok_or_else(AppError::not_found)?;
    if !case.student_may_edit() {
        return Err(RuleError::NotEditable.into());
    }
    Ok(case)
}

pub(super) fn event<'a>(
    action: &'a str,
    object_type: &'static str,
    id: impl std::fmt::Display,
    summary: String,
) -> Event<'a> {
    Event {
        action,
        object_type,
        object_id: id.to_string(),
        summary,
    }
}

/// A hospital on the designated list is written as the list names it, with the list's level
/// (the level decides the ratio, so it is not the student's to choose); any other name as
/// typed.
async fn designated(tx: &mut crate::db::Tx, mut facts: CaseFacts) -> AppResult<CaseFacts> {
    if let Some(h) = crate::hospitals::store::find(&mut **tx, &facts.hospital).await? {
        facts.hospital = h.name;
        facts.hospital_level = Some(h.level);
    }
    Ok(facts)
}

/// A new case is a draft (the column's default); from there only `store::advance` moves it.
pub async fn create_case(state: &AppState, user: &CurrentUser, facts: CaseFacts) -> AppResult<i64> {
    let mut tx = state.db.begin().await?;
    check_eligible(state, &mut tx, user.id, &facts).await?;
    let facts = designated(&mut tx, facts).await?;
    let now = now_ms();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO cases (student_id, hospital, hospital_level, reason, visit_date, coverage_year, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
    )
    .bind(user.id)
    .bind(&facts.hospital)
    .bind(facts.hospital_level)
    .bind(crate::seal::seal(&facts.reason))
    .bind(facts.visit_date.format("%Y-%m-%d").to_string())
    .bind(facts.coverage_year())
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    let summary = format!("draft, coverage year {}", facts.coverage_year());
    audit::record(
        &mut tx,
        &user.actor(),
        event("case.create", "case", id, summary),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn update_case(
    state: &AppState,
    user: &CurrentUser,
    case_id: CaseId,
    facts: CaseFacts,
) -> AppResult<()> {
    let mut tx = state.db.begin().await?;
    editable_case(&mut tx, user, case_id).await?;
    check_eligible(state, &mut tx, user.id, &facts).await?;
    let facts = designated(&mut tx, facts).await?;
    sqlx::query(
        "UPDATE cases SET hospital = $1, hospital_level = $2, reason = $3, visit_date = $4, coverage_year = $5 WHERE id = $6",
    )
    .bind(&facts.hospital)
    .bind(facts.hospital_level)
    .bind(crate::seal::seal(&facts.reason))
    .bind(facts.visit_date.format("%Y-%m-%d").to_string())
    .bind(facts.coverage_year())
    .bind(case_id)
    .execute(&mut *tx)
    .await?;
    let v = bump_version(&mut tx, case_id).await?;
    let summary = format!("edited, version {v}");
    audit::record(
        &mut tx,
        &user.actor(),
        event("case.update", "case", case_id, summary),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Deleting a case withdraws it: nothing is ever erased, and its invoice numbers are free again.
pub async fn withdraw_case(state: &AppState, user: &CurrentUser, case_id: CaseId) -> AppResult<()> {
    let mut tx = state.db.begin().await?;
    let case = editable_case(&mut tx, user, case_id).await?;
    store::advance(&mut tx, case_id.get(), case.status, CaseEvent::Withdraw).await??;
    let v = bump_version(&mut tx, case_id).await?;
    let summary = format!("withdrawn by the student, version {v}");
    audit::record(
        &mut tx,
        &user.actor(),
        event("case.withdraw", "case", case_id, summary),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The student takes a submitted case back to draft to fix it (SPEC §13 office: recall), while
/// nobody has started on it: no review decision since the latest submission and no insurer
/// deciding. The status write comes first, so it waits for a reviewer deciding at the same
/// moment and then sees that decision (PostgreSQL), or runs alone (SQLite, one writer); the
/// version bump makes the reviewer's later decision stale. Exactly one of the two wins.
pub async fn recall_case(state: &AppState, user: &CurrentUser, case_id: CaseId) -> AppResult<()> {
    let mut tx = state.db.begin().await?;
    let case = store::find_case(&mut *tx, case_id, Some(user.id))
        .await?
        .ok_or_else(AppError::not_found)?;
    if case.insurer_id.is_some() {
        return Err(TransitionError::AlreadyInReview.into());
    }
    store::advance(&mut tx, case_id.get(), case.status, CaseEvent::Recall).await??;
    let decided: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM review_decisions WHERE case_id = $1 AND created_at >= $2",
    )
    .bind(case_id)
    .bind(case.submitted_at.unwrap_or(0))
    .fetch_one(&mut *tx)
    .await?;
    if decided > 0 {
        return Err(TransitionError::AlreadyInReview.into());
    }
    let v = bump_version(&mut tx, case_id).await?;
    let summary = format!("recalled to draft by the student, version {v}");
    audit::record(
        &mut tx,
        &user.actor(),
        event("case.recall", "case", case_id, summary),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn add_record(
    state: &AppState,
    user: &CurrentUser,
    case_id: CaseId,
    upload: Upload,
) -> AppResult<RecordId> {
    let mut tx = state.db.begin().await?;
    editable_case(&mut tx, user, case_id).await?;
    let dir = &state.files;
    let size = upload.prepared.bytes.len();
    crate::storage::check_quota(&mut tx, &state.settings, user.id, case_id.get(), size).await?;
    let file_id = crate::storage::save(
        &mut tx,
        dir,
        user.id,
        &upload.prepared,
        upload.name.as_deref(),
    )
    .await?;
    let id: RecordId = sqlx::query_scalar(
        "INSERT INTO case_records (case_id, file_id, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(case_id)
    .bind(file_id)
    .bind(now_ms())
    .fetch_one(&mut *tx)
    .await?;
    bump_version(&mut tx, case_id).await?;
    let summary = format!("record {id}, file {file_id}");
    audit::record(
        &mut tx,
        &user.actor(),
        event("case.record_add", "case", case_id, summary),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn delete_record(
    state: &AppState,
    user: &CurrentUser,
    case_id: CaseId,
    record_id: RecordId,
) -> AppResult<()> {
    let mut tx = state.db.begin().await?;
    editable_case(&mut tx, user, case_id).await?;
    let gone = sqlx::query("DELETE FROM case_records WHERE id = $1 AND case_id = $2")
        .bind(record_id)
        .bind(case_id)
        .execute(&mut *tx)
        .await?;
    if gone.rows_affected() == 0 {
        return Err(AppError::not_found());
    }
    bump_version(&mut tx, case_id).await?;
    let summary = format!("record {record_id} removed");
    audit::record(
        &mut tx,
        &user.actor(),
        event("case.record_remove", "case", case_id, summary),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn add_invoice(
    state: &AppState,
    user: &CurrentUser,
    case_id: CaseId,
    facts: InvoiceFacts,
    photo: Upload,
) -> AppResult<InvoiceId> {
    let date = invoice_date(state, facts.invoice_date, photo.qr.as_ref())?;
    let mut tx = state.db.begin().await?;
    editable_case(&mut tx, user, case_id).await?;
    store::lock_invoice_no(&mut tx, state.db.backend, &facts.invoice_no).await?;
    store::check_invoice_no(&mut tx, &facts.invoice_no, None).await?;
    let dir = &state.files;
    let size = photo.prepared.bytes.len();
    crate::storage::check_quota(&mut tx, &state.settings, user.id, case_id.get(), size).await?;
    let file_id = crate::storage::save(
        &mut tx,
        dir,
        user.id,
        &photo.prepared,
        photo.name.as_deref(),
    )
    .await?;
    let now = now_ms();
    let id: InvoiceId = sqlx::query_scalar(
        "INSERT INTO invoices (case_id, invoice_no, total_cents, self_pay_cents, photo_file_id, status, created_at, updated_at, invoice_date)
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6, $7) RETURNING id",
    )
    .bind(case_id)
    .bind(&facts.invoice_no)
    .bind(facts.total_cents)
    .bind(facts.self_pay_cents)
    .bind(file_id)
    .bind(now)
    .bind(date_text(date))
    .fetch_one(&mut *tx)
    .await?;
    store::set_invoice_qr(&mut tx, id, photo.qr.as_ref()).await?;
    bump_version(&mut tx, case_id).await?;
    let summary = format!("invoice {id} added to case {case_id}");
    audit::record(
        &mut tx,
        &user.actor(),
        event("invoice.create", "invoice", id, summary),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// The student's own invoice in an editable case, itself marked may-edit.
async fn editable_invoice(
    tx: &mut Tx,
    user: &CurrentUser,
    invoice_id: InvoiceId,
) -> AppResult<store::InvoiceRow> {
    let invoice = store::find_invoice(&mut **tx, invoice_id, Some(user.id))
        .await?
        .ok_or_else(AppError::not_found)?;
    editable_case(tx, user, invoice.case_id).await?;
    if invoice.may_edit != 1 {
        return Err(RuleError::NotEditable.into());
    }
    Ok(invoice)
}

/// What a student's invoice edit changes; fields left `None` keep their value.
#[derive(Default)]
pub struct InvoiceChange {
    pub invoice_no: Option<String>,
    pub total_cents: Option<Cents>,
    pub self_pay_cents: Option<Cents>,
    /// `Some(None)` clears the date.
    pub invoice_date: Option<Option<chrono::NaiveDate>>,
    pub photo: Option<Upload>,
}

/// Changes an invoice. An edited invoice is pending again. An unchanged date is not checked
/// again (a returned case may be edited after its window); an empty one is taken from a new
/// photo's QR code, as when the invoice was added.
pub async fn update_invoice(
    state: &AppState,
    user: &CurrentUser,
    invoice_id: InvoiceId,
    change: InvoiceChange,
) -> AppResult<()> {
    let InvoiceChange {
        invoice_no,
        total_cents,
        self_pay_cents,
        invoice_date: new_date,
        photo,
    } = change;
    let mut tx = state.db.begin().await?;
    let old = editable_invoice(&mut tx, user, invoice_id).await?;
    let facts = InvoiceFacts::parse(
        invoice_no.as_deref().unwrap_or(old.invoice_no.as_str()),
        total_cents.unwrap_or(old.total_cents),
        self_pay_cents.unwrap_or(old.self_pay_cents),
    )?;
    let old_date = old
        .invoice_date
        .as_deref()
        .and_then(|d| super::domain::parse_invoice_date(d).ok().flatten());
    let date = match new_date {
        None => old_date,
        Some(d) if d.is_some() && d == old_date => d,
        Some(d) => invoice_date(state, d, None)?,
    };
    let date = match (date, &photo) {
        (None, Some(p)) => invoice_date(state, None, p.qr.as_ref())?,
        (date, _) => date,
    };
    store::lock_invoice_no(&mut tx, state.db.backend, &facts.invoice_no).await?;
    store::check_invoice_no(&mut tx, &facts.invoice_no, Some(invoice_id)).await?;
    if let Some(p) = &photo {
        let size = p.prepared.bytes.len();
        crate::storage::check_quota(&mut tx, &state.settings, user.id, old.case_id.get(), size)
            .await?;
    }
    let file_id = match &photo {
        Some(p) => Some(FileId::new(
            crate::storage::save(
                &mut tx,
                &state.files,
                user.id,
                &p.prepared,
                p.name.as_deref(),
            )
            .await?,
        )),
        None => old.photo_file_id,
    };
    sqlx::query(
        "UPDATE invoices SET invoice_no = $1, total_cents = $2, self_pay_cents = $3, photo_file_id = $4,
         status = $7, reason = NULL, updated_at = $5, invoice_date = $8 WHERE id = $6",
    )
    .bind(&facts.invoice_no)
    .bind(facts.total_cents)
    .bind(facts.self_pay_cents)
    .bind(file_id)
    .bind(now_ms())
    .bind(invoice_id)
    .bind(old.status.apply(InvoiceEvent::StudentEdit)?)
    .bind(date_text(date))
    .execute(&mut *tx)
    .await?;
    if let Some(p) = &photo {
        store::set_invoice_qr(&mut tx, invoice_id, p.qr.as_ref()).await?;
    }
    let v = bump_version(&mut tx, old.case_id).await?;
    let summary = format!("edited, case {} version {v}", old.case_id);
    audit::record(
        &mut tx,
        &user.actor(),
        event("invoice.update", "invoice", invoice_id, summary),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Removes an invoice from a case still being prepared or returned. Review decisions that named
/// it keep their text but lose the link.
pub async fn delete_invoice(
    state: &AppState,
    user: &CurrentUser,
    invoice_id: InvoiceId,
) -> AppResult<()> {
    let mut tx = state.db.begin().await?;
    let old = editable_invoice(&mut tx, user, invoice_id).await?;
    sqlx::query("UPDATE review_decisions SET invoice_id = NULL WHERE invoice_id = $1")
        .bind(invoice_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM invoices WHERE id = $1")
        .bind(invoice_id)
        .execute(&mut *tx)
        .await?;
    let v = bump_version(&mut tx, old.case_id).await?;
    let summary = format!("deleted from case {}, version {v}", old.case_id);
    audit::record(
        &mut tx,
        &user.actor(),
        event("invoice.delete", "invoice", invoice_id, summary),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Rule 3: needs a record photo and an invoice. A resubmitted case goes back to the level that
/// returned it, and invoices the reviewer let the student fix are pending again.
pub async fn submit_case(state: &AppState, user: &CurrentUser, case_id: CaseId) -> AppResult<()> {
    let mut tx = state.db.begin().await?;
    let case = editable_case(&mut tx, user, case_id).await?;
    let counts: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM case_records WHERE case_id = $1), (SELECT COUNT(*) FROM invoices WHERE case_id = $1)",
    )
    .bind(case_id)
    .fetch_one(&mut *tx)
    .await?;
    if counts.0 == 0 || counts.1 == 0 {
        return Err(RuleError::IncompleteCase.into());
    }
    // A returned case goes back to the level that returned it (SPEC §4 rule 6).
    let resubmit = case.status == CaseStatus::Returned;
    let step = if resubmit {
        CaseEvent::Resubmit {
            returned_by: Level::of_review_level(case.review_level),
        }
    } else {
        CaseEvent::Submit
    };
    let status = store::advance(&mut tx, case_id.get(), case.status, step).await??;
    let rejected = InvoiceStatus::Rejected;
    sqlx::query(
        "UPDATE invoices SET status = $2, reason = NULL WHERE case_id = $1 AND status = $3 AND may_edit = 1",
    )
    .bind(case_id)
    .bind(rejected.apply(InvoiceEvent::Resubmit)?)
    .bind(rejected)
    .execute(&mut *tx)
    .await?;
    let now = now_ms();
    let level = Level::of_status(status).unwrap_or(Level::One);
    sqlx::query(
        "UPDATE cases SET review_level = $3, submitted_at = $1,
         first_submitted_at = COALESCE(first_submitted_at, $1) WHERE id = $2",
    )
    .bind(now)
    .bind(case_id)
    .bind(level.as_i64())
    .execute(&mut *tx)
    .await?;
    // Coverage that names an external insurer: the insurer adjudicates instead of staff.
    let insurer = super::routing::route_submission(&mut tx, case_id.get()).await?;
    let v = bump_version(&mut tx, case_id).await?;
    let action = if resubmit {
        "case.resubmit"
    } else {
        "case.submit"
    };
    let payer = insurer.map_or("staff review".to_string(), |i| format!("insurer {i}"));
    let summary = format!("{} invoices, {payer}, version {v}", counts.1);
    audit::record(
        &mut tx,
        &user.actor(),
        event(action, "case", case_id, summary),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
