//! SQL for the insurer side of a case: which insurer a case's coverage names, and the claim
//! responses received.

use sqlx::{AnyPool, Row};

use crate::db::{Tx, now_ms};
use crate::fhir::Adjudication;

/// The external insurer named by the coverage of the case's year, if any.
pub async fn insurer_of_case(pool: &AnyPool, case_id: i64) -> sqlx::Result<Option<i64>> {
    let row = sqlx::query(
        "SELECT cv.insurer_id FROM cases c
         JOIN coverage cv ON cv.user_id = c.student_id AND cv.year = c.coverage_year
         WHERE c.id = $1",
    )
    .bind(case_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|r| r.try_get::<Option<i64>, _>("insurer_id").ok().flatten()))
}

#[derive(Debug, PartialEq, Eq)]
pub enum Recorded {
    New,
    /// The same ClaimResponse again: nothing changed.
    Duplicate,
    /// The same identifier with other content.
    Conflict,
    /// A new ClaimResponse for a case already paid: kept in `claim_responses` and flagged, but
    /// the decision (the reconciliation baseline) stays as it was when the money moved.
    Frozen,
}

/// Records a ClaimResponse and sets the case's insurer claim state from it.
pub async fn record_claim_response(
    tx: &mut Tx,
    insurer_id: i64,
    adj: &Adjudication,
    response_identifier: &str,
    content_sha256: &str,
) -> sqlx::Result<Recorded> {
    let seen = sqlx::query(
        "SELECT content_sha256 FROM claim_responses WHERE insurer_id = $1 AND response_identifier = $2",
    )
    .bind(insurer_id)
    .bind(response_identifier)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(row) = seen {
        let sha: String = row.try_get("content_sha256")?;
        return Ok(if sha == content_sha256 {
            Recorded::Duplicate
        } else {
            Recorded::Conflict
        });
    }
    let now = now_ms();
    sqlx::query(
        "INSERT INTO claim_responses (insurer_id, case_id, response_identifier, content_sha256, received_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(insurer_id)
    .bind(adj.case_id)
    .bind(response_identifier)
    .bind(content_sha256)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let paid: Option<i64> = sqlx::query_scalar("SELECT paid_at FROM cases WHERE id = $1")
        .bind(adj.case_id)
        .fetch_optional(&mut **tx)
        .await?
        .flatten();
    if paid.is_some() {
        return Ok(Recorded::Frozen);
    }
    let decided_at = (adj.outcome != "queued").then_some(now);
    let adjudication = serde_json::to_string(&adj.items).expect("serialisable");
    let updated = sqlx::query(
        "UPDATE insurer_claims SET insurer_id = $1, status = $2, approved_cents = $3, disposition = $4, adjudication = $5,
         response_identifier = $6, decided_at = $7, updated_at = $8 WHERE case_id = $9",
    )
    .bind(insurer_id)
    .bind(&adj.outcome)
    .bind(adj.payout_cents)
    .bind(crate::seal::seal_opt(adj.disposition.as_deref()))
    .bind(crate::seal::seal(&adjudication))
    .bind(response_identifier)
    .bind(decided_at)
    .bind(now)
    .bind(adj.case_id)
    .execute(&mut **tx)
    .await?;
    if updated.rows_affected() == 0 {
        sqlx::query(
            "INSERT INTO insurer_claims (case_id, insurer_id, status, approved_cents, disposition, adjudication,
             response_identifier, decided_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        )
        .bind(adj.case_id)
        .bind(insurer_id)
        .bind(&adj.outcome)
        .bind(adj.payout_cents)
        .bind(crate::seal::seal_opt(adj.disposition.as_deref()))
        .bind(crate::seal::seal(&adjudication))
        .bind(response_identifier)
        .bind(decided_at)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(Recorded::New)
}
