//! The outbound half of the insurer hub. A case whose coverage names an external insurer is,
//! on submit, routed to that insurer: the submitting transaction marks the case and queues an
//! `insurer` job in the durable outbox. The outbox worker runs the job: eligibility check
//! (CoverageEligibilityRequest), then `Claim/$submit`, and applies the answer to the case.
//! A crash or a network failure at any point is retried with backoff; a retry sends the same
//! Claim (`Claim.identifier` = our case id), so the insurer sees one claim however often we ask.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::client::{ClaimSubmission, ConnectorError, InsurerClient};
use super::decide;
use super::fhir::{
    ClaimInput, ClaimItemInput, EligibilityInput, claim, coverage_eligibility_request,
};
use crate::claims::store::{CaseRow, find_case};
use crate::crypto::Keys;
use crate::db::{Db, Tx};
use crate::notify::outbox;
use crate::registry::{PartnerKind, store as registry};

/// The outbox channel of insurer jobs.
pub const CHANNEL: &str = "insurer";

#[derive(Debug, Serialize, Deserialize)]
struct Job {
    case_id: i64,
}

/// Inside the submitting transaction: when the coverage of the case's year names an external
/// insurer, hands the case to it (out of the staff queues) and queues the job. Answers the
/// insurer's id, or `None` for the university's own fund (reviewed by staff as usual).
pub async fn route_submission(tx: &mut Tx, case_id: i64) -> sqlx::Result<Option<i64>> {
    let insurer: Option<i64> = sqlx::query(
        "SELECT cv.insurer_id FROM cases c
         JOIN coverage cv ON cv.user_id = c.student_id AND cv.year = c.coverage_year
         WHERE c.id = $1",
    )
    .bind(case_id)
    .fetch_optional(&mut **tx)
    .await?
    .map(|r| r.try_get::<Option<i64>, _>("insurer_id"))
    .transpose()?
    .flatten();
    let Some(insurer_id) = insurer else {
        return Ok(None);
    };
    // Whatever staff review it had before (coverage can name an insurer later), it now waits
    // for the insurer.
    sqlx::query(
        "UPDATE cases SET insurer_id = $1, status = 'submitted', review_level = 0, may_edit = 0 WHERE id = $2",
    )
        .bind(insurer_id)
        .bind(case_id)
        .execute(&mut **tx)
        .await?;
    let payload = serde_json::to_value(Job { case_id }).expect("serialisable");
    outbox::enqueue(
        tx,
        CHANNEL,
        None,
        &payload,
        &format!("insurer-claim-{case_id}"),
    )
    .await?;
    Ok(Some(insurer_id))
}

/// Why a job did not finish.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Try again later (network, timeout, 5xx, 429, our database).
    #[error("{0}")]
    Retry(String),
    /// Retrying the same request cannot help (4xx, unreadable answer, inactive insurer): the
    /// job is parked as `dead` for an administrator, who can retry it from the outbox page.
    #[error("{0}")]
    Fatal(String),
}

impl From<sqlx::Error> for JobError {
    fn from(e: sqlx::Error) -> Self {
        JobError::Retry(format!("database: {e}"))
    }
}

impl From<ConnectorError> for JobError {
    fn from(e: ConnectorError) -> Self {
        match e {
            ConnectorError::Retryable(_) => JobError::Retry(e.to_string()),
            ConnectorError::Refused(_) | ConnectorError::BadAnswer(_) => {
                JobError::Fatal(e.to_string())
            }
        }
    }
}

/// What the worker needs to run insurer jobs.
#[derive(Clone)]
pub struct Connector {
    pub db: Db,
    pub keys: Keys,
    pub time_zone: chrono_tz::Tz,
    pub timeout: Duration,
}

impl Connector {
    /// Runs one queued job: eligibility, then the claim, then the answer applied to the case.
    /// A case no longer waiting for its insurer (withdrawn, already decided) is left alone.
    pub async fn run(&self, payload: &str) -> Result<(), JobError> {
        let job: Job = serde_json::from_str(payload)
            .map_err(|_| JobError::Fatal("unreadable insurer job".into()))?;
        let Some(case) = find_case(&self.db.pool, job.case_id, None).await? else {
            return Err(JobError::Fatal(format!("case {} not found", job.case_id)));
        };
        let Some(insurer_id) = case.insurer_id.filter(|_| case.status == "submitted") else {
            return Ok(());
        };
        if self.already_answered(case.id).await? {
            return Ok(());
        }
        let insurer =
            registry::find_by_id(&self.db.pool, &self.keys, PartnerKind::Insurer, insurer_id)
                .await?
                .ok_or_else(|| JobError::Fatal(format!("insurer {insurer_id} not found")))?;
        if !insurer.active {
            return Err(JobError::Fatal(format!(
                "insurer {insurer_id} is deactivated"
            )));
        }
        let client = InsurerClient::new(&insurer, self.timeout)
            .map_err(|e| JobError::Fatal(format!("{e:#}")))?;
        let input = self.claim_input(&case, &insurer.name).await?;

        let eligibility = client
            .check_eligibility(&coverage_eligibility_request(&input.eligibility))
            .await?;
        if !eligibility.covered {
            let reason = format!(
                "保险公司：不在保障范围 (not covered by the insurer): {}",
                eligibility.reason.as_deref().unwrap_or("-")
            );
            let mut tx = self.db.begin().await?;
            decide::reject(&mut tx, case.id, insurer_id, &reason).await?;
            tx.commit().await?;
            return Ok(());
        }

        let mut tx;
        match client.submit_claim(&claim(&input)).await? {
            ClaimSubmission::Accepted => {
                tx = self.db.begin().await?;
                decide::mark_queued(&mut tx, case.id, insurer_id).await?;
            }
            ClaimSubmission::Adjudicated(adj) => {
                if adj.case_id != case.id {
                    return Err(JobError::Fatal(format!(
                        "the ClaimResponse names case {} instead of {}",
                        adj.case_id, case.id
                    )));
                }
                let sha = crate::crypto::sha256_hex(&serde_json::to_vec(&adj).expect("json"));
                let identifier = adj
                    .response_identifier
                    .clone()
                    .unwrap_or_else(|| sha.clone());
                tx = self.db.begin().await?;
                let recorded =
                    decide::apply_claim_response(&mut tx, insurer_id, &adj, &identifier, &sha)
                        .await?;
                if recorded == super::store::Recorded::Conflict {
                    return Err(JobError::Fatal(
                        "the insurer reused a ClaimResponse identifier with other content".into(),
                    ));
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// A ClaimResponse (or a 202) was already recorded for the case: a re-run has nothing to do.
    async fn already_answered(&self, case_id: i64) -> sqlx::Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM insurer_claims WHERE case_id = $1")
            .bind(case_id)
            .fetch_one(&self.db.pool)
            .await?;
        Ok(n > 0)
    }

    /// The case as a FHIR Claim: the hospital's fee lines when it came from a visit, else the
    /// covered part of each invoice not finally rejected.
    async fn claim_input(&self, case: &CaseRow, insurer_name: &str) -> sqlx::Result<ClaimInput> {
        let pool = &self.db.pool;
        let row = sqlx::query(
            "SELECT u.username, cv.policy_no FROM users u
             LEFT JOIN coverage cv ON cv.user_id = u.id AND cv.year = $2
             WHERE u.id = $1",
        )
        .bind(case.student_id)
        .bind(case.coverage_year)
        .fetch_one(pool)
        .await?;
        let lines = sqlx::query(
            "SELECT code, display, amount_cents FROM case_fee_lines WHERE case_id = $1 ORDER BY line_no",
        )
        .bind(case.id)
        .fetch_all(pool)
        .await?;
        let mut items = lines
            .iter()
            .map(|l| {
                Ok(ClaimItemInput {
                    code: l.try_get("code")?,
                    display: l.try_get("display")?,
                    amount_cents: l.try_get("amount_cents")?,
                })
            })
            .collect::<sqlx::Result<Vec<_>>>()?;
        if items.is_empty() {
            for i in crate::claims::store::invoices_of(pool, case.id).await? {
                if i.status == "rejected" || i.total_cents == i.self_pay_cents {
                    continue;
                }
                items.push(ClaimItemInput {
                    code: None,
                    display: format!("发票 {}", i.invoice_no),
                    amount_cents: i.total_cents - i.self_pay_cents,
                });
            }
        }
        let today = chrono::Utc::now()
            .with_timezone(&self.time_zone)
            .date_naive()
            .format("%Y-%m-%d")
            .to_string();
        Ok(ClaimInput {
            eligibility: EligibilityInput {
                case_id: case.id,
                student_id: row.try_get("username")?,
                policy_no: row
                    .try_get::<Option<String>, _>("policy_no")?
                    .unwrap_or_default(),
                insurer_name: insurer_name.to_string(),
                visit_date: case.visit_date.clone(),
                created: today,
            },
            hospital: case.hospital.clone(),
            diagnosis_code: case.diagnosis_code.clone(),
            diagnosis_text: case.reason.clone(),
            items,
        })
    }
}
