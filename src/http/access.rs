//! Who may call which route, in one table (SPEC §2). The `enforce` middleware applies it before
//! any handler runs, with one refusal per kind of failure: an API call answers the JSON error
//! body (401 `unauthenticated`, 403 `forbidden`); a page sends an anonymous browser to the
//! login page and shows a 403 page for a wrong role. Handlers still filter objects by owner
//! (another student's case answers 404). A route missing from the table is refused and fails
//! the authorization-matrix test (`tests/it/access_matrix.rs`).

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::{AppError, AppState};
use crate::http::auth::{CurrentUser, Role};

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allow {
    /// Anyone, signed in or not (login, assets, health, the language switch).
    Public,
    /// Anyone signed in; the handler shows each person only their own things.
    SignedIn,
    /// Signed in and holding one of these roles.
    Roles(&'static [Role]),
    /// A hospital's front server, by signature (`Signed<Hospital>`); no session.
    Hospital,
    /// An insurer, by signature (`Signed<Insurer>`); no session.
    Insurer,
}

/// One route: method, path pattern exactly as routed, and who may call it.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub method: &'static str,
    pub path: &'static str,
    pub allow: Allow,
}

use Role::{Admin, Auditor, Finance, Reviewer1, Reviewer2, Student};

pub const STUDENTS: &[Role] = &[Student];
pub const ADMINS: &[Role] = &[Admin];
/// Everyone on the staff: aggregate figures and the console frame, no medical content.
pub const STAFF: &[Role] = &[Reviewer1, Reviewer2, Admin, Finance, Auditor];
/// Who reads case details, invoices, record photos and support threads besides the claimant.
pub const CASE_READERS: &[Role] = &[Reviewer1, Reviewer2, Admin];
/// The claimant (own things only) and the case readers.
pub const CLAIMANTS_AND_READERS: &[Role] = &[Student, Reviewer1, Reviewer2, Admin];
pub const REVIEWERS: &[Role] = &[Reviewer1, Reviewer2];
/// Who may reopen an approved case (rule 11); undoing a rejection, booking or hand-in is
/// admins' alone, checked by the handler.
pub const REOPENERS: &[Role] = &[Reviewer2, Admin];
/// The hand-in desk: rosters with names, hand-ins and no-shows.
pub const DESK: &[Role] = &[Reviewer1, Reviewer2, Admin];
/// Exports, the ledger and reconciliation (masked personal data).
pub const FINANCE: &[Role] = &[Finance, Admin];
/// The audit log.
pub const AUDIT: &[Role] = &[Auditor, Admin];

const fn rule(method: &'static str, path: &'static str, allow: Allow) -> Rule {
    Rule {
        method,
        path,
        allow,
    }
}

const fn roles(method: &'static str, path: &'static str, r: &'static [Role]) -> Rule {
    rule(method, path, Allow::Roles(r))
}

/// Every route of the application.
pub const RULES: &[Rule] = &[
    // --- JSON API ---
    rule("GET", "/api/v1/openapi.json", Allow::Public),
    rule("POST", "/api/v1/auth/login", Allow::Public),
    rule("POST", "/api/v1/auth/logout", Allow::SignedIn),
    rule("GET", "/api/v1/me", Allow::SignedIn),
    // Passkeys (SPEC §13): one's own; signing in with one is the way in, like the password.
    rule("GET", "/api/v1/me/passkeys", Allow::SignedIn),
    rule(
        "POST",
        "/api/v1/me/passkeys/register/start",
        Allow::SignedIn,
    ),
    rule(
        "POST",
        "/api/v1/me/passkeys/register/finish",
        Allow::SignedIn,
    ),
    rule("PATCH", "/api/v1/me/passkeys/{id}", Allow::SignedIn),
    rule("DELETE", "/api/v1/me/passkeys/{id}", Allow::SignedIn),
    rule("POST", "/api/v1/auth/passkey/start", Allow::Public),
    rule("POST", "/api/v1/auth/passkey/finish", Allow::Public),
    rule("POST", "/api/v1/auth/reauth/start", Allow::SignedIn),
    rule("POST", "/api/v1/auth/reauth", Allow::SignedIn),
    // A forgotten password (SPEC §13): the way back in, like the login.
    rule("POST", "/api/v1/auth/password-reset/start", Allow::Public),
    rule("POST", "/api/v1/auth/password-reset", Allow::Public),
    rule("POST", "/api/v1/auth/activate/start", Allow::Public),
    rule("POST", "/api/v1/auth/activate", Allow::Public),
    rule("POST", "/api/v1/auth/password-reset/link", Allow::Public),
    // One's own password and sessions.
    rule("POST", "/api/v1/me/password", Allow::SignedIn),
    rule("GET", "/api/v1/me/sessions", Allow::SignedIn),
    rule("DELETE", "/api/v1/me/sessions/{id}", Allow::SignedIn),
    rule("POST", "/api/v1/me/sessions/revoke-others", Allow::SignedIn),
    rule("GET", "/api/v1/me/contact", Allow::SignedIn),
    rule("PUT", "/api/v1/me/contact", Allow::SignedIn),
    rule("POST", "/api/v1/me/phone", Allow::SignedIn),
    rule("POST", "/api/v1/me/phone/code", Allow::SignedIn),
    rule("GET", "/api/v1/notices", Allow::SignedIn),
    rule("GET", "/api/v1/notifications", Allow::SignedIn),
    rule("POST", "/api/v1/notifications/read-all", Allow::SignedIn),
    rule("POST", "/api/v1/notifications/{id}/read", Allow::SignedIn),
    rule("GET", "/api/v1/files/{id}", Allow::SignedIn),
    rule("GET", "/api/v1/slots", Allow::SignedIn),
    rule("GET", "/api/v1/visits", Allow::SignedIn),
    // One's payout account (SPEC §13 office): changing it needs a fresh authentication.
    roles("GET", "/api/v1/me/payout-account", STUDENTS),
    roles("PUT", "/api/v1/me/payout-account", STUDENTS),
    roles("GET", "/api/v1/cases", CLAIMANTS_AND_READERS),
    roles("POST", "/api/v1/cases", STUDENTS),
    roles("POST", "/api/v1/cases/from-visit", STUDENTS),
    roles("GET", "/api/v1/cases/{id}", CLAIMANTS_AND_READERS),
    roles("PATCH", "/api/v1/cases/{id}", STUDENTS),
    roles("DELETE", "/api/v1/cases/{id}", STUDENTS),
    roles("POST", "/api/v1/cases/{id}/records", STUDENTS),
    roles("DELETE", "/api/v1/cases/{id}/records/{record_id}", STUDENTS),
    roles("POST", "/api/v1/cases/{id}/invoices", STUDENTS),
    roles("POST", "/api/v1/cases/{id}/submit", STUDENTS),
    roles("POST", "/api/v1/cases/{id}/recall", STUDENTS),
    roles("PATCH", "/api/v1/invoices/{id}", STUDENTS),
    roles("DELETE", "/api/v1/invoices/{id}", STUDENTS),
    // Reads an invoice photo's QR code, stores nothing (issue 20).
    roles("POST", "/api/v1/invoices/scan", CLAIMANTS_AND_READERS),
    roles("GET", "/api/v1/bookings", STUDENTS),
    roles("POST", "/api/v1/bookings", STUDENTS),
    roles("DELETE", "/api/v1/bookings/{id}", STUDENTS),
    roles("GET", "/api/v1/support/threads", CLAIMANTS_AND_READERS),
    roles("POST", "/api/v1/support/threads", STUDENTS),
    roles("GET", "/api/v1/support/threads/{id}", CLAIMANTS_AND_READERS),
    roles(
        "POST",
        "/api/v1/support/threads/{id}/messages",
        CLAIMANTS_AND_READERS,
    ),
    roles("GET", "/api/v1/review/queue", REVIEWERS),
    roles("GET", "/api/v1/review/cases/{id}", CASE_READERS),
    roles("POST", "/api/v1/review/cases/{id}", REVIEWERS),
    roles("PATCH", "/api/v1/review/cases/{id}", REVIEWERS),
    roles("POST", "/api/v1/review/cases/{id}/reopen", REOPENERS),
    roles("POST", "/api/v1/review/invoices/{id}", REVIEWERS),
    roles("GET", "/api/v1/search", CASE_READERS),
    roles("GET", "/api/v1/dashboard", STAFF),
    roles("GET", "/api/v1/admin/audit", AUDIT),
    roles("GET", "/api/v1/admin/audit/verification", AUDIT),
    roles("POST", "/api/v1/admin/bookings/{id}/complete", DESK),
    roles("POST", "/api/v1/admin/bookings/{id}/no-show", DESK),
    roles("GET", "/api/v1/admin/bookings/{id}/phone", DESK),
    roles("GET", "/api/v1/admin/hospitals", ADMINS),
    roles("POST", "/api/v1/admin/hospitals", ADMINS),
    roles("POST", "/api/v1/admin/hospitals/{id}/deactivate", ADMINS),
    roles("POST", "/api/v1/admin/hospitals/{id}/rotate-secret", ADMINS),
    roles("GET", "/api/v1/admin/insurers", ADMINS),
    roles("POST", "/api/v1/admin/insurers", ADMINS),
    roles("POST", "/api/v1/admin/insurers/{id}/deactivate", ADMINS),
    roles("POST", "/api/v1/admin/insurers/{id}/rotate-secret", ADMINS),
    roles("POST", "/api/v1/admin/imports/coverage", ADMINS),
    roles("POST", "/api/v1/admin/imports/students", ADMINS),
    roles("GET", "/api/v1/admin/ledger", FINANCE),
    // Staff administration (issue 16 item 5): changes need a fresh authentication.
    roles("GET", "/api/v1/admin/users", ADMINS),
    roles("POST", "/api/v1/admin/users", ADMINS),
    roles("PATCH", "/api/v1/admin/users/{id}", ADMINS),
    roles("POST", "/api/v1/admin/users/{id}/reset-link", ADMINS),
    roles("GET", "/api/v1/admin/ledger/cases", FINANCE),
    // Paying students (issue 17 item 6): the transfer file needs a fresh authentication.
    roles("GET", "/api/v1/admin/payout-batches", FINANCE),
    roles("POST", "/api/v1/admin/payout-batches", FINANCE),
    roles("GET", "/api/v1/admin/payout-batches/{id}", FINANCE),
    roles("POST", "/api/v1/admin/payout-batches/{id}/paid", FINANCE),
    roles(
        "POST",
        "/api/v1/admin/payout-batches/{id}/returned",
        FINANCE,
    ),
    roles("GET", "/api/v1/admin/reconciliation", FINANCE),
    roles("GET", "/api/v1/admin/reconciliation.xlsx", FINANCE),
    roles("GET", "/api/v1/admin/blacklist", ADMINS),
    roles("DELETE", "/api/v1/admin/blacklist/{id}", ADMINS),
    roles("GET", "/api/v1/admin/notices", ADMINS),
    roles("POST", "/api/v1/admin/notices", ADMINS),
    roles("PATCH", "/api/v1/admin/notices/{id}", ADMINS),
    roles("POST", "/api/v1/admin/notices/{id}/expire", ADMINS),
    roles("PUT", "/api/v1/admin/notices/{id}/attachment", ADMINS),
    roles("GET", "/api/v1/admin/branding", ADMINS),
    roles("PUT", "/api/v1/admin/branding", ADMINS),
    roles("PUT", "/api/v1/admin/branding/logo", ADMINS),
    roles("DELETE", "/api/v1/admin/branding/logo", ADMINS),
    roles("DELETE", "/api/v1/admin/notices/{id}/attachment", ADMINS),
    roles("GET", "/api/v1/admin/outbox", ADMINS),
    roles("POST", "/api/v1/admin/outbox/{id}/retry", ADMINS),
    roles("GET", "/api/v1/admin/policy", ADMINS),
    roles("PUT", "/api/v1/admin/policy", ADMINS),
    roles("GET", "/api/v1/admin/rejection-reasons", CASE_READERS),
    rule("GET", "/api/v1/hospitals-list", Allow::SignedIn),
    roles("GET", "/api/v1/admin/hospitals-list", CASE_READERS),
    roles("POST", "/api/v1/admin/hospitals-list", ADMINS),
    roles("PATCH", "/api/v1/admin/hospitals-list/{id}", ADMINS),
    roles("POST", "/api/v1/admin/hospitals-list/import", ADMINS),
    roles("POST", "/api/v1/admin/rejection-reasons", ADMINS),
    roles("PATCH", "/api/v1/admin/rejection-reasons/{id}", ADMINS),
    roles("POST", "/api/v1/admin/slots", ADMINS),
    roles("POST", "/api/v1/admin/slots/bulk", ADMINS),
    roles("PATCH", "/api/v1/admin/slots/{id}", ADMINS),
    roles("DELETE", "/api/v1/admin/slots/{id}", ADMINS),
    roles("GET", "/api/v1/admin/slots/{id}/bookings", DESK),
    roles("POST", "/api/v1/admin/slots/{id}/message", DESK),
    roles("POST", "/api/v1/admin/slots/{id}/cancel", ADMINS),
    roles("GET", "/api/v1/reports/payouts.csv", FINANCE),
    roles("GET", "/api/v1/reports/payouts.xlsx", FINANCE),
    roles("GET", "/api/v1/reports/statistics.csv", FINANCE),
    roles("GET", "/api/v1/reports/statistics.xlsx", FINANCE),
    rule("POST", "/api/v1/gateway/visits", Allow::Hospital),
    rule(
        "POST",
        "/api/v1/insurers/{id}/claim-responses",
        Allow::Insurer,
    ),
    rule("POST", "/api/v1/insurers/{id}/payments", Allow::Insurer),
    // --- operations ---
    rule("GET", "/healthz", Allow::Public),
    rule("GET", "/readyz", Allow::Public),
    rule("GET", "/metrics", Allow::Public),
    // --- pages: shared ---
    rule("GET", "/", Allow::Public),
    rule("GET", "/login", Allow::Public),
    rule("POST", "/login", Allow::Public),
    rule("POST", "/login/passkey", Allow::Public),
    rule("GET", "/password-reset", Allow::Public),
    rule("POST", "/password-reset/start", Allow::Public),
    rule("POST", "/password-reset", Allow::Public),
    rule("GET", "/activate", Allow::Public),
    rule("POST", "/activate/start", Allow::Public),
    rule("POST", "/activate", Allow::Public),
    rule("GET", "/password-reset/link/{token}", Allow::Public),
    rule("POST", "/password-reset/link/{token}", Allow::Public),
    rule("POST", "/logout", Allow::Public),
    // Sign-on (SPEC §13): the provider's ticket, code or token proves who it is; the CAS
    // back-channel logout is called by the CAS server itself.
    rule("GET", "/auth/cas/login", Allow::Public),
    rule("GET", "/auth/cas/callback", Allow::Public),
    rule("POST", "/auth/cas/logout", Allow::Public),
    rule("GET", "/auth/oidc/login", Allow::Public),
    rule("GET", "/auth/oidc/callback", Allow::Public),
    rule("GET", "/auth/wechat/login", Allow::Public),
    rule("GET", "/auth/wechat/callback", Allow::Public),
    rule("GET", "/lang/{code}", Allow::Public),
    rule("GET", "/static/{file}", Allow::Public),
    rule("GET", "/static/intake.js", Allow::Public),
    rule("GET", "/static/passkeys.js", Allow::Public),
    // --- pages: the student app ---
    rule("GET", "/app", Allow::SignedIn),
    rule("GET", "/app/me", Allow::SignedIn),
    roles("GET", "/app/me/payout-account", STUDENTS),
    roles("POST", "/app/me/payout-account", STUDENTS),
    rule("POST", "/app/me/phone", Allow::SignedIn),
    rule("POST", "/app/me/phone/code", Allow::SignedIn),
    rule("POST", "/app/me/password", Allow::SignedIn),
    rule("POST", "/app/me/sessions/{id}/revoke", Allow::SignedIn),
    rule("POST", "/app/me/sessions/revoke-others", Allow::SignedIn),
    rule("POST", "/app/me/wechat/unbind", Allow::SignedIn),
    rule("GET", "/app/messages", Allow::SignedIn),
    rule("POST", "/app/messages/read-all", Allow::SignedIn),
    roles("GET", "/app/booking", STUDENTS),
    roles("POST", "/app/booking", STUDENTS),
    roles("POST", "/app/booking/{id}/cancel", STUDENTS),
    roles("GET", "/app/cases/new", STUDENTS),
    roles("POST", "/app/cases/new", STUDENTS),
    roles("GET", "/app/cases/{id}", STUDENTS),
    roles("POST", "/app/cases/{id}/delete", STUDENTS),
    roles("GET", "/app/cases/{id}/edit", STUDENTS),
    roles("POST", "/app/cases/{id}/edit", STUDENTS),
    roles("GET", "/app/cases/{id}/invoices", STUDENTS),
    roles("POST", "/app/cases/{id}/invoices", STUDENTS),
    roles("GET", "/app/cases/{id}/records", STUDENTS),
    roles("POST", "/app/cases/{id}/records", STUDENTS),
    roles("POST", "/app/cases/{id}/records/{rid}/delete", STUDENTS),
    roles("GET", "/app/cases/{id}/review", STUDENTS),
    roles("POST", "/app/cases/{id}/submit", STUDENTS),
    roles("POST", "/app/cases/{id}/recall", STUDENTS),
    roles("POST", "/app/invoices/{id}/delete", STUDENTS),
    roles("GET", "/app/invoices/{id}/edit", STUDENTS),
    roles("POST", "/app/invoices/{id}/edit", STUDENTS),
    roles("POST", "/app/visits/{id}/claim", STUDENTS),
    roles("POST", "/app/support", STUDENTS),
    roles("GET", "/app/support/{id}", STUDENTS),
    roles("POST", "/app/support/{id}", STUDENTS),
    // --- pages: the staff console ---
    roles("GET", "/console", STAFF),
    roles("GET", "/console/dashboard", STAFF),
    roles("GET", "/console/review", REVIEWERS),
    roles("GET", "/console/review/cases/{id}", CASE_READERS),
    roles("POST", "/console/review/cases/{id}/correct", REVIEWERS),
    roles("POST", "/console/review/cases/{id}/decide", REVIEWERS),
    roles("POST", "/console/review/cases/{id}/reopen", REOPENERS),
    roles("POST", "/console/review/invoices/{id}", REVIEWERS),
    roles("GET", "/console/search", CASE_READERS),
    roles("GET", "/console/support", CASE_READERS),
    roles("GET", "/console/support/{id}", CASE_READERS),
    roles("POST", "/console/support/{id}", CASE_READERS),
    roles("GET", "/console/slots", STAFF),
    roles("POST", "/console/slots", ADMINS),
    roles("POST", "/console/slots/bulk", ADMINS),
    roles("GET", "/console/slots/{id}", DESK),
    roles("POST", "/console/slots/{id}/capacity", ADMINS),
    roles("POST", "/console/slots/{id}/delete", ADMINS),
    roles("POST", "/console/slots/{id}/message", DESK),
    roles("POST", "/console/slots/{id}/cancel", ADMINS),
    roles("POST", "/console/bookings/{id}/complete", DESK),
    roles("POST", "/console/bookings/{id}/no-show", DESK),
    roles("GET", "/console/notices", ADMINS),
    roles("POST", "/console/notices", ADMINS),
    roles("GET", "/console/notices/{id}", ADMINS),
    roles("POST", "/console/notices/{id}", ADMINS),
    roles("POST", "/console/notices/{id}/expire", ADMINS),
    roles("POST", "/console/notices/{id}/attachment", ADMINS),
    roles("POST", "/console/notices/{id}/attachment/remove", ADMINS),
    roles("GET", "/console/blacklist", ADMINS),
    roles("POST", "/console/blacklist/{id}/lift", ADMINS),
    roles("GET", "/console/policy", ADMINS),
    roles("POST", "/console/policy", ADMINS),
    roles("GET", "/console/people", ADMINS),
    roles("POST", "/console/people", ADMINS),
    roles("POST", "/console/people/{id}", ADMINS),
    roles("GET", "/console/branding", ADMINS),
    roles("POST", "/console/branding", ADMINS),
    roles("POST", "/console/branding/logo", ADMINS),
    rule("GET", "/branding/logo", Allow::Public),
    roles("GET", "/console/hospitals-list", ADMINS),
    roles("POST", "/console/hospitals-list", ADMINS),
    roles("POST", "/console/hospitals-list/{id}", ADMINS),
    roles("POST", "/console/hospitals-list/import", ADMINS),
    roles("GET", "/console/imports", ADMINS),
    roles("POST", "/console/imports", ADMINS),
    roles("GET", "/console/reports", FINANCE),
    roles("GET", "/console/ledger", FINANCE),
    roles("GET", "/console/payouts", FINANCE),
    roles("POST", "/console/payouts", FINANCE),
    roles("GET", "/console/payouts/{id}", FINANCE),
    roles("POST", "/console/payouts/{id}/paid", FINANCE),
    roles("POST", "/console/payouts/{id}/returned", FINANCE),
    roles("GET", "/console/outbox", ADMINS),
    roles("GET", "/console/audit", AUDIT),
    roles("POST", "/console/outbox/{id}/retry", ADMINS),
    roles("GET", "/console/partners", ADMINS),
    roles("POST", "/console/partners/hospitals", ADMINS),
    roles("POST", "/console/partners/insurers", ADMINS),
    roles("POST", "/console/partners/{kind}/{id}/rotate", ADMINS),
    roles("POST", "/console/partners/{kind}/{id}/deactivate", ADMINS),
];

/// The rule for a routed request (`HEAD` is `GET`).
pub fn rule_for(method: &Method, path: &str) -> Option<&'static Rule> {
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    RULES.iter().find(|r| r.method == method && r.path == path)
}

/// Whether `roles` opens a route allowed to `allow` (partners never have a session).
pub fn admits(allow: Allow, held: &[Role]) -> bool {
    match allow {
        Allow::Public | Allow::SignedIn => true,
        Allow::Roles(r) => r.iter().any(|role| held.contains(role)),
        Allow::Hospital | Allow::Insurer => false,
    }
}

fn is_page(path: &str) -> bool {
    !path.starts_with("/api/")
}

/// The one refusal for each kind of failure, page or API.
pub fn refuse(page: bool, error: AppError, headers: &axum::http::HeaderMap) -> Response {
    if !page {
        return error.into_response();
    }
    if error.status == StatusCode::UNAUTHORIZED {
        return Redirect::to("/login").into_response();
    }
    if error.status == StatusCode::FORBIDDEN {
        return crate::http::web::forbidden_page(headers);
    }
    error.into_response()
}

/// Applies [`RULES`] to every routed request before its handler.
pub async fn enforce(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(matched) = req.extensions().get::<MatchedPath>().cloned() else {
        return next.run(req).await;
    };
    let page = is_page(matched.as_str());
    let Some(rule) = rule_for(req.method(), matched.as_str()) else {
        tracing::error!(
            method = %req.method(),
            route = matched.as_str(),
            "route missing from the access table"
        );
        return refuse(page, AppError::forbidden(), req.headers());
    };
    match rule.allow {
        Allow::Public | Allow::Hospital | Allow::Insurer => next.run(req).await,
        Allow::SignedIn | Allow::Roles(_) => {
            let (mut parts, body) = req.into_parts();
            let user = match CurrentUser::from_request_parts(&mut parts, &state).await {
                Ok(user) => user,
                Err(e) => return refuse(page, e, &parts.headers),
            };
            if !admits(rule.allow, &user.roles) {
                return refuse(page, AppError::forbidden(), &parts.headers);
            }
            next.run(Request::from_parts(parts, body)).await
        }
    }
}
