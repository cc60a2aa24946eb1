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

use axum::Json;

use super::sessions::Device;
use crate::http::auth::{CSRF_HEADER, SESSION_COOKIE};
use crate::http::web::{PageUser, Tr, csrf, render};
use crate::http::{ApiJson, AppState, ClientIp, ErrorCode};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_form).post(login_submit))
        .route("/login/passkey", post(passkey_login))
        .route("/logout", post(logout))
        .route("/static/passkeys.js", get(script))
}

/// Passkey sign-in, registration on "我的" and the inline step-up prompt (embedded: no CDN).
async fn script() -> Response {
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/javascript; charset=utf-8",
            ),
            (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../assets/passkeys.js"),
    )
        .into_response()
}

pub(crate) fn session_cookie(state: &AppState, token: String) -> Cookie<'static> {
    let max_age = time::Duration::seconds(state.settings.session_absolute.as_secs() as i64);
    Cookie::build((SESSION_COOKIE, token))
        .path("/")
        .http_only(true)
        .secure(state.settings.secure_cookies)
        .same_site(SameSite::Lax)
        .max_age(max_age)
        .build()
}

/// The login page's "使用指纹/面容登录": the browser's answer to `/api/v1/auth/passkey/start`,
/// with the login page's CSRF token in `X-CSRF-Token`; sets the session cookie and answers
/// where to go (`{"next": "/"}`), or the JSON error (401 `passkey_invalid`).
async fn passkey_login(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: axum::http::HeaderMap,
    ClientIp(ip): ClientIp,
    Device(device): Device,
    ApiJson(body): ApiJson<super::passkeys_api::CredentialBody>,
) -> Response {
    let sent = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !csrf::check_pre_session(&jar, sent) {
        return ErrorCode::CsrfFailed
            .with_message("Missing or wrong CSRF token.")
            .into_response();
    }
    let signed = match super::passkeys::read_credential(body.credential) {
        Ok(credential) => {
            super::passkeys::finish_sign_in(&state, credential, "web", ip, device.as_deref()).await
        }
        Err(e) => Err(e),
    };
    match signed {
        Ok(signed) => (
            jar.add(session_cookie(&state, signed.token)),
            Json(serde_json::json!({ "next": "/" })),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// The branding for the login page; a failed read shows the product's own.
async fn brand(state: &AppState) -> crate::http::web::Branding {
    crate::http::web::brand::load(&state.db.pool)
        .await
        .unwrap_or_default()
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    tr: Tr,
    csrf: String,
    username: String,
    error: Option<String>,
    /// A button per configured sign-on provider (SPEC §13); inside WeChat, WeChat first.
    providers: Vec<Provider>,
    /// "首次登录？激活账号", where no campus sign-on is configured.
    activation: bool,
    /// The university's and the office's names, contact and logo.
    brand: crate::http::web::Branding,
}

struct Provider {
    id: &'static str,
    href: &'static str,
    label: String,
}

fn providers(state: &AppState, tr: Tr, headers: &axum::http::HeaderMap) -> Vec<Provider> {
    let sso = &state.settings.sso;
    let mut out = Vec::new();
    let mut add = |on: bool, id, href, key: &str| {
        if on {
            out.push(Provider {
                id,
                href,
                label: tr.t(key),
            });
        }
    };
    add(sso.cas().is_some(), "sso-cas", "/auth/cas/login", "sso.cas");
    add(
        sso.oidc().is_some(),
        "sso-oidc",
        "/auth/oidc/login",
        "sso.oidc",
    );
    add(
        sso.wechat().is_some(),
        "sso-wechat",
        "/auth/wechat/login",
        "sso.wechat",
    );
    let in_wechat = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ua| ua.contains("MicroMessenger"));
    if in_wechat {
        out.sort_by_key(|p| p.id != "sso-wechat");
    }
    out
}

async fn login_form(
    State(state): State<AppState>,
    tr: Tr,
    jar: CookieJar,
    headers: axum::http::HeaderMap,
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
            providers: providers(&state, tr, &headers),
            activation: !state.settings.sso.campus(),
            brand: brand(&state).await,
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
    headers: axum::http::HeaderMap,
    ClientIp(ip): ClientIp,
    Device(device): Device,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    let secure = state.settings.secure_cookies;
    let buttons = providers(&state, tr, &headers);
    let activation = !state.settings.sso.campus();
    let branding = brand(&state).await;
    let again = |jar: CookieJar, status: StatusCode, code: ErrorCode, username: String| {
        let (jar, token) = csrf::pre_session_token(jar, secure);
        let page = LoginPage {
            tr,
            csrf: token,
            username,
            error: Some(tr.t(code.message_key())),
            providers: buttons,
            activation,
            brand: branding,
        };
        (status, jar, render(&page)).into_response()
    };
    if !csrf::check_pre_session(&jar, &form.csrf) {
        return again(
            jar,
            StatusCode::FORBIDDEN,
            ErrorCode::CsrfFailed,
            form.username,
        );
    }
    let signed = super::sign_in(
        &state,
        &form.username,
        &form.password,
        "web",
        ip,
        device.as_deref(),
    )
    .await;
    match signed {
        Ok(signed) => (
            jar.add(session_cookie(&state, signed.token)),
            Redirect::to("/"),
        )
            .into_response(),
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
