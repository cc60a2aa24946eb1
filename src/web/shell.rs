//! The shells of the student app and the staff console; each context adds its pages.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};

use super::{ConsoleFrame, PageUser, Tr, render};
use crate::accounts::CurrentUser;
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

/// `/app`: the student's home (notices, my cases), built by the claims pages.
pub async fn student_home(state: State<AppState>, tr: Tr, user: PageUser) -> Response {
    crate::claims::pages::home(state, tr, user).await
}

#[derive(Template)]
#[template(path = "console/home.html")]
struct ConsoleHome<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    frame: ConsoleFrame,
}

pub async fn console_home(tr: Tr, PageUser(user): PageUser, frame: ConsoleFrame) -> Response {
    if !user.is_staff() {
        return Redirect::to("/app").into_response();
    }
    render(&ConsoleHome {
        tr,
        user: &user,
        frame,
    })
}
