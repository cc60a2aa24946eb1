//! `GET/PUT /api/v1/admin/policy`: the reimbursement policy, versioned — a PUT stores a new
//! version; approved cases keep the version they used.

use crate::money::Cents;
use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::domain::Policy;
use super::store;
use crate::audit::{self, Event};
use crate::http::auth::Admins;
use crate::http::auth::RequireRole;
use crate::http::{ApiJson, AppError, AppResult, AppState, ErrorCode};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_policy, put_policy))
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct PolicyBody {
    /// Ratio per hospital level in basis points (10000 = 100%), keys "0" (unrated) to "3".
    pub ratios_bp: BTreeMap<String, i64>,
    /// Yearly deductible (起付线), cents.
    pub deductible_cents: Cents,
    /// Yearly cap (封顶线), cents.
    pub annual_cap_cents: Cents,
}

#[derive(Serialize, ToSchema)]
pub struct PolicyView {
    pub version: i64,
    pub ratios_bp: BTreeMap<String, i64>,
    pub deductible_cents: Cents,
    pub annual_cap_cents: Cents,
}

impl From<Policy> for PolicyView {
    fn from(p: Policy) -> PolicyView {
        PolicyView {
            version: p.version,
            ratios_bp: (0..4).map(|l| (l.to_string(), p.ratios_bp[l])).collect(),
            deductible_cents: p.deductible_cents,
            annual_cap_cents: p.annual_cap_cents,
        }
    }
}

/// Parses a policy body: exactly the keys "0".."3", ratios 0–10000, amounts ≥ 0.
pub fn parse_policy(b: &PolicyBody) -> Result<Policy, AppError> {
    let mut ratios = [0i64; 4];
    for key in b.ratios_bp.keys() {
        if !matches!(key.as_str(), "0" | "1" | "2" | "3") {
            return Err(ErrorCode::InvalidRatio
                .with_message("Ratios are keyed by level 0–3.")
                .with_field(format!("ratios_bp.{key}"), "unknown hospital level"));
        }
    }
    for (level, slot) in ratios.iter_mut().enumerate() {
        let key = level.to_string();
        let v = *b.ratios_bp.get(&key).ok_or_else(|| {
            ErrorCode::InvalidRatio
                .with_message("A ratio is needed for every level 0–3.")
                .with_field(format!("ratios_bp.{key}"), "missing")
        })?;
        if !(0..=10_000).contains(&v) {
            return Err(ErrorCode::InvalidRatio
                .with_message("A ratio is 0–10000 basis points.")
                .with_field(format!("ratios_bp.{key}"), "0–10000"));
        }
        *slot = v;
    }
    for (field, v) in [
        ("deductible_cents", b.deductible_cents),
        ("annual_cap_cents", b.annual_cap_cents),
    ] {
        if !(0..=10_000_000_000).contains(&v.get()) {
            return Err(ErrorCode::InvalidAmount
                .with_message("Amounts are 0 or more cents.")
                .with_field(field, "0 to 10,000,000,000 cents"));
        }
    }
    Ok(Policy {
        version: 0,
        ratios_bp: ratios,
        deductible_cents: b.deductible_cents,
        annual_cap_cents: b.annual_cap_cents,
    })
}

/// The current policy.
#[utoipa::path(get, path = "/api/v1/admin/policy", tag = "policy", security(("bearer" = [])),
    responses((status = 200, body = PolicyView), (status = 403, body = crate::http::error::ErrorBodySchema)))]
async fn get_policy(
    State(state): State<AppState>,
    _admin: RequireRole<Admins>,
) -> AppResult<Json<PolicyView>> {
    Ok(Json(store::current(&state.db.pool).await?.into()))
}

/// Store a new version of the policy; it applies to approvals from now on. Needs a fresh
/// authentication (step-up): 401 `reauth_required` otherwise.
#[utoipa::path(put, path = "/api/v1/admin/policy", tag = "policy", request_body = PolicyBody, security(("bearer" = [])),
    responses((status = 200, body = PolicyView), (status = 401, body = crate::http::error::ErrorBodySchema),
              (status = 403, body = crate::http::error::ErrorBodySchema),
              (status = 422, body = crate::http::error::ErrorBodySchema)))]
async fn put_policy(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    ApiJson(body): ApiJson<PolicyBody>,
) -> AppResult<Json<PolicyView>> {
    admin.require_fresh_auth(&state)?;
    let policy = parse_policy(&body)?;
    let saved = save_policy(&state, &admin, policy).await?;
    Ok(Json(saved.into()))
}

/// Stores `policy` as the next version, audited; used by the API and the console page.
pub async fn save_policy(
    state: &AppState,
    admin: &crate::http::auth::CurrentUser,
    mut policy: Policy,
) -> AppResult<Policy> {
    let mut tx = state.db.begin().await?;
    policy.version = store::insert_version(&mut tx, &policy, Some(admin.id)).await?;
    audit::record(
        &mut tx,
        &admin.actor(),
        Event {
            action: "policy.update",
            object_type: "policy",
            object_id: policy.version.to_string(),
            summary: format!(
                "ratios_bp={:?} deductible={} cap={}",
                policy.ratios_bp,
                policy.deductible_cents.get(),
                policy.annual_cap_cents.get()
            ),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(policy)
}
