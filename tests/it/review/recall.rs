//! Recall (SPEC §13 office): a student takes a submitted case back to draft while no reviewer
//! has decided anything on it; once review has begun the answer is 409 `already_in_review`;
//! a recall and a reviewer's decision at the same moment: exactly one wins.

use medclaim::http::auth::Role;
use reqwest::StatusCode;
use serde_json::json;

use super::*;
use crate::common::{TestApp, assert_error};
use crate::fixtures::inv;

async fn recall(app: &TestApp, token: &str, case: i64) -> (StatusCode, serde_json::Value) {
    app.post(&format!("/api/v1/cases/{case}/recall"), token, json!({}))
        .await
}

#[tokio::test]
async fn an_undecided_case_goes_back_to_draft_and_out_of_the_queue() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let (case, _) = submitted(&app, &t.student, Some(2), &[inv("R-1", 10_000, 0)]).await;
    let (_, c) = app
        .get(&format!("/api/v1/cases/{case}"), &t.student.token)
        .await;
    assert_eq!(c["actions"]["recall"], true, "{c}");

    let (st, c) = recall(&app, &t.student.token, case).await;
    assert_eq!(st, StatusCode::OK, "{c}");
    assert_eq!(c["status"], "draft");
    assert_eq!(c["actions"]["edit"], true);
    assert_eq!(c["actions"]["recall"], false);
    let (_, q) = app.get("/api/v1/review/queue?level=1", &t.r1.token).await;
    assert!(
        !q["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == case),
        "a recalled case leaves the queue: {q}"
    );
    // Staff see no drafts.
    let (st, _) = app
        .get(&format!("/api/v1/review/cases/{case}"), &t.r1.token)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // A second recall has nothing to take back.
    assert_error(
        &recall(&app, &t.student.token, case).await,
        StatusCode::CONFLICT,
        "invalid_transition",
    );
    // Fixed and sent again, it waits at level 1 once more.
    let (st, c) = app
        .post(
            &format!("/api/v1/cases/{case}/submit"),
            &t.student.token,
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{c}");
    assert_eq!(c["status"], "submitted");
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_events WHERE object_type = 'case' AND object_id = $1 ORDER BY id",
    )
    .bind(case.to_string())
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert!(actions.contains(&"case.recall".to_string()), "{actions:?}");
}

#[tokio::test]
async fn once_review_has_begun_the_case_stays_with_the_reviewers() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let (case, invs) = submitted(
        &app,
        &t.student,
        Some(2),
        &[inv("R-2", 10_000, 0), inv("R-3", 5_000, 0)],
    )
    .await;
    // Nobody else takes it back: another student, a reviewer.
    let other = app.student("2024002").await;
    assert_error(
        &recall(&app, &other.token, case).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let (st, _) = recall(&app, &t.r1.token, case).await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // One invoice decided: the case is still at level 1, but review has begun.
    let v = version(&app, &t.r1.token, case).await;
    let (st, b) = decide_invoice(
        &app,
        &t.r1.token,
        invs[0],
        json!({"version": v, "level": 1, "decision": "approve"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (_, c) = app
        .get(&format!("/api/v1/cases/{case}"), &t.student.token)
        .await;
    assert_eq!(c["actions"]["recall"], false);
    assert_error(
        &recall(&app, &t.student.token, case).await,
        StatusCode::CONFLICT,
        "already_in_review",
    );
    let (_, c) = app
        .get(&format!("/api/v1/cases/{case}"), &t.student.token)
        .await;
    assert_eq!(c["status"], "submitted", "a refused recall changes nothing");
    assert_eq!(c["version"], v + 1);

    // Passed to level 2: still refused.
    let (st, b) = decide_invoice(
        &app,
        &t.r1.token,
        invs[1],
        json!({"version": v + 1, "level": 1, "decision": "approve"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (_, c) = app
        .get(&format!("/api/v1/cases/{case}"), &t.student.token)
        .await;
    assert_eq!(c["status"], "level2", "{c}");
    assert_error(
        &recall(&app, &t.student.token, case).await,
        StatusCode::CONFLICT,
        "already_in_review",
    );
}

#[tokio::test]
async fn a_recall_and_a_decision_at_once_exactly_one_wins() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let (_, r1b) = app.user_with("rev1b", &[Role::Reviewer1]).await;
    for round in 0..4 {
        let no = format!("RC{round}");
        let (case, invs) = submitted(&app, &t.student, Some(2), &[inv(&no, 1_000, 0)]).await;
        let v = version(&app, &r1b, case).await;
        let decide = decide_invoice(
            &app,
            &r1b,
            invs[0],
            json!({"version": v, "level": 1, "decision": "reject", "reason": "不清晰"}),
        );
        let take_back = recall(&app, &t.student.token, case);
        let (d, r) = tokio::join!(decide, take_back);
        let oks = [&d, &r].iter().filter(|x| x.0 == StatusCode::OK).count();
        assert_eq!(oks, 1, "round {round}: decision {d:?}, recall {r:?}");
        let (_, c) = app
            .get(&format!("/api/v1/cases/{case}"), &t.student.token)
            .await;
        let decisions: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM review_decisions WHERE case_id = $1")
                .bind(case)
                .fetch_one(&app.db.pool)
                .await
                .unwrap();
        if r.0 == StatusCode::OK {
            assert_eq!(d.0, StatusCode::CONFLICT, "round {round}: {d:?}");
            assert_eq!((c["status"].as_str(), decisions), (Some("draft"), 0));
        } else {
            assert_error(&r, StatusCode::CONFLICT, "already_in_review");
            assert_eq!(decisions, 1, "round {round}");
            assert_ne!(c["status"], "draft");
        }
    }
}
