//! The shells of the student app and the staff console; each context adds its pages.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};

use super::{PageUser, Tr, render};
use crate::accounts::{CurrentUser, store};
use crate::crypto::mask_phone;
use crate::http::AppState;

#[derive(Template)]
#[template(path = "not_found.html")]
pub struct NotFoundPage {
    pub tr: Tr,
}

/// `/`: signed-in people go to their side, others to the login page.
pub async fn home(user: Option<PageUser>) -> Response {
    match user {
        Some(PageUser(u)) if u.is_staff() => Redirect::to("/console").into_response(),
        Some(_) => Redirect::to("/app").into_response(),
        None => Redirect::to("/login").into_response(),
    }
}

#[derive(Template)]
#[template(path = "app_home.html")]
struct StudentHome<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    phone_masked: String,
}

pub async fn student_home(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
) -> Response {
    if user.is_staff() && !user.has(crate::accounts::Role::Student) {
        return Redirect::to("/console").into_response();
    }
    let phone_masked = match store::find_by_id(&state.db.pool, user.id).await {
        Ok(Some(row)) => store::open_phone(&state.keys, &row)
            .map(|p| mask_phone(&p))
            .unwrap_or_default(),
        Ok(None) => String::new(),
        Err(e) => return crate::http::AppError::from(e).into_response(),
    };
    render(&StudentHome {
        tr,
        user: &user,
        phone_masked,
    })
}

#[derive(Template)]
#[template(path = "console_home.html")]
struct ConsoleHome<'a> {
    tr: Tr,
    user: &'a CurrentUser,
}

pub async fn console_home(tr: Tr, PageUser(user): PageUser) -> Response {
    if !user.is_staff() {
        return Redirect::to("/app").into_response();
    }
    render(&ConsoleHome { tr, user: &user })
}
