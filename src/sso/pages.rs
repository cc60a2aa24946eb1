//! The sign-on routes of SPEC §13. All are public (anyone may start or finish a sign-on; what
//! proves identity is the provider's ticket, code or token, checked server to server), except
//! `POST /app/me/wechat/unbind` (a signed-in user, CSRF token).
//!
//! | route | who may call |
//! |---|---|
//! | `GET /auth/cas/login?next=` | anyone |
//! | `GET /auth/cas/callback?ticket=` | anyone holding the browser's `state` cookie |
//! | `POST /auth/cas/logout` | the CAS server (back-channel; the ticket is the secret) |
//! | `GET /auth/oidc/login?next=`, `GET /auth/oidc/callback` | anyone / the browser with the `state` cookie |
//! | `GET /auth/wechat/login?next=`, `GET /auth/wechat/callback` | anyone / the browser with the `state` cookie |
//! | `POST /app/me/wechat/unbind` | any signed-in user (their own binding) |

use std::sync::LazyLock;
use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;

use super::domain::{self, CAS, OIDC, WECHAT};
use super::store;
use crate::accounts::store as users;
use crate::audit::{self, Actor, Event};
use crate::http::auth::Role;
use crate::http::auth::SESSION_COOKIE;
use crate::http::web::{PageUser, Tr, csrf, render};
use crate::http::{AppError, AppState, ClientIp, ErrorCode};

/// The cookie binding a sign-on's `state` to the browser that started it.
pub const STATE_COOKIE: &str = "medclaim_sso";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/cas/login", get(cas_login))
        .route("/auth/cas/callback", get(cas_callback))
        .route("/auth/cas/logout", post(cas_logout))
        .route("/auth/oidc/login", get(oidc_login))
        .route("/auth/oidc/callback", get(oidc_callback))
        .route("/auth/wechat/login", get(wechat_login))
        .route("/auth/wechat/callback", get(wechat_callback))
        .route("/app/me/wechat/unbind", post(wechat_unbind))
}

static CLIENT: LazyLock<reqwest::Client> = LazyLock::new(|| {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client")
});

// ---- errors ---------------------------------------------------------------------------------

fn unknown_person() -> AppError {
    ErrorCode::SsoUnknownPerson.with_message(
        "Your campus account is not on the roster of this system; ask the office to import you.",
    )
}
fn invalid_ticket(why: &str) -> AppError {
    tracing::info!(reason = why, "sign-on ticket refused");
    ErrorCode::SsoInvalidTicket
        .with_message("The sign-on ticket is invalid or was already used; sign in again.")
}
fn state_mismatch() -> AppError {
    ErrorCode::SsoStateMismatch
        .with_message("This sign-on was not started in this browser or has expired; sign in again.")
}
fn token_invalid(why: &str) -> AppError {
    tracing::info!(reason = why, "sign-on token refused");
    ErrorCode::SsoTokenInvalid
        .with_message("The identity provider's answer could not be verified; sign in again.")
}
fn not_configured() -> AppError {
    AppError::not_found()
}

#[derive(Template)]
#[template(path = "sso/error.html")]
struct ErrorPage {
    tr: Tr,
    title: String,
    message: String,
    code: &'static str,
}

/// A readable page for a sign-on failure, with its stable code.
fn error_page(tr: Tr, e: AppError) -> Response {
    if e.status.is_server_error() {
        return e.into_response();
    }
    let message = tr.t(e.code.message_key());
    let page = ErrorPage {
        tr,
        title: tr.t("sso.error_title"),
        message,
        code: e.code.as_str(),
    };
    (e.status, render(&page)).into_response()
}

// ---- shared steps -----------------------------------------------------------------------------

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

fn state_cookie(value: String, secure: bool) -> Cookie<'static> {
    Cookie::build((STATE_COOKIE, value))
        .path("/auth")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(time::Duration::milliseconds(store::FLOW_TTL_MS))
        .build()
}

/// Starts a flow: a fresh `state` remembered (hashed) with what the callback needs, and set in
/// the browser's cookie.
async fn start_flow(
    state: &AppState,
    jar: CookieJar,
    provider: &str,
    nonce: Option<&str>,
    verifier: Option<&str>,
    next: &str,
    bind_user_id: Option<i64>,
) -> Result<(CookieJar, String), AppError> {
    let flow_state = crate::crypto::random_token();
    store::create_flow(
        &state.db.pool,
        store::NewFlow {
            state: &flow_state,
            provider,
            nonce,
            pkce_verifier: verifier,
            next_path: next,
            bind_user_id,
        },
    )
    .await?;
    let jar = jar.add(state_cookie(
        flow_state.clone(),
        state.settings.secure_cookies,
    ));
    Ok((jar, flow_state))
}

/// Takes the flow named by the browser's cookie; `sent` (the `state` query parameter, where the
/// protocol has one) must equal it. Either way the flow is used up.
async fn take_flow(
    state: &AppState,
    jar: &CookieJar,
    provider: &str,
    sent: Option<&str>,
) -> Result<store::Flow, AppError> {
    let Some(cookie) = jar.get(STATE_COOKIE).map(|c| c.value().to_string()) else {
        return Err(state_mismatch());
    };
    if let Some(sent) = sent
        && !csrf::same(sent, &cookie)
    {
        return Err(state_mismatch());
    }
    let mut tx = state.db.begin().await?;
    let flow = store::take_flow(&mut tx, &cookie).await?;
    tx.commit().await?;
    match flow {
        Some(f) if f.provider == provider => Ok(f),
        _ => Err(state_mismatch()),
    }
}

/// Marks a ticket or code used; a second presentation is refused.
async fn use_once(state: &AppState, provider: &str, ticket: &str) -> Result<bool, AppError> {
    let mut tx = state.db.begin().await?;
    let fresh = store::use_ticket(&mut tx, provider, ticket).await?;
    tx.commit().await?;
    Ok(fresh)
}

/// The roster entry for a campus id; an unknown id is refused unless the administrator lets
/// sign-on create students (role student only; staff roles never come from sign-on).
async fn person(
    state: &AppState,
    id: &str,
    name: Option<&str>,
    via: &str,
) -> Result<users::UserRow, AppError> {
    if let Some(user) = users::find_by_username(&state.db.pool, id).await? {
        return if user.active == 1 {
            Ok(user)
        } else {
            Err(unknown_person())
        };
    }
    if !state.settings.sso.create_students {
        return Err(unknown_person());
    }
    let Ok(username) = crate::accounts::domain::Username::parse(id) else {
        return Err(unknown_person());
    };
    let mut tx = state.db.begin().await?;
    let new = users::NewUser {
        username: username.as_str().to_string(),
        name: name.unwrap_or(username.as_str()).chars().take(64).collect(),
        class_name: None,
        phone: None,
        id_number: None,
        enrolment_status: "enrolled".into(),
        password_hash: None,
        roles: vec![Role::Student],
    };
    let user_id = users::insert_user(&mut tx, &state.keys, &new).await?;
    audit::record(
        &mut tx,
        &Actor::system(via),
        Event {
            action: "user.create",
            object_type: "user",
            object_id: user_id.to_string(),
            summary: format!("student created at first sign-on via {via}"),
        },
    )
    .await?;
    tx.commit().await?;
    users::find_by_id(&state.db.pool, user_id)
        .await?
        .ok_or_else(AppError::not_found)
}

fn user_agent(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
}

/// Opens the session, sets its cookie and sends the browser on: to WeChat first when the
/// person is inside WeChat and has not bound it yet, else to `next`.
async fn finish(
    state: &AppState,
    jar: CookieJar,
    headers: &HeaderMap,
    ip: Option<std::net::IpAddr>,
    user: users::UserRow,
    via: &str,
    next: &str,
) -> Result<(Response, i64), AppError> {
    let user_id = user.id;
    let device = crate::accounts::domain::device_label(user_agent(headers).unwrap_or(""));
    let (signed, session_id) =
        crate::accounts::sign_in_verified(state, user, "web", via, ip, device.as_deref()).await?;
    let cookie = Cookie::build((SESSION_COOKIE, signed.token))
        .path("/")
        .http_only(true)
        .secure(state.settings.secure_cookies)
        .same_site(SameSite::Lax)
        .max_age(time::Duration::seconds(
            state.settings.session_absolute.as_secs() as i64,
        ))
        .build();
    let jar = jar
        .add(cookie)
        .remove(Cookie::build(STATE_COOKIE).path("/auth").build());
    let bind_first = via != WECHAT
        && state.settings.sso.wechat().is_some()
        && domain::in_wechat(user_agent(headers))
        && !store::is_bound(&state.db.pool, user_id).await?;
    let to = if bind_first {
        format!("/auth/wechat/login?next={}", urlencode(next))
    } else {
        next.to_string()
    };
    Ok(((jar, Redirect::to(&to)).into_response(), session_id))
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let mut u = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        u.append_pair(k, v);
    }
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{}", u.finish())
}

// ---- CAS 3.0 ----------------------------------------------------------------------------------

fn cas_service(state: &AppState) -> String {
    state.settings.sso.url("/auth/cas/callback")
}

async fn cas_login(
    State(state): State<AppState>,
    tr: Tr,
    jar: CookieJar,
    Query(q): Query<NextQuery>,
) -> Response {
    let Some(cas) = state.settings.sso.cas().cloned() else {
        return error_page(tr, not_configured());
    };
    let next = domain::safe_next(q.next.as_deref());
    match start_flow(&state, jar, CAS, None, None, &next, None).await {
        Ok((jar, _)) => {
            let to = with_query(
                &format!("{}/login", cas.url),
                &[("service", &cas_service(&state))],
            );
            (jar, Redirect::to(&to)).into_response()
        }
        Err(e) => error_page(tr, e),
    }
}

#[derive(Deserialize)]
struct TicketQuery {
    ticket: Option<String>,
}

async fn cas_callback(
    State(state): State<AppState>,
    tr: Tr,
    jar: CookieJar,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Query(q): Query<TicketQuery>,
) -> Response {
    match cas_finish(&state, jar, &headers, ip, q).await {
        Ok(r) => r,
        Err(e) => error_page(tr, e),
    }
}

async fn cas_finish(
    state: &AppState,
    jar: CookieJar,
    headers: &HeaderMap,
    ip: Option<std::net::IpAddr>,
    q: TicketQuery,
) -> Result<Response, AppError> {
    let cas = state
        .settings
        .sso
        .cas()
        .cloned()
        .ok_or_else(not_configured)?;
    let flow = take_flow(state, &jar, CAS, None).await?;
    let ticket = q
        .ticket
        .filter(|t| !t.is_empty() && t.len() <= 256)
        .ok_or_else(|| invalid_ticket("no ticket"))?;
    if !use_once(state, CAS, &ticket).await? {
        return Err(invalid_ticket("replayed"));
    }
    let url = with_query(
        &format!("{}/p3/serviceValidate", cas.url),
        &[("service", &cas_service(state)), ("ticket", &ticket)],
    );
    let body = CLIENT
        .get(&url)
        .send()
        .await
        .map_err(|e| AppError::internal(anyhow::anyhow!("CAS validation request: {e}")))?
        .text()
        .await
        .map_err(|e| AppError::internal(anyhow::anyhow!("CAS validation answer: {e}")))?;
    let ok = domain::parse_cas_validation(&body).map_err(|code| invalid_ticket(&code))?;
    let id = ok
        .id(cas.id_attribute.as_deref())
        .ok_or_else(unknown_person)?
        .to_string();
    let name = ok
        .attributes
        .get("name")
        .or(ok.attributes.get("cn"))
        .or(ok.attributes.get("displayName"))
        .cloned();
    let user = person(state, &id, name.as_deref(), CAS).await?;
    let (resp, session_id) = finish(state, jar, headers, ip, user, CAS, &flow.next_path).await?;
    store::set_ticket_session(&state.db.pool, CAS, &ticket, session_id).await?;
    Ok(resp)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogoutForm {
    #[serde(default)]
    logout_request: String,
}

/// Back-channel single logout: the CAS server names the ticket whose session ends. Answers 200
/// whether or not the ticket is known (the CAS server does not care, nobody learns anything).
async fn cas_logout(
    State(state): State<AppState>,
    axum::Form(form): axum::Form<LogoutForm>,
) -> Response {
    if state.settings.sso.cas().is_none() {
        return not_configured().into_response();
    }
    let Some(ticket) = domain::parse_logout_request(&form.logout_request) else {
        return ErrorCode::MalformedRequest
            .with_message("logoutRequest has no SessionIndex")
            .into_response();
    };
    match store::session_of_ticket(&state.db.pool, CAS, &ticket).await {
        Ok(Some(session_id)) => {
            if let Err(e) = crate::accounts::end_session_by_provider(&state, session_id, CAS).await
            {
                return e.into_response();
            }
        }
        Ok(None) => {}
        Err(e) => return AppError::from(e).into_response(),
    }
    StatusCode::OK.into_response()
}

// ---- OpenID Connect -----------------------------------------------------------------------------

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

async fn discover(issuer: &str) -> Result<Discovery, AppError> {
    let url = format!("{issuer}/.well-known/openid-configuration");
    let d: Discovery = CLIENT
        .get(&url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| AppError::internal(anyhow::anyhow!("OpenID discovery: {e}")))?
        .json()
        .await
        .map_err(|e| AppError::internal(anyhow::anyhow!("OpenID discovery document: {e}")))?;
    if d.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
        return Err(AppError::internal(anyhow::anyhow!(
            "OpenID discovery names another issuer"
        )));
    }
    Ok(d)
}

async fn oidc_login(
    State(state): State<AppState>,
    tr: Tr,
    jar: CookieJar,
    Query(q): Query<NextQuery>,
) -> Response {
    let Some(oidc) = state.settings.sso.oidc().cloned() else {
        return error_page(tr, not_configured());
    };
    let next = domain::safe_next(q.next.as_deref());
    let result = async {
        let d = discover(&oidc.issuer).await?;
        let nonce = crate::crypto::random_token();
        let verifier = crate::crypto::random_token();
        let (jar, flow_state) = start_flow(
            &state,
            jar,
            OIDC,
            Some(&nonce),
            Some(&verifier),
            &next,
            None,
        )
        .await?;
        let to = with_query(
            &d.authorization_endpoint,
            &[
                ("response_type", "code"),
                ("client_id", &oidc.client_id),
                (
                    "redirect_uri",
                    &state.settings.sso.url("/auth/oidc/callback"),
                ),
                ("scope", "openid profile"),
                ("state", &flow_state),
                ("nonce", &nonce),
                ("code_challenge", &domain::pkce_challenge(&verifier)),
                ("code_challenge_method", "S256"),
            ],
        );
        Ok::<_, AppError>((jar, Redirect::to(&to)).into_response())
    }
    .await;
    result.unwrap_or_else(|e| error_page(tr, e))
}

#[derive(Deserialize)]
struct CodeQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn oidc_callback(
    State(state): State<AppState>,
    tr: Tr,
    jar: CookieJar,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Query(q): Query<CodeQuery>,
) -> Response {
    match oidc_finish(&state, jar, &headers, ip, q).await {
        Ok(r) => r,
        Err(e) => error_page(tr, e),
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
}

async fn oidc_finish(
    state: &AppState,
    jar: CookieJar,
    headers: &HeaderMap,
    ip: Option<std::net::IpAddr>,
    q: CodeQuery,
) -> Result<Response, AppError> {
    let oidc = state
        .settings
        .sso
        .oidc()
        .cloned()
        .ok_or_else(not_configured)?;
    let flow = take_flow(state, &jar, OIDC, Some(q.state.as_deref().unwrap_or(""))).await?;
    if let Some(error) = q.error {
        return Err(token_invalid(&format!("provider answered error {error}")));
    }
    let code = q
        .code
        .filter(|c| !c.is_empty() && c.len() <= 2048)
        .ok_or_else(|| token_invalid("no code"))?;
    if !use_once(state, OIDC, &code).await? {
        return Err(token_invalid("code replayed"));
    }
    let d = discover(&oidc.issuer).await?;
    let verifier = flow.pkce_verifier.clone().unwrap_or_default();
    let redirect_uri = state.settings.sso.url("/auth/oidc/callback");
    let answer = CLIENT
        .post(&d.token_endpoint)
        .basic_auth(
            urlencode(&oidc.client_id),
            Some(urlencode(&oidc.client_secret)),
        )
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .map_err(|e| AppError::internal(anyhow::anyhow!("OpenID token request: {e}")))?;
    if !answer.status().is_success() {
        return Err(token_invalid(&format!(
            "token endpoint answered {}",
            answer.status()
        )));
    }
    let answer: TokenAnswer = answer
        .json()
        .await
        .map_err(|_| token_invalid("token answer is not JSON"))?;
    let id_token = answer
        .id_token
        .ok_or_else(|| token_invalid("no id_token"))?;
    let jwks: jsonwebtoken::jwk::JwkSet = CLIENT
        .get(&d.jwks_uri)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| AppError::internal(anyhow::anyhow!("OpenID JWKS: {e}")))?
        .json()
        .await
        .map_err(|e| AppError::internal(anyhow::anyhow!("OpenID JWKS document: {e}")))?;
    let claims = domain::verify_id_token(
        &id_token,
        &jwks,
        &d.issuer,
        &oidc.client_id,
        flow.nonce.as_deref().unwrap_or(""),
    )
    .map_err(|why| token_invalid(&why))?;
    let id = claims
        .get(&oidc.id_claim)
        .and_then(|v| {
            v.as_str()
                .map(str::to_string)
                .or_else(|| v.as_i64().map(|n| n.to_string()))
        })
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(unknown_person)?;
    let name = claims
        .get("name")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let user = person(state, id.trim(), name.as_deref(), OIDC).await?;
    Ok(finish(state, jar, headers, ip, user, OIDC, &flow.next_path)
        .await?
        .0)
}

// ---- WeChat web authorization (网页授权, snsapi_base) ------------------------------------------

async fn wechat_login(
    State(state): State<AppState>,
    tr: Tr,
    jar: CookieJar,
    user: Option<PageUser>,
    Query(q): Query<NextQuery>,
) -> Response {
    let Some(wx) = state.settings.sso.wechat().cloned() else {
        return error_page(tr, not_configured());
    };
    let next = domain::safe_next(q.next.as_deref());
    // Signed in already: this round trip binds WeChat to the account.
    let bind = user.map(|PageUser(u)| u.id);
    match start_flow(&state, jar, WECHAT, None, None, &next, bind).await {
        Ok((jar, flow_state)) => {
            let to = with_query(
                &format!("{}/connect/oauth2/authorize", wx.oauth_url),
                &[
                    ("appid", &wx.appid),
                    (
                        "redirect_uri",
                        &state.settings.sso.url("/auth/wechat/callback"),
                    ),
                    ("response_type", "code"),
                    ("scope", "snsapi_base"),
                    ("state", &flow_state),
                ],
            );
            (jar, Redirect::to(&format!("{to}#wechat_redirect"))).into_response()
        }
        Err(e) => error_page(tr, e),
    }
}

#[derive(Deserialize)]
struct WechatAnswer {
    openid: Option<String>,
    errcode: Option<i64>,
}

#[derive(Template)]
#[template(path = "sso/wechat_unbound.html")]
struct UnboundPage {
    tr: Tr,
    cas: bool,
    oidc: bool,
    next: String,
}

async fn wechat_callback(
    State(state): State<AppState>,
    tr: Tr,
    jar: CookieJar,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Query(q): Query<CodeQuery>,
) -> Response {
    match wechat_finish(&state, tr, jar, &headers, ip, q).await {
        Ok(r) => r,
        Err(e) => error_page(tr, e),
    }
}

async fn wechat_finish(
    state: &AppState,
    tr: Tr,
    jar: CookieJar,
    headers: &HeaderMap,
    ip: Option<std::net::IpAddr>,
    q: CodeQuery,
) -> Result<Response, AppError> {
    let wx = state
        .settings
        .sso
        .wechat()
        .cloned()
        .ok_or_else(not_configured)?;
    let flow = take_flow(state, &jar, WECHAT, Some(q.state.as_deref().unwrap_or(""))).await?;
    let code = q
        .code
        .filter(|c| !c.is_empty() && c.len() <= 512)
        .ok_or_else(|| token_invalid("no code"))?;
    if !use_once(state, WECHAT, &code).await? {
        return Err(invalid_ticket("WeChat code replayed"));
    }
    let url = with_query(
        &format!("{}/sns/oauth2/access_token", wx.api_url),
        &[
            ("appid", &wx.appid),
            ("secret", &wx.secret),
            ("code", &code),
            ("grant_type", "authorization_code"),
        ],
    );
    let answer: WechatAnswer = CLIENT
        .get(&url)
        .send()
        .await
        .map_err(|e| AppError::internal(anyhow::anyhow!("WeChat access_token request: {e}")))?
        .json()
        .await
        .map_err(|_| token_invalid("WeChat answer is not JSON"))?;
    let openid = match (answer.errcode, answer.openid) {
        (None | Some(0), Some(openid)) if !openid.is_empty() && openid.len() <= 128 => openid,
        // 40029 invalid code, 40163 code been used: the code does not sign anyone in.
        (Some(40029 | 40163), _) => return Err(invalid_ticket("WeChat code invalid or used")),
        (Some(other), _) => return Err(token_invalid(&format!("WeChat errcode {other}"))),
        _ => return Err(token_invalid("WeChat answer without openid")),
    };
    if let Some(user_id) = flow.bind_user_id {
        let mut tx = state.db.begin().await?;
        let bound = store::bind(&mut tx, user_id, &openid).await?;
        if bound {
            let who = users::find_by_id(&mut *tx, user_id).await?;
            let label = who.map(|u| u.username).unwrap_or_default();
            audit::record(
                &mut tx,
                &Actor::user(user_id, &label, ip.map(|i| i.to_string())),
                Event {
                    action: "wechat.bind",
                    object_type: "user",
                    object_id: user_id.to_string(),
                    summary: "WeChat bound".into(),
                },
            )
            .await?;
        }
        tx.commit().await?;
        let jar = jar.remove(Cookie::build(STATE_COOKIE).path("/auth").build());
        return Ok((jar, Redirect::to(&flow.next_path)).into_response());
    }
    match store::user_of_openid(&state.db.pool, &openid).await? {
        Some(user_id) => {
            let user = users::find_by_id(&state.db.pool, user_id)
                .await?
                .filter(|u| u.active == 1)
                .ok_or_else(unknown_person)?;
            Ok(
                finish(state, jar, headers, ip, user, WECHAT, &flow.next_path)
                    .await?
                    .0,
            )
        }
        None => {
            let page = UnboundPage {
                tr,
                cas: state.settings.sso.cas().is_some(),
                oidc: state.settings.sso.oidc().is_some(),
                next: urlencode(&flow.next_path),
            };
            Ok(render(&page))
        }
    }
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn wechat_unbind(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    axum::Form(form): axum::Form<CsrfOnly>,
) -> Response {
    if !csrf::same(&form.csrf, &user.csrf_token) {
        return ErrorCode::CsrfFailed
            .with_message("CSRF token mismatch")
            .into_response();
    }
    let result = async {
        let mut tx = state.db.begin().await?;
        if store::unbind(&mut tx, user.id).await? {
            audit::record(
                &mut tx,
                &user.actor(),
                Event {
                    action: "wechat.unbind",
                    object_type: "user",
                    object_id: user.id.to_string(),
                    summary: "WeChat unbound".into(),
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok::<_, AppError>(())
    }
    .await;
    match result {
        Ok(()) => Redirect::to("/app/me").into_response(),
        Err(e) => e.into_response(),
    }
}

/// Whether the user has WeChat bound (for "我的").
pub async fn wechat_bound(state: &AppState, user_id: i64) -> bool {
    store::is_bound(&state.db.pool, user_id)
        .await
        .unwrap_or(false)
}
