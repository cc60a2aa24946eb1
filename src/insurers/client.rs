//! The signed HTTP client for calls to an insurer's FHIR endpoint. Each request carries the four
//! `X-Medclaim-*` headers computed with that insurer's secret, so the insurer can verify us.
//! Errors say whether a retry may help, for the outbox worker that will drive these calls.

use std::time::Duration;

use reqwest::StatusCode;

use crate::fhir::{Adjudication, Eligibility, parse_claim_response, parse_eligibility};
use crate::registry::signature::outbound_headers;
use crate::registry::{Partner, PublicAddressesOnly, UrlPolicy, outgoing_url_allowed};

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
    /// A client for `insurer`, refusing what `policy` refuses at registration again now: the
    /// scheme and a literal internal address before connecting, and a host name that has come
    /// to resolve inside as it is resolved.
    pub fn new(
        insurer: &Partner,
        timeout: Duration,
        policy: UrlPolicy,
    ) -> anyhow::Result<InsurerClient> {
        let base_url = insurer
            .fhir_base_url
            .clone()
            .ok_or_else(|| anyhow::anyhow!("partner {} is not an insurer", insurer.id))?;
        let parsed = reqwest::Url::parse(&base_url)?;
        outgoing_url_allowed(policy, &parsed).map_err(|why| anyhow::anyhow!(why))?;
        let mut http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none());
        if !policy.allow_private {
            http = http.dns_resolver(std::sync::Arc::new(PublicAddressesOnly));
        }
        Ok(InsurerClient {
            http: http.build()?,
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
        let url = reqwest::Url::parse(&format!("{}/{path}", self.base_url))
            .map_err(|e| ConnectorError::BadAnswer(format!("bad base URL: {e}")))?;
        let signed_path = url.path().to_string();
        let mut request = self
            .http
            .post(url)
            .header("content-type", "application/fhir+json")
            .header("accept", "application/fhir+json");
        for (name, value) in
            outbound_headers(&self.key_id, &self.secret, "POST", &signed_path, &body)
        {
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
        let bytes = read_capped(response, MAX_ANSWER_BYTES).await?;
        if bytes.is_empty() {
            return Ok((status, serde_json::Value::Null));
        }
        let value = serde_json::from_slice(&bytes)
            .map_err(|e| ConnectorError::BadAnswer(format!("not JSON: {e}")))?;
        Ok((status, value))
    }
}

/// The largest answer read from an insurer; a FHIR ClaimResponse is a few kilobytes.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// The body, read chunk by chunk and refused as soon as it passes `cap` bytes (never buffered
/// whole first).
async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, ConnectorError> {
    let too_large = || ConnectorError::BadAnswer(format!("answer larger than {cap} bytes"));
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ConnectorError::Retryable(e.without_url().to_string()))?
    {
        if bytes.len() + chunk.len() > cap {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
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
