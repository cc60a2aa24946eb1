//! SQL shared by everything that changes a case.

use super::domain::InvoiceNo;
use super::lifecycle::{CaseEvent, TransitionError};
use super::{CaseStatus, InvoiceStatus};
use crate::db::{Tx, now_ms};
use crate::ids::{CaseId, FileId, InvoiceId, RecordId};
use crate::invoice_qr::stored::COLUMNS as QR_COLUMNS;
use crate::invoice_qr::{InvoiceQr, StoredQr};
use crate::money::Cents;

/// Every change to a case or any of its invoices bumps the case's `version` (SPEC §4 rule 8),
/// so a reviewer deciding on a stale view is refused. Call it in the changing transaction.
pub async fn bump_version(tx: &mut Tx, case_id: CaseId) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "UPDATE cases SET version = version + 1, updated_at = $1 WHERE id = $2 RETURNING version",
    )
    .bind(now_ms())
    .bind(case_id)
    .fetch_one(&mut **tx)
    .await
}

/// Bumps the version only when it still is `expected`; `None` means someone changed the case
/// in between (answer 409 `stale`).
pub async fn bump_version_if(
    tx: &mut Tx,
    case_id: CaseId,
    expected: i64,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("UPDATE cases SET version = version + 1, updated_at = $1 WHERE id = $2 AND version = $3 RETURNING version")
        .bind(now_ms())
        .bind(case_id)
        .bind(expected)
        .fetch_optional(&mut **tx)
        .await
}

/// The one writer of `cases.status`: applies `event` to the case the caller read in status
/// `from` (SPEC §4 via `CaseStatus::apply`) and writes the new status only while the row is
/// still in `from`, so of two concurrent writers exactly one wins. A refusal writes nothing and
/// names the case's current state (e.g. `already_booked` when a racing booking won); the outer
/// error is the database's. The version is the caller's to bump, once per change.
pub async fn advance(
    tx: &mut Tx,
    case_id: i64,
    from: CaseStatus,
    event: CaseEvent,
) -> sqlx::Result<Result<CaseStatus, TransitionError>> {
    let to = match from.apply(event) {
        Ok(to) => to,
        Err(refused) => return Ok(Err(refused)),
    };
    let written =
        sqlx::query("UPDATE cases SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4")
            .bind(to)
            .bind(now_ms())
            .bind(case_id)
            .bind(from)
            .execute(&mut **tx)
            .await?;
    if written.rows_affected() == 1 {
        return Ok(Ok(to));
    }
    let now: Option<CaseStatus> = sqlx::query_scalar("SELECT status FROM cases WHERE id = $1")
        .bind(case_id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(Err(match now.map(|s| s.apply(event)) {
        Some(Err(refused)) => refused,
        _ => TransitionError::Stale,
    }))
}

/// A case row as the student, staff and the insurer connector see it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CaseRow {
    pub id: CaseId,
    pub student_id: i64,
    pub hospital: String,
    pub hospital_level: Option<crate::policy::HospitalLevel>,
    /// Sealed at rest (`crate::seal`), like every medical text.
    #[sqlx(try_from = "crate::seal::Sealed")]
    pub reason: String,
    pub visit_date: String,
    pub coverage_year: i64,
    pub status: CaseStatus,
    pub review_level: i64,
    pub may_edit: i64,
    pub payout_cents: Option<Cents>,
    pub deductible_used_cents: Option<Cents>,
    pub policy_version: Option<i64>,
    /// JSON of the `PayoutBreakdown` stored at final approval.
    pub payout_breakdown: Option<String>,
    pub reviewer1_id: Option<i64>,
    pub reviewer2_id: Option<i64>,
    pub version: i64,
    pub created_at: i64,
    pub first_submitted_at: Option<i64>,
    pub submitted_at: Option<i64>,
    pub updated_at: i64,
    pub approved_at: Option<i64>,
    pub handed_in_at: Option<i64>,
    /// `student` (typed in) or `hospital` (claimed from a pushed visit).
    pub source: String,
    pub visit_id: Option<i64>,
    #[sqlx(try_from = "crate::seal::SealedOpt")]
    pub diagnosis_code: Option<String>,
    /// The external insurer that adjudicates and pays this case (set on submit).
    pub insurer_id: Option<i64>,
    pub paid_at: Option<i64>,
}

impl CaseRow {
    /// The student may change the case itself (rule 3).
    pub fn student_may_edit(&self) -> bool {
        self.status.student_may_edit() && self.may_edit == 1
    }
}

const CASE_COLUMNS: &str = "id, student_id, hospital, hospital_level, reason, visit_date, coverage_year, status, \
     review_level, may_edit, payout_cents, deductible_used_cents, policy_version, payout_breakdown, reviewer1_id, reviewer2_id, version, created_at, first_submitted_at, submitted_at, updated_at, \
     approved_at, handed_in_at, source, visit_id, diagnosis_code, insurer_id, paid_at";

/// A case, when `viewer` owns it or is staff (`None` = any owner). Another student's case is
/// simply not found.
pub async fn find_case<'e>(
    exec: impl sqlx::Executor<'e, Database = sqlx::Any>,
    id: CaseId,
    owner: Option<i64>,
) -> sqlx::Result<Option<CaseRow>> {
    sqlx::query_as::<_, CaseRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {CASE_COLUMNS} FROM cases WHERE id = $1 AND ($2 = 0 OR student_id = $2)"
    )))
    .bind(id)
    .bind(owner.unwrap_or(0))
    .fetch_optional(exec)
    .await
}

/// The cases `ids` (any owner: the caller has authorised the reader), in no particular order.
pub async fn cases_by_ids<'e>(
    exec: impl sqlx::Executor<'e, Database = sqlx::Any>,
    ids: &[CaseId],
) -> sqlx::Result<Vec<CaseRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {CASE_COLUMNS} FROM cases WHERE id IN ({})",
        placeholders(ids.len())
    );
    let mut query = sqlx::query_as::<_, CaseRow>(sqlx::AssertSqlSafe(sql));
    for id in ids {
        query = query.bind(*id);
    }
    query.fetch_all(exec).await
}

/// The student's cases, newest first, keyset by id.
pub async fn list_cases<'e>(
    exec: impl sqlx::Executor<'e, Database = sqlx::Any>,
    owner: i64,
    before_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<CaseRow>> {
    sqlx::query_as::<_, CaseRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {CASE_COLUMNS} FROM cases WHERE student_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
    )))
    .bind(owner)
    .bind(before_id)
    .bind(limit)
    .fetch_all(exec)
    .await
}

/// Every case staff may read, newest first, keyset by id: all but other people's drafts.
pub async fn list_visible<'e>(
    exec: impl sqlx::Executor<'e, Database = sqlx::Any>,
    viewer: i64,
    before_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<CaseRow>> {
    sqlx::query_as::<_, CaseRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {CASE_COLUMNS} FROM cases WHERE id < $1 AND (status <> 'draft' OR student_id = $2)
         ORDER BY id DESC LIMIT $3"
    )))
    .bind(before_id)
    .bind(viewer)
    .bind(limit)
    .fetch_all(exec)
    .await
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct InvoiceRow {
    pub id: InvoiceId,
    pub case_id: CaseId,
    pub invoice_no: InvoiceNo,
    pub total_cents: Cents,
    pub self_pay_cents: Cents,
    pub photo_file_id: Option<FileId>,
    pub status: InvoiceStatus,
    #[sqlx(try_from = "crate::seal::SealedOpt")]
    pub reason: Option<String>,
    pub may_edit: i64,
    pub created_at: i64,
    /// 开票日期 `YYYY-MM-DD`, when known (migration 0022).
    pub invoice_date: Option<String>,
    #[sqlx(flatten)]
    pub qr: StoredQr,
}

const INVOICE_COLUMNS: &str = "i.id, i.case_id, i.invoice_no, i.total_cents, i.self_pay_cents, i.photo_file_id, \
     i.status, i.reason, i.may_edit, i.created_at, i.invoice_date";

/// Keeps what the QR code of an invoice's new photo says (`None`: no readable code).
pub async fn set_invoice_qr(
    tx: &mut Tx,
    id: InvoiceId,
    qr: Option<&InvoiceQr>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE invoices SET qr_kind = $2, qr_code = $3, qr_number = $4, qr_amount_cents = $5,
         qr_date = $6, qr_check_code = $7, qr_raw = $8 WHERE id = $1",
    )
    .bind(id)
    .bind(qr.map(|q| q.kind.as_str()))
    .bind(qr.and_then(|q| q.code.clone()))
    .bind(qr.and_then(|q| q.number.clone()))
    .bind(qr.and_then(|q| q.amount_cents).map(Cents::get))
    .bind(qr.and_then(|q| q.date.clone()))
    .bind(qr.and_then(|q| q.check_code.clone()))
    .bind(qr.map(|q| q.raw.clone()))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn invoices_of<'e>(
    exec: impl sqlx::Executor<'e, Database = sqlx::Any>,
    case_id: CaseId,
) -> sqlx::Result<Vec<InvoiceRow>> {
    sqlx::query_as::<_, InvoiceRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {INVOICE_COLUMNS}, {QR_COLUMNS} FROM invoices i WHERE i.case_id = $1 ORDER BY i.id"
    )))
    .bind(case_id)
    .fetch_all(exec)
    .await
}

/// An invoice whose case belongs to `owner` (`None` = any owner).
pub async fn find_invoice<'e>(
    exec: impl sqlx::Executor<'e, Database = sqlx::Any>,
    id: InvoiceId,
    owner: Option<i64>,
) -> sqlx::Result<Option<InvoiceRow>> {
    sqlx::query_as::<_, InvoiceRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {INVOICE_COLUMNS}, {QR_COLUMNS} FROM invoices i JOIN cases c ON c.id = i.case_id
         WHERE i.id = $1 AND ($2 = 0 OR c.student_id = $2)"
    )))
    .bind(id)
    .bind(owner.unwrap_or(0))
    .fetch_optional(exec)
    .await
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RecordRow {
    pub case_id: CaseId,
    pub id: RecordId,
    pub file_id: FileId,
    pub mime: String,
    pub created_at: i64,
}

pub(crate) use crate::db::placeholders;

/// The records of the cases `ids`, in order of upload: one query for a whole list of cases.
pub async fn records_of_cases<'e>(
    exec: impl sqlx::Executor<'e, Database = sqlx::Any>,
    ids: &[CaseId],
) -> sqlx::Result<Vec<RecordRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT r.case_id, r.id, r.file_id, f.mime, r.created_at FROM case_records r JOIN files f ON f.id = r.file_id
         WHERE r.case_id IN ({}) ORDER BY r.id",
        placeholders(ids.len())
    );
    let mut query = sqlx::query_as::<_, RecordRow>(sqlx::AssertSqlSafe(sql));
    for id in ids {
        query = query.bind(*id);
    }
    query.fetch_all(exec).await
}

/// An invoice with the type of its photo (for the view's photo link).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct InvoiceWithPhoto {
    #[sqlx(flatten)]
    pub invoice: InvoiceRow,
    pub photo_mime: Option<String>,
}

/// The invoices of the cases `ids` with their photos' types, in order of entry.
pub async fn invoices_of_cases<'e>(
    exec: impl sqlx::Executor<'e, Database = sqlx::Any>,
    ids: &[CaseId],
) -> sqlx::Result<Vec<InvoiceWithPhoto>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {INVOICE_COLUMNS}, {QR_COLUMNS}, f.mime AS photo_mime FROM invoices i
         LEFT JOIN files f ON f.id = i.photo_file_id WHERE i.case_id IN ({}) ORDER BY i.id",
        placeholders(ids.len())
    );
    let mut query = sqlx::query_as::<_, InvoiceWithPhoto>(sqlx::AssertSqlSafe(sql));
    for id in ids {
        query = query.bind(*id);
    }
    query.fetch_all(exec).await
}

/// Whether the student is covered in `year` (rule 1).
pub async fn is_covered(tx: &mut Tx, user_id: i64, year: i64) -> sqlx::Result<bool> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM coverage WHERE user_id = $1 AND year = $2")
            .bind(user_id)
            .bind(year)
            .fetch_one(&mut **tx)
            .await?;
    Ok(n > 0)
}

/// Serialises checks of one invoice number across concurrent transactions, so two claims can
/// never both pass the duplicate check. SQLite already has one writer at a time; PostgreSQL
/// takes a transaction-scoped advisory lock keyed by the number.
pub async fn lock_invoice_no(
    tx: &mut Tx,
    backend: crate::db::Backend,
    invoice_no: &InvoiceNo,
) -> sqlx::Result<()> {
    if backend == crate::db::Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock(4242003, hashtext($1))")
            .bind(invoice_no.as_str())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Rule 2 lookups: blacklisted for anyone, or in another active claim of anyone (an invoice
/// other than `except_invoice`, the one being edited).
pub async fn check_invoice_no(
    tx: &mut Tx,
    invoice_no: &InvoiceNo,
    except_invoice: Option<InvoiceId>,
) -> Result<(), super::domain::RuleError> {
    use super::domain::RuleError;
    let black: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM blacklist WHERE invoice_no = $1")
        .bind(invoice_no.as_str())
        .fetch_one(&mut **tx)
        .await
        .map_err(|_| RuleError::BlacklistedInvoice)?;
    if black > 0 {
        return Err(RuleError::BlacklistedInvoice);
    }
    let dup: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM invoices i JOIN cases c ON c.id = i.case_id
         WHERE i.invoice_no = $1 AND i.id <> $2 AND c.status NOT IN ('withdrawn', 'rejected')",
    )
    .bind(invoice_no.as_str())
    .bind(except_invoice.map_or(0, InvoiceId::get))
    .fetch_one(&mut **tx)
    .await
    .map_err(|_| RuleError::DuplicateInvoice)?;
    if dup > 0 {
        return Err(RuleError::DuplicateInvoice);
    }
    Ok(())
}

/// A case that counts against its student's year (approved, booked, completed or paid).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CountedCase {
    pub id: CaseId,
    pub student_id: i64,
    pub coverage_year: i64,
    pub deductible_used_cents: Option<Cents>,
    pub payout_cents: Option<Cents>,
}

/// The cases that count against the years of the students `students` (SPEC §4 rule 10); a
/// case's year usage is the sum over the others of its student and year
/// ([`year_usage_from`]).
pub async fn counted_cases_of<'e>(
    exec: impl sqlx::Executor<'e, Database = sqlx::Any>,
    students: &[i64],
) -> sqlx::Result<Vec<CountedCase>> {
    if students.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT id, student_id, coverage_year, deductible_used_cents, payout_cents FROM cases
         WHERE student_id IN ({}) AND status IN ('approved', 'booked', 'completed', 'paid')",
        placeholders(students.len())
    );
    let mut query = sqlx::query_as::<_, CountedCase>(sqlx::AssertSqlSafe(sql));
    for id in students {
        query = query.bind(*id);
    }
    query.fetch_all(exec).await
}

/// What the student's other counted cases of the year used: the deductible and the payouts.
pub fn year_usage_from(counted: &[CountedCase], case: &CaseRow) -> crate::policy::YearUsage {
    let others = counted.iter().filter(|c| {
        c.student_id == case.student_id && c.coverage_year == case.coverage_year && c.id != case.id
    });
    let sum = |f: fn(&CountedCase) -> Option<Cents>| {
        Cents::checked_sum(others.clone().filter_map(f)).expect("payouts are bounded at approval")
    };
    crate::policy::YearUsage {
        deductible_used_cents: sum(|c| c.deductible_used_cents),
        paid_cents: sum(|c| c.payout_cents),
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DecisionRow {
    pub case_id: CaseId,
    pub level: i64,
    pub result: String,
    #[sqlx(try_from = "crate::seal::SealedOpt")]
    pub reason: Option<String>,
    pub invoice_no: Option<String>,
    pub created_at: i64,
}

/// Review decisions on the cases `ids`, oldest first, for the timelines.
pub async fn decisions_of_cases<'e>(
    exec: impl sqlx::Executor<'e, Database = sqlx::Any>,
    ids: &[CaseId],
) -> sqlx::Result<Vec<DecisionRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT d.case_id, d.level, d.result, d.reason, i.invoice_no, d.created_at FROM review_decisions d
         LEFT JOIN invoices i ON i.id = d.invoice_id WHERE d.case_id IN ({}) ORDER BY d.id",
        placeholders(ids.len())
    );
    let mut query = sqlx::query_as::<_, DecisionRow>(sqlx::AssertSqlSafe(sql));
    for id in ids {
        query = query.bind(*id);
    }
    query.fetch_all(exec).await
}
