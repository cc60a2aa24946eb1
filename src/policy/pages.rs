//! The console's policy page (admin): ratios per hospital level, deductible and cap; saving
//! makes a new version (SPEC §3).

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use super::Policy;
use crate::http::auth::{CsrfForm, CurrentUser};
use crate::http::web::{ConsoleFrame, PageUser, Tr, error_text, render};
use crate::http::{AppError, AppState, ErrorCode};
use crate::money::Cents;

pub fn router() -> Router<AppState> {
    Router::new().route("/console/policy", get(policy_page).post(policy_form))
}

#[derive(Template)]
#[template(path = "policy/console.html")]
struct PolicyT<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    frame: ConsoleFrame,
    version: i64,
    ratios: Vec<(i64, String)>,
    deductible: String,
    cap: String,
}

#[derive(Deserialize)]
struct ErrQ {
    error: Option<String>,
}

async fn policy_page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    frame: ConsoleFrame,
    Query(q): Query<ErrQ>,
) -> Response {
    let p = match super::store::current(&state.db.pool).await {
        Ok(p) => p,
        Err(e) => return AppError::from(e).into_response(),
    };
    render(&PolicyT {
        tr,
        user: &user,
        frame: frame.with_error(q.error.as_deref().map(|c| error_text(tr, c))),
        version: p.version,
        ratios: (0..4)
            .map(|l| {
                let bp = p.ratios_bp[l as usize];
                (l, format!("{}.{:02}", bp / 100, bp % 100))
            })
            .collect(),
        deductible: p.deductible_cents.to_string(),
        cap: p.annual_cap_cents.to_string(),
    })
}

#[derive(Deserialize)]
struct PolicyForm {
    ratio0: String,
    ratio1: String,
    ratio2: String,
    ratio3: String,
    deductible: String,
    cap: String,
}

async fn policy_form(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    CsrfForm { user, form: f }: CsrfForm<PolicyForm>,
) -> Response {
    let back =
        |code: ErrorCode| Redirect::to(&format!("/console/policy?error={code}")).into_response();
    // Step-up: the page's script asks inline (password or passkey) and sends the form again.
    if let Err(e) = user.require_fresh_auth(&state) {
        return if headers.contains_key(crate::http::web::REAUTH_INLINE_HEADER) {
            e.into_response()
        } else {
            back(e.code)
        };
    }
    // A percentage with up to two decimals is basis points read like yuan.
    let ratios: Option<Vec<i64>> = [&f.ratio0, &f.ratio1, &f.ratio2, &f.ratio3]
        .iter()
        .map(|r| {
            Cents::parse_typed(r.trim_end_matches('%'))
                .ok()
                .map(Cents::get)
        })
        .collect();
    let (Some(ratios), Some(deductible), Some(cap)) = (
        ratios,
        Cents::parse_typed(&f.deductible).ok(),
        Cents::parse_typed(&f.cap).ok(),
    ) else {
        return back(ErrorCode::InvalidInput);
    };
    let body = super::api::PolicyBody {
        ratios_bp: ratios
            .iter()
            .enumerate()
            .map(|(i, r)| (i.to_string(), *r))
            .collect(),
        deductible_cents: deductible,
        annual_cap_cents: cap,
    };
    let policy: Policy = match super::api::parse_policy(&body) {
        Ok(p) => p,
        Err(e) => return back(e.code),
    };
    match super::api::save_policy(&state, &user, policy).await {
        Ok(_) => Redirect::to("/console/policy").into_response(),
        Err(e) => back(e.code),
    }
}
