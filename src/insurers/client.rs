//! The signed HTTP client for calls to an insurer's FHIR endpoint. Each request carries the four
//! `X-Medclaim-*` headers computed with that insurer's secret, so the insurer can verify us.
//! Errors say whether a retry may help, for the outbox worker that will drive these calls.

use std::time::Duration;

use reqwest::StatusCode;

use super::fhir::{Adjudication, Eligibility, parse_claim_response, parse_eligibility};
use crate::registry::Partner;
use crate::registry::signature::outbound_headers;

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// Network trouble, a timeout, 429 or 5xx: try again later.
    #[error("insurer unreachable or busy: {0}")]
    Retryable(String),
    /// The insurer refused the request (4xx): retrying the same request will not help.
    #[error("insurer refused the request with status {0}")]
    Refused(u16),
    /// The insurer answered something we cannot read.
    #[error("insurer answered an unreadable resource: {0}")]
    BadAnswer(String),
}

/// What `Claim/$submit` answered.
#[derive(Debug, PartialEq, Eq)]
pub enum ClaimSubmission {
    /// A ClaimResponse came back at once.
    Adjudicated(Adjudication),
    /// 202: the ClaimResponse will arrive later at our webhook.
    Accepted,
}

pub struct InsurerClient {
    http: reqwest::Client,
    base_url: String,
    key_id: String,
    secret: String,
}

impl InsurerClient {
    pub fn new(insurer: &Partner, timeout: Duration) -> anyhow::Result<InsurerClient> {
        let base_url = insurer
            .fhir_base_url
            .clone()
            .ok_or_else(|| anyhow::anyhow!("partner {} is not an insurer", insurer.id))?;
        Ok(InsurerClient {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            base_url: base_url.trim_end_matches('/').to_string(),
            key_id: insurer.key_id.clone(),
            secret: insurer.secret.clone(),
        })
    }

    /// `POST {base}/CoverageEligibilityRequest`, answered by a CoverageEligibilityResponse.
    pub async fn check_eligibility(
        &self,
        request: &serde_json::Value,
    ) -> Result<Eligibility, ConnectorError> {
        let (status, body) = self.post("CoverageEligibilityRequest", request).await?;
        if status != StatusCode::OK && status != StatusCode::CREATED {
            return Err(ConnectorError::BadAnswer(format!("status {status}")));
        }
        parse_eligibility(&body).map_err(|issues| bad_answer(&issues))
    }

    /// `POST {base}/Claim/$submit`, answered by a ClaimResponse or 202.
    pub async fn submit_claim(
        &self,
        claim: &serde_json::Value,
    ) -> Result<ClaimSubmission, ConnectorError> {
        let (status, body) = self.post("Claim/$submit", claim).await?;
        if status == StatusCode::ACCEPTED {
            return Ok(ClaimSubmission::Accepted);
        }
        if status != StatusCode::OK && status != StatusCode::CREATED {
            return Err(ConnectorError::BadAnswer(format!("status {status}")));
        }
        parse_claim_response(&body)
            .map(ClaimSubmission::Adjudicated)
            .map_err(|issues| bad_answer(&issues))
    }

    async fn post(
        &self,
        path: &str,
        resource: &serde_json::Value,
    ) -> Result<(StatusCode, serde_json::Value), ConnectorError> {
        let body = serde_json::to_vec(resource).expect("serialisable");
        let mut request = self
            .http
            .post(format!("{}/{path}", self.base_url))
            .header("content-type", "application/fhir+json")
            .header("accept", "application/fhir+json");
        for (name, value) in outbound_headers(&self.key_id, &self.secret, &body) {
            request = request.header(name, value);
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| ConnectorError::Retryable(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return Err(ConnectorError::Retryable(format!("status {status}")));
        }
        if status.is_client_error() {
            return Err(ConnectorError::Refused(status.as_u16()));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ConnectorError::Retryable(e.without_url().to_string()))?;
        if bytes.is_empty() {
            return Ok((status, serde_json::Value::Null));
        }
        let value = serde_json::from_slice(&bytes)
            .map_err(|e| ConnectorError::BadAnswer(format!("not JSON: {e}")))?;
        Ok((status, value))
    }
}

fn bad_answer(issues: &[crate::fhir::Issue]) -> ConnectorError {
    ConnectorError::BadAnswer(
        issues
            .iter()
            .map(|i| i.diagnostics.as_str())
            .collect::<Vec<_>>()
            .join("; "),
    )
}
