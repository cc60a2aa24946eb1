//! `/activate`: the first sign-in of an imported student, from the login page's "首次登录？激活
//! 账号" (only where no campus sign-on is configured) — the student id and the last six of the
//! id number, then the code from the SMS and a password; then signed in. Before sign-in, so the
//! forms carry the pre-session CSRF token, as the login form does.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use crate::accounts::sessions::Device;
use crate::http::web::{Tr, csrf, render};
use crate::http::{AppError, AppState, ClientIp, ErrorCode};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/activate", get(form).post(activate))
        .route("/activate/start", post(start))
}

/// Which part of the page shows: asking for a code, or setting the password.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Ask,
    Set,
}

#[derive(Template)]
#[template(path = "activate.html")]
struct ActivatePage {
    tr: Tr,
    csrf: String,
    step: Step,
    student_id: String,
    notice: Option<String>,
    error: Option<String>,
}

fn show(
    jar: CookieJar,
    state: &AppState,
    tr: Tr,
    step: Step,
    student_id: String,
    outcome: Result<Option<String>, AppError>,
) -> Response {
    let (jar, token) = csrf::pre_session_token(jar, state.settings.secure_cookies);
    let (status, notice, error) = match outcome {
        Ok(notice) => (StatusCode::OK, notice, None),
        Err(e) => (e.status, None, Some(tr.t(e.code.message_key()))),
    };
    let page = ActivatePage {
        tr,
        csrf: token,
        step,
        student_id,
        notice,
        error,
    };
    (status, jar, render(&page)).into_response()
}

/// Where a campus sign-on is configured there is no such page.
fn not_offered(state: &AppState) -> Option<Response> {
    super::activation::ensure_offered(state)
        .err()
        .map(IntoResponse::into_response)
}

async fn form(State(state): State<AppState>, tr: Tr, jar: CookieJar) -> Response {
    if let Some(refused) = not_offered(&state) {
        return refused;
    }
    show(jar, &state, tr, Step::Ask, String::new(), Ok(None))
}

#[derive(Deserialize)]
struct StartForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    student_id: String,
    #[serde(default)]
    id_last6: String,
}

async fn start(
    State(state): State<AppState>,
    tr: Tr,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    axum::Form(f): axum::Form<StartForm>,
) -> Response {
    if let Some(refused) = not_offered(&state) {
        return refused;
    }
    let student_id: String = f.student_id.trim().chars().take(64).collect();
    if !csrf::check_pre_session(&jar, &f.csrf) {
        let refused = Err(ErrorCode::CsrfFailed.into());
        return show(jar, &state, tr, Step::Ask, student_id, refused);
    }
    match super::activation::start(&state, &student_id, &f.id_last6, ip).await {
        Ok(()) => {
            let notice = Some(tr.t("account.activate_code_sent"));
            show(jar, &state, tr, Step::Set, student_id, Ok(notice))
        }
        Err(e) => show(jar, &state, tr, Step::Ask, student_id, Err(e)),
    }
}

#[derive(Deserialize)]
struct ActivateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    student_id: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    password: String,
}

async fn activate(
    State(state): State<AppState>,
    tr: Tr,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    Device(device): Device,
    axum::Form(f): axum::Form<ActivateForm>,
) -> Response {
    if let Some(refused) = not_offered(&state) {
        return refused;
    }
    let student_id: String = f.student_id.trim().chars().take(64).collect();
    if !csrf::check_pre_session(&jar, &f.csrf) {
        let refused = Err(ErrorCode::CsrfFailed.into());
        return show(jar, &state, tr, Step::Set, student_id, refused);
    }
    let done = super::activation::activate(
        &state,
        &student_id,
        &f.code,
        &f.password,
        "web",
        ip,
        device.as_deref(),
    )
    .await;
    match done {
        Ok(signed) => (
            jar.add(crate::accounts::pages::session_cookie(&state, signed.token)),
            Redirect::to("/"),
        )
            .into_response(),
        Err(e) => show(jar, &state, tr, Step::Set, student_id, Err(e)),
    }
}
