//! `/app/me`: own profile (personal data masked) and the phone change.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::accounts::store as users;
use crate::crypto::{mask_id_number, mask_phone};
use crate::http::auth::CsrfForm;
use crate::http::auth::CurrentUser;
use crate::http::web::{PageUser, Tr, render};
use crate::http::{AppError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/app/me", get(profile))
        .route("/app/me/phone/code", post(send_code))
        .route("/app/me/phone", post(apply_code))
}

#[derive(Template)]
#[template(path = "student/profile.html")]
struct Profile<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    tab: &'static str,
    class_name: String,
    enrolment: String,
    phone_masked: String,
    id_number_masked: String,
    notice: Option<String>,
    error: Option<String>,
    /// WeChat bound for sign-on (SPEC §13); "我的" can unbind it.
    wechat_bound: bool,
}

async fn page(
    state: &AppState,
    tr: Tr,
    user: &CurrentUser,
    notice: Option<String>,
    error: Option<AppError>,
) -> Response {
    let row = match users::find_by_id(&state.db.pool, user.id).await {
        Ok(Some(row)) => row,
        Ok(None) => return crate::claims::pages::error_page(tr, user, AppError::not_found()),
        Err(e) => return crate::claims::pages::error_page(tr, user, e.into()),
    };
    let status = error
        .as_ref()
        .map(|e| e.status)
        .unwrap_or(axum::http::StatusCode::OK);
    let page = Profile {
        tr,
        user,
        tab: "me",
        class_name: row.class_name.clone().unwrap_or_default(),
        enrolment: tr.t(&format!("intake.enrolment_{}", row.enrolment_status)),
        phone_masked: users::open_phone(&state.keys, &row)
            .map(|p| mask_phone(&p))
            .unwrap_or_default(),
        id_number_masked: users::open_id_number(&state.keys, &row)
            .map(|i| mask_id_number(&i))
            .unwrap_or_default(),
        notice,
        error: error.map(|e| crate::claims::pages::message(&tr, &e)),
        wechat_bound: crate::sso::pages::wechat_bound(state, user.id).await,
    };
    (status, render(&page)).into_response()
}

async fn profile(State(state): State<AppState>, tr: Tr, PageUser(user): PageUser) -> Response {
    page(&state, tr, &user, None, None).await
}

#[derive(Deserialize)]
struct PhoneForm {
    #[serde(default)]
    phone: String,
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    code: String,
}

async fn send_code(
    State(state): State<AppState>,
    tr: Tr,
    CsrfForm { user, form: f }: CsrfForm<PhoneForm>,
) -> Response {
    match super::phone::request_code(&state, &user, &f.phone).await {
        Ok(masked) => {
            page(
                &state,
                tr,
                &user,
                Some(format!("{} {masked}", tr.t("intake.code_sent"))),
                None,
            )
            .await
        }
        Err(e) => page(&state, tr, &user, None, Some(e)).await,
    }
}

async fn apply_code(
    State(state): State<AppState>,
    tr: Tr,
    CsrfForm { user, form: f }: CsrfForm<CodeForm>,
) -> Response {
    match super::phone::apply_code(&state, &user, &f.code).await {
        Ok(_) => page(&state, tr, &user, Some(tr.t("intake.phone_changed")), None).await,
        Err(e) => page(&state, tr, &user, None, Some(e)).await,
    }
}
