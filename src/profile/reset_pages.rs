//! `/password-reset`: the forgotten password, from the login page's "忘记密码?" — the login
//! name, then the code from the SMS and a new password. Before sign-in, so the forms carry the
//! pre-session CSRF token, as the login form does.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use crate::http::web::{Tr, csrf, render};
use crate::http::{AppError, AppState, ClientIp, ErrorCode};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/password-reset", get(form).post(reset))
        .route("/password-reset/start", post(start))
        .route(
            "/password-reset/link/{token}",
            get(link_form).post(link_reset),
        )
}

/// Which part of the page shows: asking for a code, setting the password, or done.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Ask,
    Set,
    /// Setting the password with an administrator's one-time link.
    Link,
    Done,
}

#[derive(Template)]
#[template(path = "password_reset.html")]
struct ResetPage {
    tr: Tr,
    csrf: String,
    step: Step,
    username: String,
    /// The reset link's token (step `Link`).
    token: String,
    notice: Option<String>,
    error: Option<String>,
}

/// The page at `step`; `outcome` is a notice to show, or the error that sent it back (and its
/// status).
fn show(
    jar: CookieJar,
    state: &AppState,
    tr: Tr,
    step: Step,
    username: String,
    outcome: Result<Option<String>, AppError>,
) -> Response {
    let (jar, token) = csrf::pre_session_token(jar, state.settings.secure_cookies);
    let (status, notice, error) = match outcome {
        Ok(notice) => (StatusCode::OK, notice, None),
        Err(e) => (e.status, None, Some(tr.t(e.code.message_key()))),
    };
    let page = ResetPage {
        tr,
        csrf: token,
        step,
        username,
        token: String::new(),
        notice,
        error,
    };
    (status, jar, render(&page)).into_response()
}

fn csrf_refused() -> AppError {
    ErrorCode::CsrfFailed.into()
}

#[derive(Deserialize)]
struct FormQuery {
    #[serde(default)]
    username: String,
}

async fn form(
    State(state): State<AppState>,
    tr: Tr,
    jar: CookieJar,
    Query(q): Query<FormQuery>,
) -> Response {
    let username: String = q.username.chars().take(64).collect();
    show(jar, &state, tr, Step::Ask, username, Ok(None))
}

#[derive(Deserialize)]
struct StartForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
}

async fn start(
    State(state): State<AppState>,
    tr: Tr,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    axum::Form(f): axum::Form<StartForm>,
) -> Response {
    let username: String = f.username.trim().chars().take(64).collect();
    if !csrf::check_pre_session(&jar, &f.csrf) {
        return show(jar, &state, tr, Step::Ask, username, Err(csrf_refused()));
    }
    match super::password_reset::start(&state, &username, ip).await {
        Ok(()) => {
            let notice = Some(tr.t("account.reset_code_sent"));
            show(jar, &state, tr, Step::Set, username, Ok(notice))
        }
        Err(e) => show(jar, &state, tr, Step::Ask, username, Err(e)),
    }
}

#[derive(Deserialize)]
struct ResetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    password: String,
}

async fn reset(
    State(state): State<AppState>,
    tr: Tr,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    axum::Form(f): axum::Form<ResetForm>,
) -> Response {
    let username: String = f.username.trim().chars().take(64).collect();
    if !csrf::check_pre_session(&jar, &f.csrf) {
        return show(jar, &state, tr, Step::Set, username, Err(csrf_refused()));
    }
    let done =
        crate::accounts::password::reset_with_code(&state, &username, &f.code, &f.password, ip)
            .await;
    match done {
        Ok(()) => {
            let notice = Some(tr.t("account.reset_done"));
            show(jar, &state, tr, Step::Done, username, Ok(notice))
        }
        Err(e) => show(jar, &state, tr, Step::Set, username, Err(e)),
    }
}

/// The page of a reset link: the new password, once. An unusable link shows why.
async fn link_form(
    State(state): State<AppState>,
    tr: Tr,
    jar: CookieJar,
    axum::extract::Path(token): axum::extract::Path<String>,
) -> Response {
    match crate::accounts::admin::check_link(&state, &token).await {
        Ok(username) => show_link(jar, &state, tr, token, username, Ok(None)),
        Err(e) => show(jar, &state, tr, Step::Ask, String::new(), Err(e)),
    }
}

fn show_link(
    jar: CookieJar,
    state: &AppState,
    tr: Tr,
    token: String,
    username: String,
    outcome: Result<Option<String>, AppError>,
) -> Response {
    let (jar, csrf) = csrf::pre_session_token(jar, state.settings.secure_cookies);
    let (status, error) = match outcome {
        Ok(_) => (StatusCode::OK, None),
        Err(e) => (e.status, Some(tr.t(e.code.message_key()))),
    };
    let page = ResetPage {
        tr,
        csrf,
        step: Step::Link,
        username,
        token,
        notice: None,
        error,
    };
    (status, jar, render(&page)).into_response()
}

#[derive(Deserialize)]
struct LinkForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

async fn link_reset(
    State(state): State<AppState>,
    tr: Tr,
    jar: CookieJar,
    axum::extract::Path(token): axum::extract::Path<String>,
    axum::Form(f): axum::Form<LinkForm>,
) -> Response {
    let username = match crate::accounts::admin::check_link(&state, &token).await {
        Ok(u) => u,
        Err(e) => return show(jar, &state, tr, Step::Ask, String::new(), Err(e)),
    };
    if !csrf::check_pre_session(&jar, &f.csrf) {
        return show_link(jar, &state, tr, token, username, Err(csrf_refused()));
    }
    match crate::accounts::admin::reset_with_link(&state, &token, &f.password).await {
        Ok(()) => {
            let notice = Some(tr.t("account.reset_done"));
            show(jar, &state, tr, Step::Done, username, Ok(notice))
        }
        Err(e) => show_link(jar, &state, tr, token, username, Err(e)),
    }
}
