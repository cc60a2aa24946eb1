//! The login page, and signing out from a page.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;

use super::extract::SESSION_COOKIE;
use crate::http::{AppState, ClientIp};
use crate::web::{PageUser, Tr, csrf, render};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_form).post(login_submit))
        .route("/logout", post(logout))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    tr: Tr,
    csrf: String,
    username: String,
    error: Option<String>,
}

async fn login_form(
    State(state): State<AppState>,
    tr: Tr,
    jar: CookieJar,
    user: Option<PageUser>,
) -> Response {
    if user.is_some() {
        return Redirect::to("/").into_response();
    }
    let (jar, token) = csrf::pre_session_token(jar, state.settings.secure_cookies);
    (
        jar,
        render(&LoginPage {
            tr,
            csrf: token,
            username: String::new(),
            error: None,
        }),
    )
        .into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    csrf: String,
}

async fn login_submit(
    State(state): State<AppState>,
    tr: Tr,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    let secure = state.settings.secure_cookies;
    let again = |jar: CookieJar, status: StatusCode, code: &str, username: String| {
        let (jar, token) = csrf::pre_session_token(jar, secure);
        let page = LoginPage {
            tr,
            csrf: token,
            username,
            error: Some(tr.t(&format!("errors.{code}"))),
        };
        (status, jar, render(&page)).into_response()
    };
    if !csrf::check_pre_session(&jar, &form.csrf) {
        return again(jar, StatusCode::FORBIDDEN, "csrf_failed", form.username);
    }
    match super::sign_in(&state, &form.username, &form.password, "web", ip).await {
        Ok(signed) => {
            let max_age = time::Duration::seconds(state.settings.session_absolute.as_secs() as i64);
            let cookie = Cookie::build((SESSION_COOKIE, signed.token))
                .path("/")
                .http_only(true)
                .secure(secure)
                .same_site(SameSite::Lax)
                .max_age(max_age)
                .build();
            (jar.add(cookie), Redirect::to("/")).into_response()
        }
        Err(e) => again(jar, e.status, e.code, form.username),
    }
}

#[derive(Deserialize)]
struct LogoutForm {
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    jar: CookieJar,
    PageUser(user): PageUser,
    axum::Form(form): axum::Form<LogoutForm>,
) -> Response {
    if !csrf::same(&form.csrf, &user.csrf_token) {
        return (StatusCode::FORBIDDEN, "CSRF token mismatch").into_response();
    }
    if let Err(e) = super::sign_out(&state, &user).await {
        return e.into_response();
    }
    let jar = jar.remove(Cookie::build(SESSION_COOKIE).path("/").build());
    (jar, Redirect::to("/login")).into_response()
}
