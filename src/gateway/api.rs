//! `POST /api/v1/gateway/visits` (a hospital's signed push) and `GET /api/v1/visits` (the
//! patient's own visits).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::bundle;
use super::store::{self, Pushed, VisitView};
use crate::audit::{self, Actor, Event};
use crate::fhir::OperationOutcome;
use crate::http::auth::CurrentUser;
use crate::http::{AppError, AppResult, AppState};
use crate::registry::{Hospital, Signed};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(push_visit))
        .routes(routes!(my_visits))
}

type ErrorBody = crate::http::error::ErrorBodySchema;

#[derive(Serialize, ToSchema)]
pub struct PushAnswer {
    pub visit_id: i64,
}

/// A hospital pushes one visit as a signed FHIR R4 Bundle (`collection`: Patient, Encounter,
/// Condition, Invoice). 201 when new or amended, 200 when identical to what we hold; 422 with a
/// FHIR OperationOutcome naming every problem (nothing is stored then).
#[utoipa::path(post, path = "/api/v1/gateway/visits", tag = "gateway",
    request_body(content = serde_json::Value, content_type = "application/fhir+json", description = "FHIR R4 Bundle"),
    params(
        ("X-Medclaim-Key" = String, Header), ("X-Medclaim-Timestamp" = i64, Header),
        ("X-Medclaim-Nonce" = String, Header), ("X-Medclaim-Signature" = String, Header)),
    responses((status = 201, body = PushAnswer), (status = 200, body = PushAnswer),
              (status = 401, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, description = "FHIR OperationOutcome", body = serde_json::Value, content_type = "application/fhir+json")))]
async fn push_visit(
    State(state): State<AppState>,
    signed: Signed<Hospital>,
) -> AppResult<Response> {
    let Signed {
        partner: hospital,
        body,
        ..
    } = signed;
    let visit = match bundle::parse(&body) {
        Ok(v) => v,
        Err(issues) => {
            tracing::info!(
                hospital_id = hospital.id,
                issues = issues.len(),
                "visit bundle refused"
            );
            return Ok(OperationOutcome::new(issues).into_response());
        }
    };
    // Two instances storing the same new visit at once: the loser hits the unique key and
    // simply runs again, finding the winner's row.
    let pushed = match record_push(&state, hospital.id, &visit, &body).await {
        Err(e) if crate::db::is_unique_violation(&e) => {
            record_push(&state, hospital.id, &visit, &body).await?
        }
        other => other?,
    };
    let (status, visit_id) = match pushed {
        Pushed::Unchanged { visit_id } => (StatusCode::OK, visit_id),
        Pushed::Created { visit_id } | Pushed::Amended { visit_id, .. } => {
            (StatusCode::CREATED, visit_id)
        }
    };
    Ok((status, Json(PushAnswer { visit_id })).into_response())
}

/// Stores the visit and its audit event in one transaction.
async fn record_push(
    state: &AppState,
    hospital_id: i64,
    visit: &bundle::Visit,
    body: &[u8],
) -> sqlx::Result<Pushed> {
    let mut tx = state.db.begin().await?;
    let pushed = store::save(&mut tx, &state.keys, hospital_id, visit, body).await?;
    let (action, visit_id, revision) = match pushed {
        Pushed::Unchanged { .. } => return Ok(pushed),
        Pushed::Created { visit_id } => ("visit.push", visit_id, 1),
        Pushed::Amended { visit_id, revision } => ("visit.amend", visit_id, revision),
    };
    let event = Event {
        action,
        object_type: "visit",
        object_id: visit_id.to_string(),
        summary: format!("hospital={hospital_id} revision={revision}"),
    };
    audit::record(
        &mut tx,
        &Actor::system(&format!("hospital:{hospital_id}")),
        event,
    )
    .await?;
    tx.commit().await?;
    Ok(pushed)
}

#[derive(Deserialize, IntoParams)]
pub struct VisitsQuery {
    /// Cursor from the previous page: visits with a smaller id.
    pub cursor: Option<i64>,
    /// Page size, 1–100 (default 50).
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct VisitPage {
    pub items: Vec<VisitView>,
    pub next_cursor: Option<i64>,
}

/// The visits hospitals pushed for the signed-in person (matched on the national id number's
/// blind index), newest first.
#[utoipa::path(get, path = "/api/v1/visits", tag = "gateway", params(VisitsQuery), security(("bearer" = [])),
    responses((status = 200, body = VisitPage), (status = 401, body = ErrorBody)))]
async fn my_visits(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<VisitsQuery>,
) -> AppResult<Json<VisitPage>> {
    let row = crate::accounts::store::find_by_id(&state.db.pool, user.id)
        .await?
        .ok_or_else(AppError::unauthenticated)?;
    let Some(bidx) = row.id_number_bidx else {
        return Ok(Json(VisitPage {
            items: Vec::new(),
            next_cursor: None,
        }));
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 100);
    let items =
        store::visits_of_patient(&state.db.pool, &bidx, q.cursor.unwrap_or(i64::MAX), limit)
            .await?;
    let next_cursor = (items.len() as i64 == limit)
        .then(|| items.last().map(|v| v.id))
        .flatten();
    Ok(Json(VisitPage { items, next_cursor }))
}
