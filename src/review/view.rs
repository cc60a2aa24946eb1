//! A case as staff see it: fields, invoices, record photos, the decision log and the flags.

use crate::ids::CaseId;
use crate::money::Cents;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::flags::{self, Flag};
use super::store;
use crate::claims::{CaseStatus, InvoiceStatus};
use crate::http::web::rfc3339;
use crate::http::{AppError, AppResult, AppState};
use crate::invoice_qr::InvoiceQr;
use crate::invoice_qr::compare::QrDifference;
use crate::policy::PayoutBreakdown;

#[derive(Serialize, ToSchema)]
pub struct StudentRef {
    pub id: i64,
    /// Student id (学号).
    pub username: String,
    pub name: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = ReviewInvoiceView)]
pub struct InvoiceView {
    pub id: i64,
    pub invoice_no: String,
    pub total_cents: Cents,
    pub self_pay_cents: Cents,
    /// total − self-paid.
    pub covered_cents: Cents,
    /// 开票日期 `YYYY-MM-DD`, when known.
    #[schema(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub invoice_date: Option<String>,
    pub status: InvoiceStatus,
    pub reason: Option<String>,
    pub may_edit: bool,
    pub photo_file_id: Option<i64>,
    /// The invoice file is a PDF (an e-invoice), shown as a link rather than a photo.
    pub photo_pdf: bool,
    pub hospital_verified: bool,
    /// What the QR code on the photo says, when it has a readable one.
    pub qr: Option<InvoiceQr>,
    /// Where the typed invoice differs from its QR code (number, total, invoice date) and an
    /// invoice date far from the visit; empty with a `qr` means "QR matches".
    pub qr_differences: Vec<QrDifference>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = ReviewRecordView)]
pub struct RecordView {
    pub id: i64,
    pub file_id: i64,
    /// `image/jpeg`, `image/png` or `application/pdf`.
    pub mime: String,
}

#[derive(Serialize, ToSchema)]
pub struct DecisionView {
    pub id: i64,
    pub invoice_id: Option<i64>,
    /// Login name of the reviewer.
    pub reviewer: String,
    pub level: i64,
    /// `approve`, `reject`, `correct` or `reopen`.
    pub result: String,
    pub reason: Option<String>,
    pub may_edit: Option<bool>,
    /// Corrections, `{"field": {"old": …, "new": …}}`.
    #[schema(value_type = Option<Object>)]
    pub changes: Option<Value>,
    /// RFC 3339.
    pub at: String,
}

#[derive(Serialize, ToSchema)]
pub struct CaseDetail {
    pub id: i64,
    pub status: CaseStatus,
    /// The level the case awaits, or the level that returned it.
    pub review_level: i64,
    pub may_edit: bool,
    /// Send it back with every decision (rule 8).
    pub version: i64,
    pub student: StudentRef,
    pub hospital: String,
    pub hospital_level: Option<crate::policy::HospitalLevel>,
    pub reason: String,
    pub visit_date: String,
    pub coverage_year: i64,
    pub submitted_at: Option<String>,
    pub updated_at: String,
    pub approved_at: Option<String>,
    pub payout_cents: Option<Cents>,
    pub policy_version: Option<i64>,
    pub payout_breakdown: Option<PayoutBreakdown>,
    /// `student` or `hospital` (claimed from a pushed visit, data verified by the hospital).
    pub source: String,
    /// An external insurer adjudicates this case: staff do not decide it.
    pub insurer_id: Option<i64>,
    /// The hospital's fee lines (cases claimed from a visit): what stands in for photos.
    pub fee_lines: Vec<crate::claims::view::FeeLineView>,
    pub invoices: Vec<InvoiceView>,
    pub records: Vec<RecordView>,
    pub decisions: Vec<DecisionView>,
    pub flags: Vec<Flag>,
    /// The hospital against the designated list; null when the office keeps no list.
    pub hospital_check: Option<crate::hospitals::HospitalCheck>,
}

pub async fn case_detail(state: &AppState, case_id: i64) -> AppResult<CaseDetail> {
    let pool = &state.db.pool;
    // A draft is the student's alone until submitted.
    let case = store::find_case(pool, case_id)
        .await?
        .filter(|c| c.status != crate::claims::CaseStatus::Draft)
        .ok_or_else(AppError::not_found)?;
    let invoices = store::invoices_of(pool, case_id).await?;
    let visit_date = case.visit_date.clone();
    let flags = flags::for_case(pool, &case, &invoices).await?;
    let (username, name) = store::student_of(pool, case.student_id).await?;
    let records: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT r.id, r.file_id, f.mime FROM case_records r JOIN files f ON f.id = r.file_id
         WHERE r.case_id = $1 ORDER BY r.id",
    )
    .bind(case_id)
    .fetch_all(pool)
    .await?;
    let pdf_invoices: Vec<i64> = sqlx::query_scalar(
        "SELECT i.id FROM invoices i JOIN files f ON f.id = i.photo_file_id
         WHERE i.case_id = $1 AND f.mime = 'application/pdf'",
    )
    .bind(case_id)
    .fetch_all(pool)
    .await?;
    let decisions = store::decisions_of(pool, case_id).await?;
    let hospital_check = crate::hospitals::check(pool, &case.hospital).await?;
    Ok(CaseDetail {
        hospital_check,
        id: case.id.get(),
        status: case.status,
        review_level: case.review_level,
        may_edit: case.may_edit == 1,
        version: case.version,
        student: StudentRef {
            id: case.student_id,
            username,
            name,
        },
        hospital: case.hospital,
        hospital_level: case.hospital_level,
        reason: case.reason,
        visit_date: case.visit_date,
        coverage_year: case.coverage_year,
        submitted_at: case.submitted_at.map(rfc3339),
        updated_at: rfc3339(case.updated_at),
        approved_at: case.approved_at.map(rfc3339),
        payout_cents: case.payout_cents,
        policy_version: case.policy_version,
        source: case.source.clone(),
        insurer_id: case.insurer_id,
        fee_lines: crate::claims::view::fee_lines_of(pool, CaseId::new(case_id)).await?,
        payout_breakdown: case
            .payout_breakdown
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok()),
        invoices: invoices
            .into_iter()
            .map(|i| InvoiceView {
                qr_differences: flags::qr_differences(&i, &visit_date),
                qr: i.qr.get(),
                id: i.id,
                covered_cents: i.total_cents - i.self_pay_cents,
                invoice_no: i.invoice_no,
                total_cents: i.total_cents,
                self_pay_cents: i.self_pay_cents,
                invoice_date: i.invoice_date,
                status: i.status,
                reason: i.reason,
                may_edit: i.may_edit == 1,
                photo_file_id: i.photo_file_id,
                photo_pdf: pdf_invoices.contains(&i.id),
                hospital_verified: i.hospital_verified == 1,
            })
            .collect(),
        records: records
            .into_iter()
            .map(|(id, file_id, mime)| RecordView { id, file_id, mime })
            .collect(),
        decisions: decisions
            .into_iter()
            .map(|d| DecisionView {
                id: d.id,
                invoice_id: d.invoice_id,
                reviewer: d.reviewer,
                level: d.level,
                result: d.result,
                reason: d.reason,
                may_edit: d.may_edit.map(|m| m == 1),
                changes: d
                    .changes
                    .as_deref()
                    .and_then(|c| serde_json::from_str(c).ok()),
                at: rfc3339(d.created_at),
            })
            .collect(),
        flags,
    })
}
