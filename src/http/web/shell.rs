//! The shells of the student app and the staff console; each context adds its pages.

use askama::Template;
use axum::response::{IntoResponse, Redirect, Response};

use super::{ConsoleFrame, PageUser, Tr, render};
use crate::http::auth::CurrentUser;

#[derive(Template)]
#[template(path = "not_found.html")]
pub struct NotFoundPage {
    pub tr: Tr,
}

#[derive(Template)]
#[template(path = "forbidden.html")]
pub struct ForbiddenPage {
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
#[template(path = "console/home.html")]
struct ConsoleHome<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    frame: ConsoleFrame,
}

pub async fn console_home(tr: Tr, PageUser(user): PageUser, frame: ConsoleFrame) -> Response {
    render(&ConsoleHome {
        tr,
        user: &user,
        frame,
    })
}
