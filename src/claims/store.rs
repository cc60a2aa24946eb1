//! SQL shared by everything that changes a case.

use crate::db::{Tx, now_ms};

/// Every change to a case or any of its invoices bumps the case's `version` (SPEC §4 rule 8),
/// so a reviewer deciding on a stale view is refused. Call it in the changing transaction.
pub async fn bump_version(tx: &mut Tx, case_id: i64) -> sqlx::Result<i64> {
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
    case_id: i64,
    expected: i64,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("UPDATE cases SET version = version + 1, updated_at = $1 WHERE id = $2 AND version = $3 RETURNING version")
        .bind(now_ms())
        .bind(case_id)
        .bind(expected)
        .fetch_optional(&mut **tx)
        .await
}

/// A case row as the student, staff and the insurer connector see it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CaseRow {
    pub id: i64,
    pub student_id: i64,
    pub hospital: String,
    pub hospital_level: Option<i64>,
    pub reason: String,
    pub visit_date: String,
    pub coverage_year: i64,
    pub status: String,
    pub review_level: i64,
    pub may_edit: i64,
    pub payout_cents: Option<i64>,
    pub deductible_used_cents: Option<i64>,
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
    pub diagnosis_code: Option<String>,
    /// The external insurer that adjudicates and pays this case (set on submit).
    pub insurer_id: Option<i64>,
    pub paid_at: Option<i64>,
}

impl CaseRow {
    pub fn status(&self) -> super::CaseStatus {
        super::CaseStatus::parse(&self.status).unwrap_or(super::CaseStatus::Draft)
    }
    /// The student may change the case itself (rule 3).
    pub fn student_may_edit(&self) -> bool {
        self.status().student_may_edit() && self.may_edit == 1
    }
}

const CASE_COLUMNS: &str = "id, student_id, hospital, hospital_level, reason, visit_date, coverage_year, status, \
     review_level, may_edit, payout_cents, deductible_used_cents, policy_version, payout_breakdown, reviewer1_id, reviewer2_id, version, created_at, first_submitted_at, submitted_at, updated_at, \
     approved_at, handed_in_at, source, visit_id, diagnosis_code, insurer_id, paid_at";

/// A case, when `viewer` owns it or is staff (`None` = any owner). Another student's case is
/// simply not found.
pub async fn find_case<'e>(
    exec: impl sqlx::Executor<'e, Database = sqlx::Any>,
    id: i64,
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

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct InvoiceRow {
    pub id: i64,
    pub case_id: i64,
    pub invoice_no: String,
    pub total_cents: i64,
    pub self_pay_cents: i64,
    pub photo_file_id: Option<i64>,
    pub status: String,
    pub reason: Option<String>,
    pub may_edit: i64,
    pub created_at: i64,
}

const INVOICE_COLUMNS: &str = "i.id, i.case_id, i.invoice_no, i.total_cents, i.self_pay_cents, i.photo_file_id, \
     i.status, i.reason, i.may_edit, i.created_at";

pub async fn invoices_of<'e>(
    exec: impl sqlx::Executor<'e, Database = sqlx::Any>,
    case_id: i64,
) -> sqlx::Result<Vec<InvoiceRow>> {
    sqlx::query_as::<_, InvoiceRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {INVOICE_COLUMNS} FROM invoices i WHERE i.case_id = $1 ORDER BY i.id"
    )))
    .bind(case_id)
    .fetch_all(exec)
    .await
}

/// An invoice whose case belongs to `owner` (`None` = any owner).
pub async fn find_invoice<'e>(
    exec: impl sqlx::Executor<'e, Database = sqlx::Any>,
    id: i64,
    owner: Option<i64>,
) -> sqlx::Result<Option<InvoiceRow>> {
    sqlx::query_as::<_, InvoiceRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {INVOICE_COLUMNS} FROM invoices i JOIN cases c ON c.id = i.case_id
         WHERE i.id = $1 AND ($2 = 0 OR c.student_id = $2)"
    )))
    .bind(id)
    .bind(owner.unwrap_or(0))
    .fetch_optional(exec)
    .await
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RecordRow {
    pub id: i64,
    pub file_id: i64,
    pub mime: String,
    pub created_at: i64,
}

pub async fn records_of<'e>(
    exec: impl sqlx::Executor<'e, Database = sqlx::Any>,
    case_id: i64,
) -> sqlx::Result<Vec<RecordRow>> {
    sqlx::query_as::<_, RecordRow>(
        "SELECT r.id, r.file_id, f.mime, r.created_at FROM case_records r JOIN files f ON f.id = r.file_id
         WHERE r.case_id = $1 ORDER BY r.id",
    )
    .bind(case_id)
    .fetch_all(exec)
    .await
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
    invoice_no: &str,
) -> sqlx::Result<()> {
    if backend == crate::db::Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock(4242003, hashtext($1))")
            .bind(invoice_no)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Rule 2 lookups: blacklisted for anyone, or in another active claim of anyone (an invoice
/// other than `except_invoice`).
pub async fn check_invoice_no(
    tx: &mut Tx,
    invoice_no: &str,
    except_invoice: i64,
) -> Result<(), super::domain::RuleError> {
    use super::domain::RuleError;
    let black: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM blacklist WHERE invoice_no = $1")
        .bind(invoice_no)
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
    .bind(invoice_no)
    .bind(except_invoice)
    .fetch_one(&mut **tx)
    .await
    .map_err(|_| RuleError::DuplicateInvoice)?;
    if dup > 0 {
        return Err(RuleError::DuplicateInvoice);
    }
    Ok(())
}

/// What the student already used of the year's deductible and cap, from their other approved
/// cases of the same coverage year.
pub async fn year_usage<'e>(
    exec: impl sqlx::Executor<'e, Database = sqlx::Any>,
    student_id: i64,
    coverage_year: i64,
    except_case: i64,
) -> sqlx::Result<crate::policy::YearUsage> {
    let row: (i64, i64) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(deductible_used_cents), 0) AS BIGINT), CAST(COALESCE(SUM(payout_cents), 0) AS BIGINT)
         FROM cases WHERE student_id = $1 AND coverage_year = $2 AND id <> $3
         AND status IN ('approved', 'booked', 'completed')",
    )
    .bind(student_id)
    .bind(coverage_year)
    .bind(except_case)
    .fetch_one(exec)
    .await?;
    Ok(crate::policy::YearUsage {
        deductible_used_cents: row.0,
        paid_cents: row.1,
    })
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DecisionRow {
    pub level: i64,
    pub result: String,
    pub reason: Option<String>,
    pub invoice_no: Option<String>,
    pub created_at: i64,
}

/// Review decisions on a case, oldest first, for the timeline.
pub async fn decisions_of<'e>(
    exec: impl sqlx::Executor<'e, Database = sqlx::Any>,
    case_id: i64,
) -> sqlx::Result<Vec<DecisionRow>> {
    sqlx::query_as::<_, DecisionRow>(
        "SELECT d.level, d.result, d.reason, i.invoice_no, d.created_at FROM review_decisions d
         LEFT JOIN invoices i ON i.id = d.invoice_id WHERE d.case_id = $1 ORDER BY d.id",
    )
    .bind(case_id)
    .fetch_all(exec)
    .await
}
