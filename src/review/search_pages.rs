//! The console's staff search page: a case by student, hospital or invoice number.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use crate::http::AppState;
use crate::http::auth::CurrentUser;
use crate::http::web::{ConsoleFrame, PageUser, Tr, error_text, render};

pub fn router() -> Router<AppState> {
    Router::new().route("/console/search", get(search_page))
}

struct HitView {
    id: i64,
    status: &'static str,
    student: String,
    hospital: String,
    visit_date: String,
    invoices: String,
}

#[derive(Template)]
#[template(path = "review/search.html")]
struct SearchT<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    frame: ConsoleFrame,
    q: String,
    searched: bool,
    hits: Vec<HitView>,
}

#[derive(Deserialize)]
struct SearchQ {
    q: Option<String>,
}

async fn search_page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    frame: ConsoleFrame,
    Query(q): Query<SearchQ>,
) -> Response {
    let query = q.q.unwrap_or_default();
    let (hits, error) = if query.trim().is_empty() {
        (Vec::new(), None)
    } else {
        match super::search::run(&state, &query).await {
            Ok(h) => (h, None),
            Err(e) => (Vec::new(), Some(error_text(tr, e.code.as_str()))),
        }
    };
    render(&SearchT {
        tr,
        user: &user,
        frame: frame.with_error(error),
        searched: !query.trim().is_empty(),
        q: query,
        hits: hits
            .into_iter()
            .map(|h| HitView {
                id: h.id,
                status: h.status.as_str(),
                student: format!("{} ({})", h.student.name, h.student.username),
                hospital: h.hospital,
                visit_date: h.visit_date,
                invoices: h
                    .invoices
                    .iter()
                    .map(|i| format!("{} ¥{}", i.invoice_no, i.total_cents))
                    .collect::<Vec<_>>()
                    .join("; "),
            })
            .collect(),
    })
}
