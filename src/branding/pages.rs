//! `/console/branding` (admins): the names, the office's contact and the logo; and the public
//! `/branding/logo`.

use askama::Template;
use axum::Router;
use axum::extract::{Multipart, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::Fields;
use crate::http::AppState;
use crate::http::auth::{CsrfForm, CurrentUser, check_page_csrf};
use crate::http::web::{Branding, ConsoleFrame, Flash, PageUser, Tr, back, render};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/branding", get(page).post(save))
        .route(
            "/console/branding/logo",
            post(logo_upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/branding/logo", get(logo))
}

#[derive(Template)]
#[template(path = "branding/console.html")]
struct BrandingPage<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    frame: ConsoleFrame,
    b: Branding,
}

async fn page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    frame: ConsoleFrame,
    Query(flash): Query<Flash>,
) -> Response {
    let b = match crate::http::web::brand::load(&state.db.pool).await {
        Ok(b) => b,
        Err(e) => return crate::http::AppError::from(e).into_response(),
    };
    let (ok, error) = flash.message(&tr, "branding");
    render(&BrandingPage {
        tr,
        user: &user,
        frame: frame.with_ok(ok).with_error(error),
        b,
    })
}

#[derive(Deserialize)]
struct BrandingForm {
    #[serde(default)]
    university_name: String,
    #[serde(default)]
    office_name: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    opening_hours: String,
    #[serde(default)]
    phone: String,
}

async fn save(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<BrandingForm>,
) -> Response {
    let fields = Fields {
        university_name: form.university_name,
        office_name: form.office_name,
        address: form.address,
        opening_hours: form.opening_hours,
        phone: form.phone,
    };
    let done = super::update(&state, &user, fields).await;
    back("/console/branding", done.map(|_| "saved"))
}

async fn logo_upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    PageUser(user): PageUser,
    multipart: Multipart,
) -> Response {
    let mut form =
        match crate::storage::read_form(multipart, state.settings.max_upload_bytes, 1024).await {
            Ok(f) => f,
            Err(e) => return back("/console/branding", Err(e)),
        };
    let csrf = form
        .remove("csrf")
        .map(|(b, _)| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    if let Err(refused) = check_page_csrf(&user, &csrf, &headers) {
        return refused;
    }
    let remove = form.remove("remove").is_some();
    let file = form.remove("file").filter(|(b, _)| !b.is_empty());
    let done = match (remove, file) {
        (true, _) => super::set_logo(&state, &user, None).await,
        (false, Some(file)) => super::set_logo(&state, &user, Some(file)).await,
        (false, None) => Err(crate::http::ErrorCode::MissingFile.with_message("Choose an image.")),
    };
    back("/console/branding", done.map(|_| "logo_saved"))
}

/// The office's logo for every page (public: the login page shows it).
async fn logo(State(state): State<AppState>) -> Response {
    match super::logo(&state).await {
        Ok((mime, bytes)) => (
            [
                (header::CONTENT_TYPE, mime),
                (header::CACHE_CONTROL, "public, max-age=300".to_string()),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}
