//! What a case looks like to its owner and to staff: the JSON of SPEC §11 and the pages' model.

use crate::ids::{CaseId, FileId, InvoiceId, RecordId};
use crate::invoice_qr::InvoiceQr;
use crate::money::Cents;
use serde::Serialize;
use utoipa::ToSchema;

use super::domain::{CaseStatus, InvoiceStatus};
use super::store::{self, CaseRow};
use crate::http::web::rfc3339;
use crate::policy::{PayoutBreakdown, compute_payout};

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PhotoView {
    pub file_id: FileId,
    pub url: String,
    pub thumb_url: String,
    pub mime: String,
}

impl PhotoView {
    fn new(file_id: FileId, mime: String) -> PhotoView {
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
    pub id: RecordId,
    #[serde(flatten)]
    pub photo: PhotoView,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct InvoiceView {
    pub id: InvoiceId,
    pub invoice_no: super::domain::InvoiceNo,
    pub total_cents: Cents,
    pub self_pay_cents: Cents,
    /// total − self-paid.
    pub covered_cents: Cents,
    /// 开票日期 `YYYY-MM-DD`: as the student gave it, else from the photo's QR code; `null`
    /// when neither.
    #[schema(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub invoice_date: Option<String>,
    pub status: InvoiceStatus,
    /// Rejection reason, when rejected.
    pub reason: Option<String>,
    /// The student may change or delete this invoice now.
    pub may_edit: bool,
    pub photo: Option<PhotoView>,
    /// What the QR code on the photo says, when it has a readable one.
    pub qr: Option<InvoiceQr>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TimelineEntry {
    /// RFC 3339.
    pub at: String,
    /// `created`, `submitted`, `resubmitted`, `review`, `approved`, `handed_in`, `withdrawn`,
    /// `paid`.
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
    /// Back to draft: submitted, and no reviewer (nor insurer) has started on it.
    pub recall: bool,
}

/// A fee line of a case claimed from a visit, as the hospital sent it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FeeLineView {
    pub code: Option<String>,
    pub display: String,
    pub amount_cents: Cents,
}

/// Per fee line (or invoice), what the insurer allowed.
#[derive(Clone, Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ItemDecisionView {
    /// 1-based position in the claim.
    pub sequence: i64,
    pub benefit_cents: Option<Cents>,
    pub reason: Option<String>,
}

/// The external insurer that adjudicates and pays the case, and what it said so far.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct InsurerView {
    pub insurer_id: i64,
    pub name: String,
    /// `waiting` (nothing heard yet), `queued`, `complete`, `partial`, `error`.
    pub status: String,
    pub approved_cents: Option<Cents>,
    pub disposition: Option<String>,
    pub items: Vec<ItemDecisionView>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CaseView {
    pub id: CaseId,
    pub status: CaseStatus,
    /// `student` (typed in with photos) or `hospital` (claimed from a visit the hospital pushed).
    pub source: String,
    /// The visit the case was claimed from.
    pub visit_id: Option<i64>,
    /// ICD-10 code from the hospital.
    pub diagnosis_code: Option<String>,
    /// The hospital's fee lines (cases from a visit).
    pub fee_lines: Vec<FeeLineView>,
    /// Present when an external insurer adjudicates and pays instead of staff review.
    pub insurer: Option<InsurerView>,
    /// RFC 3339: when the insurer's payment was recorded.
    pub paid_at: Option<String>,
    pub hospital: String,
    /// 0 unrated, 1–3; `null` until known.
    pub hospital_level: Option<crate::policy::HospitalLevel>,
    pub reason: String,
    /// `YYYY-MM-DD`.
    pub visit_date: String,
    pub coverage_year: i64,
    pub review_level: i64,
    pub records: Vec<RecordView>,
    pub invoices: Vec<InvoiceView>,
    /// The final payout once approved.
    pub payout_cents: Option<Cents>,
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
    pub fn total_cents(&self) -> Cents {
        Cents::checked_sum(self.invoices.iter().map(|i| i.total_cents))
            .expect("invoice amounts are bounded at entry")
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
    Ok(load_many(db, vec![case])
        .await?
        .pop()
        .expect("one view per case"))
}

/// Builds the views of `cases` (already authorised), in their order, with one query per kind
/// of part (records, invoices, decisions, fee lines, the year's usage) for the whole list
/// rather than one per case: a list of twenty cases costs about as much as one.
pub async fn load_many(db: &crate::db::Db, cases: Vec<CaseRow>) -> sqlx::Result<Vec<CaseView>> {
    use std::collections::HashMap;
    // One connection for all of it: one acquire (and, on PostgreSQL, one liveness ping).
    let mut conn = db.pool.acquire().await?;
    let ids: Vec<CaseId> = cases.iter().map(|c| c.id).collect();
    let mut students: Vec<i64> = cases.iter().map(|c| c.student_id).collect();
    students.sort_unstable();
    students.dedup();
    let mut records: HashMap<CaseId, Vec<RecordView>> = HashMap::new();
    for r in store::records_of_cases(&mut *conn, &ids).await? {
        records.entry(r.case_id).or_default().push(RecordView {
            id: r.id,
            photo: PhotoView::new(r.file_id, r.mime),
        });
    }
    let mut invoices: HashMap<CaseId, Vec<(store::InvoiceRow, Option<String>)>> = HashMap::new();
    for i in store::invoices_of_cases(&mut *conn, &ids).await? {
        invoices
            .entry(i.invoice.case_id)
            .or_default()
            .push((i.invoice, i.photo_mime));
    }
    let mut decisions: HashMap<CaseId, Vec<store::DecisionRow>> = HashMap::new();
    for d in store::decisions_of_cases(&mut *conn, &ids).await? {
        decisions.entry(d.case_id).or_default().push(d);
    }
    let mut fee_lines = fee_lines_of_cases(&mut conn, &ids).await?;
    let counted = store::counted_cases_of(&mut *conn, &students).await?;
    let policy = crate::policy::store::current(&mut *conn).await?;
    let mut views = Vec::with_capacity(cases.len());
    for case in cases {
        let insurer = match case.insurer_id {
            Some(id) => Some(insurer_view(&mut conn, case.id, id).await?),
            None => None,
        };
        let id = case.id;
        let parts = Parts {
            records: records.remove(&id).unwrap_or_default(),
            invoices: invoices.remove(&id).unwrap_or_default(),
            decisions: decisions.remove(&id).unwrap_or_default(),
            fee_lines: fee_lines.remove(&id).unwrap_or_default(),
            insurer,
            usage: store::year_usage_from(&counted, &case),
        };
        views.push(build(case, parts, &policy));
    }
    Ok(views)
}

/// What a case's view is made of besides its row.
struct Parts {
    records: Vec<RecordView>,
    invoices: Vec<(store::InvoiceRow, Option<String>)>,
    decisions: Vec<store::DecisionRow>,
    fee_lines: Vec<FeeLineView>,
    insurer: Option<InsurerView>,
    usage: crate::policy::YearUsage,
}

fn build(case: CaseRow, parts: Parts, policy: &crate::policy::Policy) -> CaseView {
    let status = case.status;
    let editable = case.student_may_edit();
    let records = parts.records;
    let invoices: Vec<InvoiceView> = parts
        .invoices
        .into_iter()
        .map(|(i, mime)| InvoiceView {
            qr: i.qr.get(),
            id: i.id,
            covered_cents: i.total_cents - i.self_pay_cents,
            invoice_no: i.invoice_no,
            total_cents: i.total_cents,
            self_pay_cents: i.self_pay_cents,
            invoice_date: i.invoice_date,
            status: i.status,
            reason: i.reason,
            may_edit: editable && i.may_edit == 1,
            photo: i
                .photo_file_id
                .map(|f| PhotoView::new(FileId::new(f.get()), mime.unwrap_or_default())),
        })
        .collect();
    // Rejected invoices the student may still fix go back to review on resubmission; final
    // rejections do not count.
    let covered = invoices
        .iter()
        .filter(|i| i.status != InvoiceStatus::Rejected || i.may_edit)
        .map(|i| i.covered_cents)
        .sum::<Option<Cents>>()
        .expect("invoice amounts are bounded at entry");
    let payout_preview = compute_payout(
        policy,
        case.hospital_level
            .unwrap_or(crate::policy::HospitalLevel::UNRATED),
        covered,
        parts.usage,
    );
    let mut timeline = vec![entry(case.created_at, "created")];
    if let Some(t) = case.first_submitted_at {
        timeline.push(entry(t, "submitted"));
    }
    if let (Some(first), Some(latest)) = (case.first_submitted_at, case.submitted_at)
        && latest != first
    {
        timeline.push(entry(latest, "resubmitted"));
    }
    let decisions = parts.decisions;
    let since = case.submitted_at.unwrap_or(0);
    let recall = status == CaseStatus::Submitted
        && case.insurer_id.is_none()
        && !decisions.iter().any(|d| d.created_at >= since);
    for d in decisions {
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
    if let Some(t) = case.paid_at {
        timeline.push(entry(t, "paid"));
    }
    let (fee_lines, insurer) = (parts.fee_lines, parts.insurer);
    timeline.sort_by_key(|e| e.at_ms);
    let actions = Actions {
        edit: editable,
        delete: editable,
        submit: editable && !records.is_empty() && !invoices.is_empty(),
        recall,
    };
    CaseView {
        id: case.id,
        status,
        source: case.source,
        visit_id: case.visit_id,
        diagnosis_code: case.diagnosis_code,
        fee_lines,
        insurer,
        paid_at: case.paid_at.map(rfc3339),
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
    }
}

async fn insurer_view(
    conn: &mut sqlx::AnyConnection,
    case_id: CaseId,
    insurer_id: i64,
) -> sqlx::Result<InsurerView> {
    let name: Option<String> = sqlx::query_scalar("SELECT name FROM insurers WHERE id = $1")
        .bind(insurer_id)
        .fetch_optional(&mut *conn)
        .await?;
    use crate::seal::SealedOpt;
    let claim = sqlx::query_as::<_, (String, Option<Cents>, SealedOpt, SealedOpt)>(
        "SELECT status, approved_cents, disposition, adjudication FROM insurer_claims WHERE case_id = $1",
    )
    .bind(case_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (status, approved_cents, disposition, items) = match claim {
        Some((status, approved, disposition, adjudication)) => (
            status,
            approved,
            disposition.0,
            adjudication
                .0
                .and_then(|j| serde_json::from_str(&j).ok())
                .unwrap_or_default(),
        ),
        None => ("waiting".to_string(), None, None, Vec::new()),
    };
    Ok(InsurerView {
        insurer_id,
        name: name.unwrap_or_default(),
        status,
        approved_cents,
        disposition,
        items,
    })
}

/// The hospital's fee lines of a case claimed from a visit (none for other cases).
pub async fn fee_lines_of(pool: &sqlx::AnyPool, case_id: CaseId) -> sqlx::Result<Vec<FeeLineView>> {
    Ok(fee_lines_of_cases(&mut *pool.acquire().await?, &[case_id])
        .await?
        .remove(&case_id)
        .unwrap_or_default())
}

/// The fee lines of the cases `ids` (claimed from visits), in the hospital's order.
pub async fn fee_lines_of_cases(
    conn: &mut sqlx::AnyConnection,
    ids: &[CaseId],
) -> sqlx::Result<std::collections::HashMap<CaseId, Vec<FeeLineView>>> {
    use crate::seal::{Sealed, SealedOpt};
    let mut lines = std::collections::HashMap::<CaseId, Vec<FeeLineView>>::new();
    if ids.is_empty() {
        return Ok(lines);
    }
    let sql = format!(
        "SELECT case_id, code, display, amount_cents FROM case_fee_lines WHERE case_id IN ({}) ORDER BY case_id, line_no",
        store::placeholders(ids.len())
    );
    let mut query =
        sqlx::query_as::<_, (CaseId, SealedOpt, Sealed, Cents)>(sqlx::AssertSqlSafe(sql));
    for id in ids {
        query = query.bind(*id);
    }
    for (case_id, code, display, amount_cents) in query.fetch_all(conn).await? {
        lines.entry(case_id).or_default().push(FeeLineView {
            code: code.into(),
            display: display.into(),
            amount_cents,
        });
    }
    Ok(lines)
}
