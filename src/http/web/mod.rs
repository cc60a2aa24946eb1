//! Server-rendered pages: the login page, the student app (mobile-first) and the staff console
//! (desktop), in Simplified Chinese by default and English on request. Assets are embedded.

pub mod brand;
mod console;
pub mod csrf;
mod flash;
mod shell;

pub use brand::Branding;
pub use console::ConsoleFrame;
pub use flash::{Flash, NoFields, back, error_text, safe_code};

use axum::Router;
use axum::extract::{FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;

use crate::http::auth::CurrentUser;
use crate::http::{AppError, AppState};

pub const LANG_COOKIE: &str = "medclaim_lang";
/// Sent by `passkeys.js` when it posts a `data-fresh-auth` form itself: a step-up refusal
/// then answers 401 `reauth_required` (JSON) so the page can ask inline and send it again.
pub const REAUTH_INLINE_HEADER: &str = "x-reauth-inline";
pub const LANGS: [&str; 2] = ["zh-CN", "en"];

/// The routes of the page plumbing itself: the shells, the language switch and the assets.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(shell::home))
        .route("/console", get(shell::console_home))
        .route("/lang/{code}", get(set_lang))
        .route("/static/{file}", get(asset))
}

/// Translations for one request.
#[derive(Clone, Copy, Debug)]
pub struct Tr {
    pub lang: &'static str,
}

impl Tr {
    pub fn t(&self, key: &str) -> String {
        rust_i18n::t!(key, locale = self.lang).into_owned()
    }
    /// The `lang` attribute value.
    pub fn html_lang(&self) -> &'static str {
        self.lang
    }
    pub fn other_lang(&self) -> &'static str {
        if self.lang == "en" { "zh-CN" } else { "en" }
    }
    pub fn other_lang_label(&self) -> &'static str {
        if self.lang == "en" {
            "中文"
        } else {
            "English"
        }
    }
    /// Translations for a language code (`en`, else Chinese), e.g. an export's `lang`.
    pub fn for_code(code: &str) -> Tr {
        Tr {
            lang: pick_lang(Some(code)),
        }
    }
    pub fn from_parts(parts: &Parts) -> Tr {
        Tr::from_headers(&parts.headers)
    }
    pub fn from_headers(headers: &axum::http::HeaderMap) -> Tr {
        let jar = CookieJar::from_headers(headers);
        let lang = jar.get(LANG_COOKIE).map(|c| c.value().to_string());
        Tr {
            lang: pick_lang(lang.as_deref()),
        }
    }
}

fn pick_lang(value: Option<&str>) -> &'static str {
    match value {
        Some(v) if v.eq_ignore_ascii_case("en") => "en",
        _ => "zh-CN",
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Tr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Tr::from_parts(parts))
    }
}

/// A signed-in user on a page; without a session the page sends the browser to the login page.
pub struct PageUser(pub CurrentUser);

impl FromRequestParts<AppState> for PageUser {
    type Rejection = Response;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match CurrentUser::from_request_parts(parts, state).await {
            Ok(user) => Ok(PageUser(user)),
            Err(e) if e.status == StatusCode::UNAUTHORIZED => {
                Err(Redirect::to("/login").into_response())
            }
            Err(e) => Err(e.into_response()),
        }
    }
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn set_lang(
    Path(code): Path<String>,
    Query(q): Query<NextQuery>,
    jar: CookieJar,
) -> Response {
    let lang = pick_lang(Some(&code));
    let cookie = Cookie::build((LANG_COOKIE, lang))
        .path("/")
        .same_site(SameSite::Lax)
        .max_age(time_year())
        .build();
    let next = q.next.as_deref().and_then(local_path).unwrap_or("/");
    (jar.add(cookie), Redirect::to(next)).into_response()
}

/// `next` when it is a path on this site, else `None` (the caller goes home). Browsers read
/// `/\\host` and `/\t/host` as `//host`, another site, so a backslash or any control
/// character disqualifies it, as does anything that is not a plain absolute path.
pub fn local_path(next: &str) -> Option<&str> {
    let mut chars = next.chars();
    let local = chars.next() == Some('/')
        && !matches!(chars.next(), Some('/' | '\\'))
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
        && next
            .parse::<axum::http::Uri>()
            .is_ok_and(|u| u.scheme().is_none() && u.authority().is_none());
    local.then_some(next)
}

fn time_year() -> time::Duration {
    time::Duration::days(365)
}

/// Embedded assets: campus intranets have no CDN.
async fn asset(Path(file): Path<String>) -> Response {
    let (body, mime): (&'static [u8], &str) = match file.as_str() {
        "app.css" => (
            include_bytes!("../../../assets/app.css"),
            "text/css; charset=utf-8",
        ),
        "app.js" => (
            include_bytes!("../../../assets/app.js"),
            "text/javascript; charset=utf-8",
        ),
        "logo.svg" => (include_bytes!("../../../assets/logo.svg"), "image/svg+xml"),
        _ => return AppError::not_found().into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

pub fn not_found_page(req: &Request) -> Response {
    let tr = Tr::from_headers(req.headers());
    let page = shell::NotFoundPage { tr };
    (StatusCode::NOT_FOUND, render(&page)).into_response()
}

/// The one page for "your role does not allow this" and for a form whose CSRF token is wrong.
pub fn forbidden_page(headers: &axum::http::HeaderMap) -> Response {
    let page = shell::ForbiddenPage {
        tr: Tr::from_headers(headers),
    };
    (StatusCode::FORBIDDEN, render(&page)).into_response()
}

/// Renders a template; a template error is a 500 with the cause logged.
pub fn render<T: askama::Template>(t: &T) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => AppError::internal(anyhow::anyhow!("template: {e}")).into_response(),
    }
}

/// Unix milliseconds as RFC 3339 (UTC).
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

impl axum::extract::OptionalFromRequestParts<AppState> for PageUser {
    type Rejection = Response;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        match CurrentUser::resolve(parts, state).await {
            Ok(user) => Ok(user.map(PageUser)),
            Err(e) => Err(e.into_response()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn next_stays_on_this_site() {
        for ok in [
            "/",
            "/app/cases/3?tab=records",
            "/console/outbox%3Fstatus%3Ddead",
        ] {
            assert_eq!(local_path(ok), Some(ok), "{ok}");
        }
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "/\\/evil.example",
            "https://evil.example",
            "evil.example",
            "/ok\r\nSet-Cookie: x=1",
            "/\t/evil.example",
            "",
        ] {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
    }
}
