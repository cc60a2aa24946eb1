//! CSRF protection for forms. Signed-in forms carry the session's CSRF token; the login form,
//! before any session, uses a double-submit cookie. Both compare in constant time.

use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};

pub const COOKIE: &str = "medclaim_csrf";

pub use crate::http::auth::same_token as same;

/// The pre-session token from the cookie, or a new one set on the jar.
pub fn pre_session_token(jar: CookieJar, secure: bool) -> (CookieJar, String) {
    if let Some(c) = jar.get(COOKIE)
        && c.value().len() >= 32
    {
        let token = c.value().to_string();
        return (jar, token);
    }
    let token = crate::crypto::random_token();
    let cookie = Cookie::build((COOKIE, token.clone()))
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .build();
    (jar.add(cookie), token)
}

pub fn check_pre_session(jar: &CookieJar, sent: &str) -> bool {
    jar.get(COOKIE).is_some_and(|c| same(c.value(), sent))
}
