//! What a case looks like to its owner and to staff: the JSON of SPEC §11 and the pages' model.

use serde::Serialize;
use utoipa::ToSchema;

use super::domain::{CaseStatus, InvoiceStatus};
use super::store::{self, CaseRow};
use crate::policy::{PayoutBreakdown, compute_payout};
use crate::web::rfc3339;

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PhotoView {
    pub file_id: i64,
    pub url: String,
    pub thumb_url: String,
    pub mime: String,
}

impl PhotoView {
    fn new(file_id: i64, mime: String) -> PhotoView {
        PhotoView {
            file_id,
            url: format!("/api/v1/files/{file_id}"),
            thumb_url: format!("/api/v1/files/{file_id}?thumb=true"),
            mime,
        }
    }
    pub fn is_image(&self) -> bool {
        self.mime.starts_with("image/")
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RecordView {
    pub id: i64,
    #[serde(flatten)]
    pub photo: PhotoView,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct InvoiceView {
    pub id: i64,
    pub invoice_no: String,
    pub total_cents: i64,
    pub self_pay_cents: i64,
    /// total − self-paid.
    pub covered_cents: i64,
    pub status: InvoiceStatus,
    /// Rejection reason, when rejected.
    pub reason: Option<String>,
    /// The student may change or delete this invoice now.
    pub may_edit: bool,
    pub photo: Option<PhotoView>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TimelineEntry {
    /// RFC 3339.
    pub at: String,
    /// `created`, `submitted`, `resubmitted`, `review`, `approved`, `handed_in`, `withdrawn`.
    pub event: String,
    pub level: Option<i64>,
    /// For `review`: the reviewer's result (e.g. `approve`, `reject`).
    pub result: Option<String>,
    pub reason: Option<String>,
    pub invoice_no: Option<String>,
    #[serde(skip)]
    pub at_ms: i64,
}

/// What the student may do with the case now.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Actions {
    pub edit: bool,
    pub delete: bool,
    pub submit: bool,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CaseView {
    pub id: i64,
    pub status: CaseStatus,
    pub hospital: String,
    /// 0 unrated, 1–3; `null` until known.
    pub hospital_level: Option<i64>,
    pub reason: String,
    /// `YYYY-MM-DD`.
    pub visit_date: String,
    pub coverage_year: i64,
    pub review_level: i64,
    pub records: Vec<RecordView>,
    pub invoices: Vec<InvoiceView>,
    /// The final payout once approved.
    pub payout_cents: Option<i64>,
    /// How the final payout was computed, line by line (stored at approval).
    pub payout_breakdown: Option<PayoutBreakdown>,
    /// What the payout would be under the current policy (SPEC §4 rule 10): covered parts of
    /// the invoices not finally rejected, at the hospital level's ratio (unrated until a reviewer sets it).
    pub payout_preview: PayoutBreakdown,
    pub version: i64,
    pub timeline: Vec<TimelineEntry>,
    pub actions: Actions,
    pub created_at: String,
    pub submitted_at: Option<String>,
    pub updated_at: String,
}

impl CaseView {
    /// The translation key of the status chip.
    pub fn status_key(&self) -> String {
        format!("case_status.{}", self.status.as_str())
    }
    pub fn total_cents(&self) -> i64 {
        self.invoices.iter().map(|i| i.total_cents).sum()
    }
}

fn entry(at_ms: i64, event: &str) -> TimelineEntry {
    TimelineEntry {
        at: rfc3339(at_ms),
        event: event.into(),
        level: None,
        result: None,
        reason: None,
        invoice_no: None,
        at_ms,
    }
}

/// Builds the whole view of a case (its rows already authorised).
pub async fn load(db: &crate::db::Db, case: CaseRow) -> sqlx::Result<CaseView> {
    let pool = &db.pool;
    let status = case.status();
    let editable = case.student_may_edit();
    let records = store::records_of(pool, case.id)
        .await?
        .into_iter()
        .map(|r| RecordView {
            id: r.id,
            photo: PhotoView::new(r.file_id, r.mime),
        })
        .collect::<Vec<_>>();
    let mut invoices = Vec::new();
    for i in store::invoices_of(pool, case.id).await? {
        let mime: Option<String> = match i.photo_file_id {
            Some(f) => {
                sqlx::query_scalar("SELECT mime FROM files WHERE id = $1")
                    .bind(f)
                    .fetch_optional(pool)
                    .await?
            }
            None => None,
        };
        invoices.push(InvoiceView {
            id: i.id,
            covered_cents: i.total_cents - i.self_pay_cents,
            invoice_no: i.invoice_no,
            total_cents: i.total_cents,
            self_pay_cents: i.self_pay_cents,
            status: InvoiceStatus::parse(&i.status).unwrap_or(InvoiceStatus::Pending),
            reason: i.reason,
            may_edit: editable && i.may_edit == 1,
            photo: i
                .photo_file_id
                .map(|f| PhotoView::new(f, mime.unwrap_or_default())),
        });
    }
    let policy = crate::policy::store::current(pool).await?;
    let usage = store::year_usage(pool, case.student_id, case.coverage_year, case.id).await?;
    // Rejected invoices the student may still fix go back to review on resubmission; final
    // rejections do not count.
    let covered: i64 = invoices
        .iter()
        .filter(|i| i.status != InvoiceStatus::Rejected || i.may_edit)
        .map(|i| i.covered_cents)
        .sum();
    let payout_preview = compute_payout(&policy, case.hospital_level.unwrap_or(0), covered, usage);
    let mut timeline = vec![entry(case.created_at, "created")];
    if let Some(t) = case.first_submitted_at {
        timeline.push(entry(t, "submitted"));
    }
    if let (Some(first), Some(latest)) = (case.first_submitted_at, case.submitted_at)
        && latest != first
    {
        timeline.push(entry(latest, "resubmitted"));
    }
    for d in store::decisions_of(pool, case.id).await? {
        let mut e = entry(d.created_at, "review");
        e.level = Some(d.level);
        e.result = Some(d.result);
        e.reason = d.reason;
        e.invoice_no = d.invoice_no;
        timeline.push(e);
    }
    if let Some(t) = case.approved_at {
        timeline.push(entry(t, "approved"));
    }
    if let Some(t) = case.handed_in_at {
        timeline.push(entry(t, "handed_in"));
    }
    if status == CaseStatus::Withdrawn {
        timeline.push(entry(case.updated_at, "withdrawn"));
    }
    timeline.sort_by_key(|e| e.at_ms);
    let actions = Actions {
        edit: editable,
        delete: editable,
        submit: editable && !records.is_empty() && !invoices.is_empty(),
    };
    Ok(CaseView {
        id: case.id,
        status,
        hospital: case.hospital,
        hospital_level: case.hospital_level,
        reason: case.reason,
        visit_date: case.visit_date,
        coverage_year: case.coverage_year,
        review_level: case.review_level,
        records,
        invoices,
        payout_cents: case.payout_cents,
        payout_breakdown: case
            .payout_breakdown
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok()),
        payout_preview,
        version: case.version,
        timeline,
        actions,
        created_at: rfc3339(case.created_at),
        submitted_at: case.submitted_at.map(rfc3339),
        updated_at: rfc3339(case.updated_at),
    })
}
