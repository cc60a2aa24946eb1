//! The auditor's console page (`/console/audit`, auditors and admins): the audit log filtered
//! by actor, case, action and dates, newest first and paged, under the hash chain's
//! verification status. It shows ids, usernames, verbs and codes — never medical content.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::api::AuditQuery;
use super::log::{self, AuditEvent, ChainStatus};
use crate::http::AppState;
use crate::http::auth::CurrentUser;
use crate::http::web::{ConsoleFrame, PageUser, Tr, error_text, render};

/// Events per page.
const PAGE_SIZE: i64 = 50;

pub fn router() -> Router<AppState> {
    Router::new().route("/console/audit", get(audit_page))
}

#[derive(Template)]
#[template(path = "audit/console.html")]
struct AuditPageT<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    frame: ConsoleFrame,
    actor: String,
    case_id: String,
    action: String,
    from: String,
    to: String,
    chain: ChainStatus,
    items: Vec<AuditEvent>,
    /// The next (older) page's address, filters kept.
    older: Option<String>,
}

impl AuditPageT<'_> {
    /// The case an event is about, to filter by it.
    fn case_of<'e>(&self, e: &'e AuditEvent) -> Option<&'e str> {
        (e.object_type == "case").then_some(e.object_id.as_str())
    }
}

async fn audit_page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    frame: ConsoleFrame,
    Query(q): Query<AuditQuery>,
) -> Response {
    let chain = match log::chain_status(&state.db).await {
        Ok(c) => c,
        Err(e) => return crate::http::AppError::from(e).into_response(),
    };
    let (items, next_cursor, error) = match q.filter(state.settings.time_zone) {
        Ok(filter) => match log::page(&state.db, &filter, q.cursor, PAGE_SIZE).await {
            Ok((items, next)) => (items, next, None),
            Err(e) => return crate::http::AppError::from(e).into_response(),
        },
        Err(e) => (Vec::new(), None, Some(error_text(tr, e.code.as_str()))),
    };
    let text = |v: &Option<String>| v.as_deref().unwrap_or("").trim().to_string();
    let (actor, case_id, action, from, to) = (
        text(&q.actor),
        text(&q.case_id),
        text(&q.action),
        text(&q.from),
        text(&q.to),
    );
    let older = next_cursor.map(|cursor| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (key, value) in [
            ("actor", &actor),
            ("case_id", &case_id),
            ("action", &action),
            ("from", &from),
            ("to", &to),
        ] {
            if !value.is_empty() {
                query.append_pair(key, value);
            }
        }
        query.append_pair("cursor", &cursor.to_string());
        format!("/console/audit?{}", query.finish())
    });
    render(&AuditPageT {
        tr,
        user: &user,
        frame: frame.with_error(error),
        actor,
        case_id,
        action,
        from,
        to,
        chain,
        items,
        older,
    })
}
