//! What a console or student form says after it posts: the handler redirects back with
//! `?ok=<key>` or `?error=<code>`, and the page shows the message once, in its language.

use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::Tr;
use crate::http::{AppError, ErrorCode};

/// `?ok=…`, `?error=…` (and a page's status filter) after a form, shown once.
#[derive(Deserialize, Default)]
pub struct Flash {
    pub ok: Option<String>,
    pub error: Option<String>,
    pub status: Option<String>,
}

/// A short `snake_case` key from the query, or nothing: the query is untrusted input.
pub fn safe_code(code: &Option<String>) -> Option<&str> {
    code.as_deref().filter(|c| {
        !c.is_empty() && c.len() < 40 && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    })
}

impl Flash {
    /// The success message (`<ok_prefix>.<key>`) and the error message, translated.
    pub fn message(&self, tr: &Tr, ok_prefix: &str) -> (Option<String>, Option<String>) {
        (
            safe_code(&self.ok).map(|c| tr.t(&format!("{ok_prefix}.{c}"))),
            (self.error.as_deref())
                .and_then(ErrorCode::parse)
                .map(|c| tr.t(c.message_key())),
        )
    }
}

/// The message for an error code, in the page's language; an unknown code reads as invalid
/// input rather than echoing the query.
pub fn error_text(tr: Tr, code: &str) -> String {
    let code = ErrorCode::parse(code).unwrap_or(ErrorCode::InvalidInput);
    tr.t(code.message_key())
}

/// Back to `to` with the outcome of a form: `?ok=<key>` or `?error=<code>`; a server error is
/// answered as itself, never hidden in a redirect.
pub fn back(to: &str, result: Result<&str, AppError>) -> Response {
    match result {
        Ok(ok) => Redirect::to(&format!("{to}?ok={ok}")).into_response(),
        Err(e) if e.status.is_server_error() => e.into_response(),
        Err(e) => Redirect::to(&format!("{to}?error={}", e.code)).into_response(),
    }
}

/// A form with nothing but its CSRF token (buttons: retry, expire, cancel).
#[derive(Deserialize)]
pub struct NoFields {}
