//! The outbound half of the insurer hub. A case whose coverage names an external insurer is,
//! on submit, routed to that insurer by the claims context (`claims::routing`): the submitting
//! transaction marks the case and queues an `insurer` job in the durable outbox. The outbox
//! worker runs the job here: eligibility check
//! (CoverageEligibilityRequest), then `Claim/$submit`, and applies the answer to the case.
//! A crash or a network failure at any point is retried with backoff; a retry sends the same
//! Claim (`Claim.identifier` = our case id), so the insurer sees one claim however often we ask.

use std::time::Duration;

use futures_util::future::BoxFuture;
use sqlx::Row;

use super::client::{ClaimSubmission, ConnectorError, InsurerClient};
use super::service;
use crate::claims::routing::{INSURER_CHANNEL as CHANNEL, InsurerJob as Job};
use crate::claims::store::{CaseRow, find_case};
use crate::claims::{CaseStatus, InvoiceStatus};
use crate::crypto::Keys;
use crate::db::Db;
use crate::fhir::{
    ClaimInput, ClaimItemInput, EligibilityInput, claim, coverage_eligibility_request,
};
use crate::notify::worker::{JobError, JobHandler};
use crate::registry::{PartnerKind, store as registry};

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
    /// Which partner URLs may be called (checked again on every call, see `InsurerClient::new`).
    pub urls: crate::registry::UrlPolicy,
}

impl JobHandler for Connector {
    fn channel(&self) -> &'static str {
        CHANNEL
    }
    fn run<'a>(&'a self, payload: &'a str) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(Connector::run(self, payload))
    }
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
        let Some(insurer_id) = case
            .insurer_id
            .filter(|_| case.status == CaseStatus::Submitted)
        else {
            return Ok(());
        };
        if self.already_answered(case.id.get()).await? {
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
        let client = InsurerClient::new(&insurer, self.timeout, self.urls)
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
            service::reject(&mut tx, case.id.get(), insurer_id, &reason).await?;
            tx.commit().await?;
            return Ok(());
        }

        let mut tx;
        match client.submit_claim(&claim(&input)).await? {
            ClaimSubmission::Accepted => {
                tx = self.db.begin().await?;
                service::mark_queued(&mut tx, case.id.get(), insurer_id).await?;
            }
            ClaimSubmission::Adjudicated(adj) => {
                if adj.case_id != case.id.get() {
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
                    service::apply_claim_response(&mut tx, insurer_id, &adj, &identifier, &sha)
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
                    code: l.try_get::<crate::seal::SealedOpt, _>("code")?.into(),
                    display: l.try_get::<crate::seal::Sealed, _>("display")?.into(),
                    amount_cents: l.try_get("amount_cents")?,
                })
            })
            .collect::<sqlx::Result<Vec<_>>>()?;
        if items.is_empty() {
            for i in crate::claims::store::invoices_of(pool, case.id).await? {
                if i.status == InvoiceStatus::Rejected || i.total_cents == i.self_pay_cents {
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
                case_id: case.id.get(),
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
