//! Signed insurer webhooks: `POST /api/v1/insurers/{id}/claim-responses` (a FHIR ClaimResponse
//! that arrives after a 202) and `POST /api/v1/insurers/{id}/payments` (a FHIR
//! PaymentReconciliation, recorded in the payout ledger). Same signature and replay rules as
//! the hospital gateway, with the insurer's key.

use crate::money::Cents;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::store::{self, Recorded};
use crate::audit::{self, Actor, Event};
use crate::fhir::{Issue, OperationOutcome};
use crate::fhir::{parse_claim_response, parse_payment};
use crate::http::{AppError, AppResult, AppState, ErrorCode};
use crate::ledger::store::{self as ledger, EntryView};
use crate::registry::{Insurer, Signed};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(claim_response))
        .routes(routes!(payment))
}

type ErrorBody = crate::http::error::ErrorBodySchema;

fn json_of(body: &[u8], kind: &str) -> Result<serde_json::Value, OperationOutcome> {
    serde_json::from_slice(body).map_err(|_| {
        OperationOutcome::new(vec![Issue::error(
            "structure",
            kind,
            "the body is not JSON",
        )])
    })
}

#[derive(Serialize, ToSchema)]
pub struct ClaimResponseAnswer {
    pub case_id: i64,
    /// `queued | complete | partial | error`
    pub outcome: String,
    pub payout_cents: Option<Cents>,
    /// True when this exact ClaimResponse had been received before (nothing changed).
    pub duplicate: bool,
    /// True when the case was already paid: this ClaimResponse is kept and flagged for the
    /// office, but the decision the payment settled stays as it was.
    pub frozen: bool,
}

/// An insurer's ClaimResponse for one of our claims (request.identifier = our case id). A
/// payout approves the case at the insurer's figure; `error` or no payout rejects it; the
/// patient is told either way. The same ClaimResponse again changes nothing; once the case is
/// paid its decision is frozen (a later ClaimResponse is kept, audited and answered `frozen`).
#[utoipa::path(post, path = "/api/v1/insurers/{id}/claim-responses", tag = "insurers",
    params(("id" = i64, Path), ("X-Medclaim-Key" = String, Header), ("X-Medclaim-Timestamp" = i64, Header),
        ("X-Medclaim-Nonce" = String, Header), ("X-Medclaim-Signature" = String, Header)),
    request_body(content = serde_json::Value, content_type = "application/fhir+json", description = "FHIR R4 ClaimResponse"),
    responses((status = 200, body = ClaimResponseAnswer), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, description = "FHIR OperationOutcome", body = serde_json::Value, content_type = "application/fhir+json")))]
async fn claim_response(
    State(state): State<AppState>,
    signed: Signed<Insurer>,
) -> AppResult<Response> {
    let Signed {
        partner: insurer,
        body,
        ..
    } = signed;
    let value = match json_of(&body, "ClaimResponse") {
        Ok(v) => v,
        Err(outcome) => return Ok(outcome.into_response()),
    };
    let adj = match parse_claim_response(&value) {
        Ok(a) => a,
        Err(issues) => return Ok(OperationOutcome::new(issues).into_response()),
    };
    // Only a claim whose coverage names this insurer; anything else is "not found" to it.
    if store::insurer_of_case(&state.db.pool, adj.case_id).await? != Some(insurer.id) {
        return Err(AppError::not_found());
    }
    let sha = crate::crypto::sha256_hex(&serde_json::to_vec(&value).expect("serialisable"));
    let identifier = adj
        .response_identifier
        .clone()
        .unwrap_or_else(|| sha.clone());
    let mut tx = state.db.begin().await?;
    let recorded =
        super::service::apply_claim_response(&mut tx, insurer.id, &adj, &identifier, &sha).await?;
    match recorded {
        Recorded::Conflict => {
            return Err(ErrorCode::ClaimResponseConflict.with_message(
                "A different ClaimResponse with this identifier was received before.",
            ));
        }
        Recorded::Duplicate => {}
        Recorded::Frozen => {
            let event = Event {
                action: "insurer.claim_response_after_payment",
                object_type: "case",
                object_id: adj.case_id.to_string(),
                summary: format!(
                    "insurer={} outcome={} payout_cents={} ignored: case already paid",
                    insurer.id,
                    adj.outcome,
                    adj.payout_cents.map_or("-".into(), |c| c.to_string())
                ),
            };
            audit::record(
                &mut tx,
                &Actor::system(&format!("insurer:{}", insurer.id)),
                event,
            )
            .await?;
            tracing::warn!(
                insurer_id = insurer.id,
                "ClaimResponse for an already paid case kept but not applied"
            );
        }
        Recorded::New => {
            let event = Event {
                action: "insurer.claim_response",
                object_type: "case",
                object_id: adj.case_id.to_string(),
                summary: format!(
                    "insurer={} outcome={} payout_cents={}",
                    insurer.id,
                    adj.outcome,
                    adj.payout_cents.map_or("-".into(), |c| c.to_string())
                ),
            };
            audit::record(
                &mut tx,
                &Actor::system(&format!("insurer:{}", insurer.id)),
                event,
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(Json(ClaimResponseAnswer {
        case_id: adj.case_id,
        outcome: adj.outcome,
        payout_cents: adj.payout_cents,
        duplicate: recorded == Recorded::Duplicate,
        frozen: recorded == Recorded::Frozen,
    })
    .into_response())
}

#[derive(Serialize, ToSchema)]
pub struct PaymentAnswer {
    pub entries: Vec<EntryView>,
    /// True when this payment notice (same identifier) had been recorded before.
    pub already_recorded: bool,
}

/// An insurer's PaymentReconciliation: each detail becomes a ledger entry and its approved case
/// is paid (`completed`, patient notified); a second payment for the same case is recorded and
/// flagged (`paid_twice`), changing no case. A detail naming a case this insurer does not
/// cover refuses the whole notice (404, audited).
#[utoipa::path(post, path = "/api/v1/insurers/{id}/payments", tag = "insurers",
    params(("id" = i64, Path), ("X-Medclaim-Key" = String, Header), ("X-Medclaim-Timestamp" = i64, Header),
        ("X-Medclaim-Nonce" = String, Header), ("X-Medclaim-Signature" = String, Header)),
    request_body(content = serde_json::Value, content_type = "application/fhir+json", description = "FHIR R4 PaymentReconciliation"),
    responses((status = 201, body = PaymentAnswer), (status = 200, body = PaymentAnswer), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, description = "FHIR OperationOutcome", body = serde_json::Value, content_type = "application/fhir+json")))]
async fn payment(State(state): State<AppState>, signed: Signed<Insurer>) -> AppResult<Response> {
    let Signed {
        partner: insurer,
        body,
        ..
    } = signed;
    let value = match json_of(&body, "PaymentReconciliation") {
        Ok(v) => v,
        Err(outcome) => return Ok(outcome.into_response()),
    };
    let notice = match parse_payment(&value) {
        Ok(n) => n,
        Err(issues) => return Ok(OperationOutcome::new(issues).into_response()),
    };
    // An insurer pays only its own cases: a detail naming any other case refuses the whole
    // notice (nothing recorded) and leaves a trace in the audit log.
    let mut foreign = Vec::new();
    for case_id in notice.details.iter().filter_map(|d| d.case_id) {
        if store::insurer_of_case(&state.db.pool, case_id).await? != Some(insurer.id) {
            foreign.push(case_id.to_string());
        }
    }
    if !foreign.is_empty() {
        let mut tx = state.db.begin().await?;
        let event = Event {
            action: "ledger.payment_refused",
            object_type: "insurer",
            object_id: insurer.id.to_string(),
            summary: format!(
                "payment={} names cases not insured by this insurer: {}",
                notice.identifier,
                foreign.join(",")
            ),
        };
        audit::record(
            &mut tx,
            &Actor::system(&format!("insurer:{}", insurer.id)),
            event,
        )
        .await?;
        tx.commit().await?;
        return Err(AppError::not_found());
    }
    let mut tx = state.db.begin().await?;
    let recorded = ledger::record_payment(&mut tx, insurer.id, &notice).await?;
    if !recorded.already_recorded {
        super::service::settle_payments(&mut tx, insurer.id, &recorded.entries).await?;
        let twice = recorded.entries.iter().filter(|e| e.paid_twice).count();
        let event = Event {
            action: "ledger.payment",
            object_type: "insurer",
            object_id: insurer.id.to_string(),
            summary: format!(
                "payment={} entries={} total_cents={} paid_twice={twice}",
                notice.identifier,
                recorded.entries.len(),
                notice.total_cents
            ),
        };
        audit::record(
            &mut tx,
            &Actor::system(&format!("insurer:{}", insurer.id)),
            event,
        )
        .await?;
        if twice > 0 {
            tracing::warn!(
                insurer_id = insurer.id,
                paid_twice = twice,
                "payment for an already paid case"
            );
        }
    }
    tx.commit().await?;
    let status = if recorded.already_recorded {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(PaymentAnswer {
            entries: recorded.entries,
            already_recorded: recorded.already_recorded,
        }),
    )
        .into_response())
}
