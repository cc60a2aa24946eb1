//! SQL of the review context. Reads take any executor; writes take the open transaction.

use crate::ids::CaseId;
use crate::money::Cents;
use sqlx::{Any, Executor, FromRow};

use crate::claims::{InvoiceStatus, Level};
use crate::db::{Tx, now_ms};
use crate::invoice_qr::StoredQr;
use crate::invoice_qr::stored::COLUMNS as QR_COLUMNS;

pub use crate::claims::store::CaseRow;

#[derive(Clone, Debug, FromRow)]
pub struct InvoiceRow {
    pub id: i64,
    pub case_id: i64,
    pub invoice_no: String,
    pub total_cents: Cents,
    pub self_pay_cents: Cents,
    pub photo_file_id: Option<i64>,
    pub status: InvoiceStatus,
    #[sqlx(try_from = "crate::seal::SealedOpt")]
    pub reason: Option<String>,
    pub may_edit: i64,
    pub hospital_verified: i64,
    /// 开票日期 `YYYY-MM-DD`, when known (migration 0022).
    pub invoice_date: Option<String>,
    /// What the QR code on the photo said (issue 20).
    #[sqlx(flatten)]
    pub qr: StoredQr,
}

const INVOICE_COLUMNS: &str = "i.id, i.case_id, i.invoice_no, i.total_cents, i.self_pay_cents, i.photo_file_id, \
     i.status, i.reason, i.may_edit, i.hospital_verified, i.invoice_date";

pub async fn find_case<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: i64,
) -> sqlx::Result<Option<CaseRow>> {
    crate::claims::store::find_case(exec, CaseId::new(id), None).await
}

pub async fn find_invoice<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: i64,
) -> sqlx::Result<Option<InvoiceRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {INVOICE_COLUMNS}, {QR_COLUMNS} FROM invoices i WHERE i.id = $1"
    )))
    .bind(id)
    .fetch_optional(exec)
    .await
}

pub async fn invoices_of<'e>(
    exec: impl Executor<'e, Database = Any>,
    case_id: i64,
) -> sqlx::Result<Vec<InvoiceRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {INVOICE_COLUMNS}, {QR_COLUMNS} FROM invoices i WHERE i.case_id = $1 ORDER BY i.id"
    )))
    .bind(case_id)
    .fetch_all(exec)
    .await
}

/// Records a decision on an invoice with its (possibly corrected) figures.
#[allow(clippy::too_many_arguments)]
pub async fn set_invoice_decision(
    tx: &mut Tx,
    id: i64,
    status: InvoiceStatus,
    reason: Option<&str>,
    may_edit: bool,
    invoice_no: &str,
    total_cents: Cents,
    self_pay_cents: Cents,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE invoices SET status = $1, reason = $2, may_edit = $3, invoice_no = $4, total_cents = $5, self_pay_cents = $6, updated_at = $7 WHERE id = $8",
    )
    .bind(status)
    .bind(crate::seal::seal_opt(reason))
    .bind(i64::from(may_edit))
    .bind(invoice_no)
    .bind(total_cents)
    .bind(self_pay_cents)
    .bind(now_ms())
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Approves every pending invoice of a case (a whole-case approval); answers their ids.
pub async fn approve_pending(tx: &mut Tx, case_id: i64) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar("UPDATE invoices SET status = 'approved', reason = NULL, may_edit = 0, updated_at = $1 WHERE case_id = $2 AND status = 'pending' RETURNING id")
        .bind(now_ms())
        .bind(case_id)
        .fetch_all(&mut **tx)
        .await
}

/// Finally rejects every pending invoice of a finally rejected case.
pub async fn reject_pending(tx: &mut Tx, case_id: i64, reason: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE invoices SET status = 'rejected', reason = $1, may_edit = 0, updated_at = $2 WHERE case_id = $3 AND status = 'pending'")
        .bind(crate::seal::seal(reason))
        .bind(now_ms())
        .bind(case_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn set_hospital(
    tx: &mut Tx,
    case_id: i64,
    hospital: &str,
    level: Option<crate::policy::HospitalLevel>,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE cases SET hospital = $1, hospital_level = $2 WHERE id = $3")
        .bind(hospital)
        .bind(level)
        .bind(case_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Remembers where review left a case whose status just changed: the level it awaits or that
/// returned it (`review_level`), and whether the student may edit it. The status itself is
/// written by `claims::store::advance`.
pub async fn set_review_position(
    tx: &mut Tx,
    case_id: i64,
    review_level: Level,
    may_edit: bool,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE cases SET review_level = $1, may_edit = $2, updated_at = $3 WHERE id = $4")
        .bind(review_level.as_i64())
        .bind(i64::from(may_edit))
        .bind(now_ms())
        .bind(case_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn set_reviewer(
    tx: &mut Tx,
    case_id: i64,
    level: Level,
    reviewer: i64,
) -> sqlx::Result<()> {
    let sql = match level {
        Level::One => "UPDATE cases SET reviewer1_id = $1 WHERE id = $2",
        Level::Two => "UPDATE cases SET reviewer2_id = $1 WHERE id = $2",
    };
    sqlx::query(sql)
        .bind(reviewer)
        .bind(case_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Whether `user_id` made any level-1 decision on the case (four eyes at level 2).
pub async fn decided_at_level1(tx: &mut Tx, case_id: i64, user_id: i64) -> sqlx::Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM review_decisions WHERE case_id = $1 AND reviewer_id = $2 AND level = 1",
    )
    .bind(case_id)
    .bind(user_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(n > 0)
}

pub struct NewDecision<'a> {
    pub case_id: i64,
    pub invoice_id: Option<i64>,
    pub reviewer_id: i64,
    pub level: Level,
    pub result: &'a str,
    pub reason: Option<&'a str>,
    pub may_edit: Option<bool>,
    pub changes: Option<String>,
}

pub async fn insert_decision(tx: &mut Tx, d: NewDecision<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO review_decisions (case_id, invoice_id, reviewer_id, level, result, reason, may_edit, changes, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(d.case_id)
    .bind(d.invoice_id)
    .bind(d.reviewer_id)
    .bind(d.level.as_i64())
    .bind(d.result)
    .bind(crate::seal::seal_opt(d.reason))
    .bind(d.may_edit.map(i64::from))
    .bind(d.changes)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[derive(Debug, FromRow)]
pub struct DecisionRow {
    pub id: i64,
    pub invoice_id: Option<i64>,
    pub reviewer: String,
    pub level: i64,
    pub result: String,
    #[sqlx(try_from = "crate::seal::SealedOpt")]
    pub reason: Option<String>,
    pub may_edit: Option<i64>,
    pub changes: Option<String>,
    pub created_at: i64,
}

pub async fn decisions_of<'e>(
    exec: impl Executor<'e, Database = Any>,
    case_id: i64,
) -> sqlx::Result<Vec<DecisionRow>> {
    sqlx::query_as(
        "SELECT d.id, d.invoice_id, u.username AS reviewer, d.level, d.result, d.reason, d.may_edit, d.changes, d.created_at
         FROM review_decisions d JOIN users u ON u.id = d.reviewer_id WHERE d.case_id = $1 ORDER BY d.id",
    )
    .bind(case_id)
    .fetch_all(exec)
    .await
}

/// Blacklists every invoice number of the case for its student (rule 5).
pub async fn blacklist_case(
    tx: &mut Tx,
    case_id: i64,
    student_id: i64,
    by: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO blacklist (user_id, invoice_no, case_id, created_by, created_at)
         SELECT DISTINCT $1, invoice_no, $2, $3, $4 FROM invoices WHERE case_id = $2
         ON CONFLICT (user_id, invoice_no) DO NOTHING",
    )
    .bind(student_id)
    .bind(case_id)
    .bind(by)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What the student already used this coverage year, from their other approved cases.
pub async fn year_usage(
    tx: &mut Tx,
    student_id: i64,
    coverage_year: i64,
    except_case: i64,
) -> sqlx::Result<crate::policy::YearUsage> {
    let (deductible, paid): (Cents, Cents) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(deductible_used_cents), 0) AS BIGINT), CAST(COALESCE(SUM(payout_cents), 0) AS BIGINT)
         FROM cases WHERE student_id = $1 AND coverage_year = $2 AND id <> $3
           AND status IN ('approved', 'booked', 'completed', 'paid')",
    )
    .bind(student_id)
    .bind(coverage_year)
    .bind(except_case)
    .fetch_one(&mut **tx)
    .await?;
    Ok(crate::policy::YearUsage {
        deductible_used_cents: deductible,
        paid_cents: paid,
    })
}

pub async fn store_payout(
    tx: &mut Tx,
    case_id: i64,
    b: &crate::policy::PayoutBreakdown,
) -> sqlx::Result<()> {
    let json = serde_json::to_string(b).unwrap_or_default();
    sqlx::query(
        "UPDATE cases SET payout_cents = $1, deductible_used_cents = $2, policy_version = $3, payout_breakdown = $4, approved_at = $5 WHERE id = $6",
    )
    .bind(b.payout_cents)
    .bind(b.deductible_used_cents)
    .bind(b.policy_version)
    .bind(json)
    .bind(now_ms())
    .bind(case_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A reopened case's payout is superseded (the decision log keeps the old figures).
pub async fn clear_payout(tx: &mut Tx, case_id: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE cases SET payout_cents = NULL, deductible_used_cents = NULL, policy_version = NULL, payout_breakdown = NULL, approved_at = NULL WHERE id = $1")
        .bind(case_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn student_of<'e>(
    exec: impl Executor<'e, Database = Any>,
    user_id: i64,
) -> sqlx::Result<(String, String)> {
    sqlx::query_as("SELECT username, name FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(exec)
        .await
}

/// Student id (学号) and name of each of the people `ids`.
pub async fn students_of<'e>(
    exec: impl Executor<'e, Database = Any>,
    ids: &[i64],
) -> sqlx::Result<std::collections::HashMap<i64, (String, String)>> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let sql = format!(
        "SELECT id, username, name FROM users WHERE id IN ({})",
        crate::claims::store::placeholders(ids.len())
    );
    let mut query = sqlx::query_as::<_, (i64, String, String)>(sqlx::AssertSqlSafe(sql));
    for id in ids {
        query = query.bind(*id);
    }
    Ok(query
        .fetch_all(exec)
        .await?
        .into_iter()
        .map(|(id, username, name)| (id, (username, name)))
        .collect())
}

#[derive(Debug, FromRow)]
pub struct QueueRow {
    pub id: i64,
    pub student_id: i64,
    pub student_username: String,
    pub student_name: String,
    pub hospital: String,
    pub hospital_level: Option<i64>,
    pub visit_date: String,
    pub submitted_at: i64,
    pub version: i64,
    pub invoice_count: i64,
    pub total_cents: Cents,
}

/// One page of the queue for `status`, oldest (re)submission first, after the keyset
/// `(submitted_at, id)`; served by `cases_queue_idx (status, submitted_at, id)`.
pub async fn queue<'e>(
    exec: impl Executor<'e, Database = Any>,
    status: &str,
    after: (i64, i64),
    limit: i64,
) -> sqlx::Result<Vec<QueueRow>> {
    sqlx::query_as(
        "SELECT c.id, c.student_id, u.username AS student_username, u.name AS student_name, c.hospital, c.hospital_level,
                c.visit_date, c.submitted_at, c.version,
                (SELECT COUNT(*) FROM invoices i WHERE i.case_id = c.id) AS invoice_count,
                (SELECT CAST(COALESCE(SUM(i.total_cents), 0) AS BIGINT) FROM invoices i WHERE i.case_id = c.id) AS total_cents
         FROM cases c JOIN users u ON u.id = c.student_id
         WHERE c.status = $1 AND c.submitted_at IS NOT NULL AND c.insurer_id IS NULL
           AND (c.submitted_at > $2 OR (c.submitted_at = $2 AND c.id > $3))
         ORDER BY c.submitted_at, c.id LIMIT $4",
    )
    .bind(status)
    .bind(after.0)
    .bind(after.1)
    .bind(limit)
    .fetch_all(exec)
    .await
}

/// (cases waiting, oldest submission time).
pub async fn queue_stats<'e>(
    exec: impl Executor<'e, Database = Any>,
    status: &str,
    limit: i64,
) -> sqlx::Result<(i64, Option<i64>)> {
    sqlx::query_as(
        // The queue's own conditions, so both are read from its partial index alone
        // (migration 0023): the oldest is its first entry, and the count stops at `limit`.
        "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM cases
                   WHERE status = $1 AND insurer_id IS NULL AND submitted_at IS NOT NULL
                   LIMIT $2) AS counted),
                (SELECT MIN(submitted_at) FROM cases
                  WHERE status = $1 AND insurer_id IS NULL AND submitted_at IS NOT NULL)",
    )
    .bind(status)
    .bind(limit)
    .fetch_one(exec)
    .await
}
