//! Sign-on (SPEC §9, §13): students sign in with their campus account over CAS 3.0 or OpenID
//! Connect, or with WeChat web authorization once bound. Matching is by roster username; staff
//! roles never come from sign-on. Depends on `accounts`, `audit`, `http`, `web`; nothing depends
//! on it except the router assembly.

pub mod domain;
pub mod pages;
pub mod store;

pub fn router() -> axum::Router<crate::http::AppState> {
    pages::router()
}
