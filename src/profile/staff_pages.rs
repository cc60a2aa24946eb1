//! The console's people page (admin; here beside `reset_link`, which e-mails through the
//! outbox): search, roles, deactivate / reactivate, a reset link
//! shown once, and new staff. Changes need a fresh authentication: the forms carry
//! `data-fresh-auth`, so the page asks inline (password or passkey) and sends them again.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::accounts::admin::{self, Change, Filter, NewStaff, Person};
use crate::http::auth::{CsrfForm, CurrentUser, Role};
use crate::http::web::{ConsoleFrame, PageUser, Tr, error_text, render};
use crate::http::{AppError, AppState, ErrorCode};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/people", get(people_page).post(create_form))
        .route("/console/people/{id}", post(update_form))
}

/// The staff roles, in order, for the checkboxes.
const STAFF_ROLES: [Role; 5] = [
    Role::Reviewer1,
    Role::Reviewer2,
    Role::Admin,
    Role::Finance,
    Role::Auditor,
];

pub struct Row {
    pub person: Person,
    pub roles: Vec<(&'static str, bool)>,
    pub last_sign_in: String,
}

#[derive(Template)]
#[template(path = "staff/people.html")]
struct PeopleT<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    frame: ConsoleFrame,
    q: String,
    rows: Vec<Row>,
    staff_roles: Vec<&'static str>,
    /// A reset link just issued: (login name, path, expires), shown this once.
    link: Option<(String, String, String)>,
    notice: Option<String>,
}

#[derive(Deserialize, Default)]
struct PageQ {
    q: Option<String>,
    error: Option<String>,
    done: Option<String>,
}

async fn page(
    state: &AppState,
    tr: Tr,
    user: &CurrentUser,
    frame: ConsoleFrame,
    q: PageQ,
    link: Option<(String, String, String)>,
) -> Response {
    let filter = Filter {
        q: q.q.clone(),
        limit: 200,
        ..Filter::default()
    };
    let people = match admin::list(state, &filter).await {
        Ok((people, _)) => people,
        Err(e) => return e.into_response(),
    };
    let rows = people
        .into_iter()
        .map(|p| Row {
            roles: STAFF_ROLES
                .iter()
                .map(|r| (r.as_str(), p.roles.contains(r)))
                .collect(),
            last_sign_in: p
                .last_sign_in_at
                .map(|t| crate::http::web::rfc3339(t).replace('T', " "))
                .unwrap_or_default(),
            person: p,
        })
        .collect();
    render(&PeopleT {
        tr,
        user,
        frame: frame.with_error(q.error.as_deref().map(|c| error_text(tr, c))),
        q: q.q.unwrap_or_default(),
        rows,
        staff_roles: STAFF_ROLES.iter().map(|r| r.as_str()).collect(),
        link,
        notice: q.done.is_some().then(|| tr.t("staff.saved")),
    })
}

async fn people_page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    frame: ConsoleFrame,
    Query(q): Query<PageQ>,
) -> Response {
    page(&state, tr, &user, frame, q, None).await
}

/// Back to the page, searching for the person just changed.
fn done(username: &str) -> Response {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("done", "1")
        .append_pair("q", username)
        .finish();
    Redirect::to(&format!("/console/people?{query}")).into_response()
}

fn back(code: ErrorCode) -> Response {
    Redirect::to(&format!("/console/people?error={code}")).into_response()
}

/// Step-up: `Some(answer)` when the session is not fresh — the inline prompt's 401, or back
/// to the page with the error.
fn stale(
    state: &AppState,
    user: &CurrentUser,
    headers: &axum::http::HeaderMap,
) -> Option<Response> {
    let e: AppError = user.require_fresh_auth(state).err()?;
    Some(
        if headers.contains_key(crate::http::web::REAUTH_INLINE_HEADER) {
            e.into_response()
        } else {
            back(e.code)
        },
    )
}

#[derive(Deserialize)]
struct RoleBoxes {
    role_reviewer1: Option<String>,
    role_reviewer2: Option<String>,
    role_admin: Option<String>,
    role_finance: Option<String>,
    role_auditor: Option<String>,
}

impl RoleBoxes {
    fn names(&self) -> Vec<String> {
        [
            (&self.role_reviewer1, "reviewer1"),
            (&self.role_reviewer2, "reviewer2"),
            (&self.role_admin, "admin"),
            (&self.role_finance, "finance"),
            (&self.role_auditor, "auditor"),
        ]
        .into_iter()
        .filter(|(v, _)| v.is_some())
        .map(|(_, n)| n.to_string())
        .collect()
    }
}

#[derive(Deserialize)]
struct CreateForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(flatten)]
    roles: RoleBoxes,
}

async fn create_form(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    CsrfForm { user, form: f }: CsrfForm<CreateForm>,
) -> Response {
    if let Some(r) = stale(&state, &user, &headers) {
        return r;
    }
    let new = NewStaff {
        username: f.username,
        name: f.name,
        roles: f.roles.names(),
        email: Some(f.email),
        phone: None,
    };
    match admin::create(&state, &user, new).await {
        Ok(p) => done(&p.username),
        Err(e) => back(e.code),
    }
}

#[derive(Deserialize)]
struct UpdateForm {
    /// `roles`, `deactivate`, `reactivate` or `reset_link`.
    #[serde(default)]
    action: String,
    #[serde(flatten)]
    roles: RoleBoxes,
}

async fn update_form(
    State(state): State<AppState>,
    tr: Tr,
    frame: ConsoleFrame,
    headers: axum::http::HeaderMap,
    Path(id): Path<i64>,
    CsrfForm { user, form: f }: CsrfForm<UpdateForm>,
) -> Response {
    if let Some(r) = stale(&state, &user, &headers) {
        return r;
    }
    let change = match f.action.as_str() {
        "roles" => Change {
            roles: Some(f.roles.names()),
            active: None,
        },
        "deactivate" => Change {
            roles: None,
            active: Some(false),
        },
        "reactivate" => Change {
            roles: None,
            active: Some(true),
        },
        "reset_link" => {
            return match super::reset_link::issue(&state, &user, id).await {
                Ok(link) => {
                    let username = admin::get(&state, id)
                        .await
                        .map(|p| p.username)
                        .unwrap_or_default();
                    let q = PageQ {
                        q: Some(username.clone()),
                        ..PageQ::default()
                    };
                    let shown = (username, link.url, link.expires_at.replace('T', " "));
                    page(&state, tr, &user, frame, q, Some(shown)).await
                }
                Err(e) => back(e.code),
            };
        }
        _ => return back(ErrorCode::InvalidInput),
    };
    match admin::update(&state, &user, id, change).await {
        Ok(p) => done(&p.username),
        Err(e) => back(e.code),
    }
}
