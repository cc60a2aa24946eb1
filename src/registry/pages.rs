//! Console page `/console/partners`: register hospitals and insurers, rotate their secrets
//! (the new secret is shown on the answering page only), deactivate them. Admins only.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::store::{self, NewPartner, Partner, PartnerKind};
use crate::http::auth::CsrfForm;
use crate::http::auth::CurrentUser;
use crate::http::web::{ConsoleFrame, PageUser, Tr, render};
use crate::http::{AppError, AppResult, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/partners", get(page))
        .route("/console/partners/hospitals", post(add_hospital))
        .route("/console/partners/insurers", post(add_insurer))
        .route("/console/partners/{kind}/{id}/rotate", post(rotate))
        .route("/console/partners/{kind}/{id}/deactivate", post(deactivate))
}

/// Credentials to show once.
struct Issued {
    name: String,
    key_id: String,
    secret: String,
}

#[derive(Template)]
#[template(path = "registry/partners.html")]
struct PartnersPage<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    hospitals: Vec<Partner>,
    insurers: Vec<Partner>,
    issued: Option<Issued>,
    frame: ConsoleFrame,
}

async fn show(
    state: &AppState,
    tr: Tr,
    user: &CurrentUser,
    issued: Option<Issued>,
    error: Option<String>,
) -> Response {
    let lists = async {
        let h = store::list(&state.db.pool, &state.keys, PartnerKind::Hospital).await?;
        let i = store::list(&state.db.pool, &state.keys, PartnerKind::Insurer).await?;
        Ok::<_, sqlx::Error>((h, i))
    };
    match lists.await {
        Ok((hospitals, insurers)) => {
            let status = if error.is_some() {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::OK
            };
            // Also after a form post, the language switch returns to the page itself.
            let frame = ConsoleFrame::new(tr, user, "/console/partners").with_error(error);
            let page = PartnersPage {
                tr,
                user,
                hospitals,
                insurers,
                issued,
                frame,
            };
            (status, render(&page)).into_response()
        }
        Err(e) => AppError::from(e).into_response(),
    }
}

async fn page(State(state): State<AppState>, tr: Tr, PageUser(user): PageUser) -> Response {
    show(&state, tr, &user, None, None).await
}

#[derive(Deserialize)]
struct HospitalForm {
    name: String,
    level: i64,
}

#[derive(Deserialize)]
struct InsurerForm {
    name: String,
    fhir_base_url: String,
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
struct Empty {}

/// Runs a registration from a form and answers the page with the new secret, or the error.
async fn registered(
    state: &AppState,
    tr: Tr,
    user: &CurrentUser,
    new: AppResult<NewPartner<'_>>,
) -> Response {
    let done = match new {
        Ok(new) => super::register(state, &user.actor(), &new)
            .await
            .map(|c| (new_name(&new), c)),
        Err(e) => Err(e),
    };
    match done {
        Ok((name, c)) => {
            let issued = Issued {
                name,
                key_id: c.key_id,
                secret: c.secret,
            };
            show(state, tr, user, Some(issued), None).await
        }
        Err(e) if e.status.is_client_error() => {
            let msg = tr.t(e.code.message_key());
            show(state, tr, user, None, Some(msg)).await
        }
        Err(e) => e.into_response(),
    }
}

fn new_name(new: &NewPartner<'_>) -> String {
    match new {
        NewPartner::Hospital { name, .. } | NewPartner::Insurer { name, .. } => name.to_string(),
    }
}

async fn add_hospital(
    State(state): State<AppState>,
    tr: Tr,
    CsrfForm { user, form }: CsrfForm<HospitalForm>,
) -> Response {
    let new = super::hospital(&form.name, form.level);
    registered(&state, tr, &user, new).await
}

async fn add_insurer(
    State(state): State<AppState>,
    tr: Tr,
    CsrfForm { user, form }: CsrfForm<InsurerForm>,
) -> Response {
    let new = super::insurer(state.settings.partner_urls, &form.name, &form.fhir_base_url).await;
    registered(&state, tr, &user, new).await
}

fn kind_of(path: &str) -> Option<PartnerKind> {
    match path {
        "hospitals" => Some(PartnerKind::Hospital),
        "insurers" => Some(PartnerKind::Insurer),
        _ => None,
    }
}

async fn rotate(
    State(state): State<AppState>,
    tr: Tr,
    Path((kind, id)): Path<(String, i64)>,
    CsrfForm { user, .. }: CsrfForm<Empty>,
) -> Response {
    let Some(kind) = kind_of(&kind) else {
        return AppError::not_found().into_response();
    };
    let name = match store::find_by_id(&state.db.pool, &state.keys, kind, id).await {
        Ok(Some(p)) => p.name,
        Ok(None) => return AppError::not_found().into_response(),
        Err(e) => return AppError::from(e).into_response(),
    };
    match super::rotate(&state, &user.actor(), kind, id).await {
        Ok(c) => {
            let issued = Issued {
                name,
                key_id: c.key_id,
                secret: c.secret,
            };
            show(&state, tr, &user, Some(issued), None).await
        }
        Err(e) => e.into_response(),
    }
}

async fn deactivate(
    State(state): State<AppState>,
    Path((kind, id)): Path<(String, i64)>,
    CsrfForm { user, .. }: CsrfForm<Empty>,
) -> Response {
    let Some(kind) = kind_of(&kind) else {
        return AppError::not_found().into_response();
    };
    match super::deactivate(&state, &user.actor(), kind, id).await {
        Ok(()) => Redirect::to("/console/partners").into_response(),
        Err(e) => e.into_response(),
    }
}
