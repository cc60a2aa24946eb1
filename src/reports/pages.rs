//! Console pages: the dashboard (`/console/dashboard`, staff) and the export page
//! (`/console/reports`, finance and admins), whose download buttons are plain GET links to the
//! report endpoints.

use crate::money::Cents;
use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{Datelike, Duration};

use super::dashboard::{self, Dashboard};
use super::domain::{Lang, level_label};
use crate::http::auth::CurrentUser;
use crate::http::web::{ConsoleFrame, PageUser, Tr, render};
use crate::http::{AppError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/dashboard", get(dashboard_page))
        .route("/console/reports", get(reports_page))
}

#[derive(Template)]
#[template(path = "reports/dashboard.html")]
struct DashboardPage<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    frame: ConsoleFrame,
    d: Dashboard,
    lang: Lang,
}

impl DashboardPage<'_> {
    fn level(&self, level: &Option<i64>) -> &'static str {
        level_label(*level, self.lang)
    }
    fn yuan(&self, cents: &Cents) -> String {
        cents.to_string()
    }
}

async fn dashboard_page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    frame: ConsoleFrame,
) -> Response {
    let d = match dashboard::load(&state).await {
        Ok(d) => d,
        Err(e) => return AppError::from(e).into_response(),
    };
    render(&DashboardPage {
        tr,
        user: &user,
        frame,
        d,
        lang: Lang::from_code(tr.lang),
    })
}

#[derive(Template)]
#[template(path = "reports/reports.html")]
struct ReportsPage<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    frame: ConsoleFrame,
    from: String,
    to: String,
}

/// Defaults to last month, what finance asks for most.
async fn reports_page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    frame: ConsoleFrame,
) -> Response {
    let today = chrono::Utc::now()
        .with_timezone(&state.settings.time_zone)
        .date_naive();
    let first_this_month = today - Duration::days(today.day0() as i64);
    let last_month_end = first_this_month - Duration::days(1);
    let last_month_start = last_month_end - Duration::days(last_month_end.day0() as i64);
    render(&ReportsPage {
        tr,
        user: &user,
        frame,
        from: last_month_start.to_string(),
        to: last_month_end.to_string(),
    })
}
