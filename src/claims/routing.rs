//! Who adjudicates a submitted case: the university's staff, or the external insurer that the
//! coverage of the case's year names. Decided inside the submitting transaction; an insurer
//! case leaves the staff queues and an `insurer` job is queued in the outbox for the insurer
//! connector (`crate::insurers::connector`) to run.

use crate::ids::CaseId;
use serde::{Deserialize, Serialize};

use super::CaseStatus;
use super::lifecycle::CaseEvent;
use super::store::advance;
use crate::db::Tx;
use crate::http::AppResult;
use crate::notify::outbox;

/// The outbox channel of insurer jobs.
pub const INSURER_CHANNEL: &str = "insurer";

#[derive(Debug, Serialize, Deserialize)]
pub struct InsurerJob {
    pub case_id: CaseId,
}

/// Inside the submitting transaction: when the coverage of the case's year names an external
/// insurer, hands the case to it (out of the staff queues) and queues the job. Answers the
/// insurer's id, or `None` for the university's own fund (reviewed by staff as usual).
pub async fn route_submission(tx: &mut Tx, case_id: i64) -> AppResult<Option<i64>> {
    let found: Option<(CaseStatus, Option<i64>)> = sqlx::query_as(
        "SELECT c.status, cv.insurer_id FROM cases c
         JOIN coverage cv ON cv.user_id = c.student_id AND cv.year = c.coverage_year
         WHERE c.id = $1",
    )
    .bind(case_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((status, Some(insurer_id))) = found else {
        return Ok(None);
    };
    // Whatever staff review it had before (coverage can name an insurer later), it now waits
    // for the insurer.
    advance(tx, case_id, status, CaseEvent::RouteToInsurer).await??;
    sqlx::query("UPDATE cases SET insurer_id = $1, review_level = 0, may_edit = 0 WHERE id = $2")
        .bind(insurer_id)
        .bind(case_id)
        .execute(&mut **tx)
        .await?;
    let payload = serde_json::to_value(InsurerJob {
        case_id: CaseId::new(case_id),
    })
    .expect("serialisable");
    outbox::enqueue(
        tx,
        INSURER_CHANNEL,
        None,
        &payload,
        &format!("insurer-claim-{case_id}"),
    )
    .await?;
    Ok(Some(insurer_id))
}
