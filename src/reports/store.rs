//! SQL for the exports: rows come as streams (`fetch`), never as one big vector.

use crate::money::Cents;
use futures_util::stream::BoxStream;
use sqlx::AnyPool;

use super::domain::DateRange;

/// The case statuses that count as approved for payout (`CaseStatus::is_approved`).
const APPROVED: &str = "c.status IN ('approved', 'booked', 'completed', 'paid')";

/// One approved invoice of an approved case, with its student.
#[derive(Debug, sqlx::FromRow)]
pub struct PayoutRow {
    pub case_id: i64,
    pub student_id: i64,
    pub username: String,
    pub name: String,
    pub class_name: Option<String>,
    pub phone_enc: Option<String>,
    pub id_number_enc: Option<String>,
    pub hospital: String,
    pub hospital_level: Option<i64>,
    pub visit_date: String,
    pub status: crate::claims::CaseStatus,
    pub payout_cents: Option<Cents>,
    pub approved_at: i64,
    pub handed_in_at: Option<i64>,
    pub invoice_no: String,
    pub total_cents: Cents,
    pub self_pay_cents: Cents,
    pub invoice_date: Option<String>,
}

/// Approved invoices of cases approved in `range`, by approval time, case and invoice.
pub fn payout_rows<'a>(
    pool: &'a AnyPool,
    range: &DateRange,
) -> BoxStream<'a, Result<PayoutRow, sqlx::Error>> {
    let sql = format!(
        "SELECT c.id AS case_id, c.student_id, u.username, u.name, u.class_name, u.phone_enc,
                u.id_number_enc, c.hospital, c.hospital_level, c.visit_date, c.status,
                c.payout_cents, c.approved_at, c.handed_in_at,
                i.invoice_no, i.total_cents, i.self_pay_cents, i.invoice_date
         FROM cases c
         JOIN users u ON u.id = c.student_id
         JOIN invoices i ON i.case_id = c.id AND i.status = 'approved'
         WHERE {APPROVED} AND c.approved_at >= $1 AND c.approved_at < $2
         ORDER BY c.approved_at, c.id, i.id"
    );
    sqlx::query_as::<_, PayoutRow>(sqlx::AssertSqlSafe(sql))
        .bind(range.start_ms)
        .bind(range.end_ms)
        .fetch(pool)
}

/// One approved case with its approved invoices summed.
#[derive(Debug, sqlx::FromRow)]
pub struct CaseSumsRow {
    pub hospital: String,
    pub hospital_level: Option<i64>,
    pub approved_at: i64,
    pub payout_cents: Option<Cents>,
    pub invoices: i64,
    pub total_cents: Cents,
    pub self_pay_cents: Cents,
}

/// Approved cases in `range`, each with the count and sums of its approved invoices.
pub fn case_sums<'a>(
    pool: &'a AnyPool,
    range: &DateRange,
) -> BoxStream<'a, Result<CaseSumsRow, sqlx::Error>> {
    let sql = format!(
        "SELECT c.hospital, c.hospital_level, c.approved_at, c.payout_cents,
                COUNT(i.id) AS invoices,
                CAST(COALESCE(SUM(i.total_cents), 0) AS BIGINT) AS total_cents,
                CAST(COALESCE(SUM(i.self_pay_cents), 0) AS BIGINT) AS self_pay_cents
         FROM cases c
         LEFT JOIN invoices i ON i.case_id = c.id AND i.status = 'approved'
         WHERE {APPROVED} AND c.approved_at >= $1 AND c.approved_at < $2
         GROUP BY c.id, c.hospital, c.hospital_level, c.approved_at, c.payout_cents"
    );
    sqlx::query_as::<_, CaseSumsRow>(sqlx::AssertSqlSafe(sql))
        .bind(range.start_ms)
        .bind(range.end_ms)
        .fetch(pool)
}
