//! Review console: the queue, decisions and rule 6 in full, four eyes, stale versions under
//! concurrency, payout at final approval, policy, preset reasons, search, flags and notices,
//! one file per thing a reviewer does. Cases are made as people make them: a covered student
//! submits through intake's API (see `crate::fixtures`).

use medclaim::http::auth::Role;
use reqwest::StatusCode;
use serde_json::Value;

use crate::common::TestApp;
use crate::fixtures::{Inv, Person, at, rated};

mod console;
mod decisions;
mod notices;
mod payout;
mod queue;
mod recall;
mod rejections;
mod search_and_flags;
mod undo;

/// A case of `student` waiting for the first review, hospital rated `level` by the student.
pub async fn submitted(
    app: &TestApp,
    student: &Person,
    level: Option<i64>,
    invoices: &[Inv<'_>],
) -> (i64, Vec<i64>) {
    let c = app.submitted_case(student, rated(level), invoices).await;
    (c.id, c.invoices)
}

/// A case of `student` at `hospital` (rated 3) waiting for the first review.
pub async fn submitted_at(
    app: &TestApp,
    student: &Person,
    hospital: &str,
    invoices: &[Inv<'_>],
) -> (i64, Vec<i64>) {
    let c = app
        .submitted_case(student, at(hospital, Some(3)), invoices)
        .await;
    (c.id, c.invoices)
}

pub struct Team {
    pub student: Person,
    pub r1: Person,
    pub r2: Person,
    pub admin: Person,
}

pub async fn team(app: &TestApp) -> Team {
    Team {
        student: app.student("2024001").await,
        r1: app.person("rev1", &[Role::Reviewer1]).await,
        r2: app.person("rev2", &[Role::Reviewer2]).await,
        admin: app.person("admin", &[Role::Admin]).await,
    }
}

pub async fn case_json(app: &TestApp, token: &str, id: i64) -> Value {
    let (s, b) = app.get(&format!("/api/v1/review/cases/{id}"), token).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

pub async fn version(app: &TestApp, token: &str, id: i64) -> i64 {
    case_json(app, token, id).await["version"].as_i64().unwrap()
}

pub async fn decide_invoice(
    app: &TestApp,
    token: &str,
    invoice: i64,
    body: Value,
) -> (StatusCode, Value) {
    app.post(&format!("/api/v1/review/invoices/{invoice}"), token, body)
        .await
}

pub async fn decide_case(
    app: &TestApp,
    token: &str,
    case: i64,
    body: Value,
) -> (StatusCode, Value) {
    app.post(&format!("/api/v1/review/cases/{case}"), token, body)
        .await
}

pub async fn inbox_kinds(app: &TestApp, user: i64) -> Vec<String> {
    sqlx::query_scalar("SELECT kind FROM notifications WHERE user_id = $1 ORDER BY id")
        .bind(user)
        .fetch_all(&app.db.pool)
        .await
        .unwrap()
}
