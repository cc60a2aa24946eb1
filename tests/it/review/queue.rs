//! The reviewer's queue: oldest submission first, keyset pages and age, a returned case
//! queuing by its resubmission; each level's queue and decisions only for its own role.

use medclaim::http::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::*;
use crate::common::{TestApp, assert_error};
use crate::fixtures::{at, inv};

#[tokio::test]
async fn queue_is_oldest_submission_first_with_keyset_pages_and_age() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let h = "协和医院";
    let s = &t.student;
    let c_new = app
        .submitted_case(s, at(h, None), &[inv("N1", 100, 0)])
        .await
        .id;
    let c_old = app
        .submitted_case(s, at(h, None), &[inv("N2", 100, 0)])
        .await
        .id;
    let c_mid = app
        .submitted_case(s, at(h, None), &[inv("N3", 100, 0)])
        .await
        .id;
    let c_l2 = app
        .case_at_level2(s, &t.r1, at(h, Some(3)), &[inv("N4", 100, 0)])
        .await
        .id;
    app.draft_case(s, at(h, None), &[inv("N5", 100, 0)]).await;
    // The clock the API cannot move: the cases were submitted an hour, a minute and a second
    // ago (only `submitted_at` is set back; everything else is as the student left it).
    for (case, ago) in [(c_new, 1_000), (c_old, 3_600_000), (c_mid, 60_000)] {
        sqlx::query("UPDATE cases SET submitted_at = submitted_at - $1 WHERE id = $2")
            .bind(ago)
            .bind(case)
            .execute(&app.db.pool)
            .await
            .unwrap();
    }

    let (st, p1) = app
        .get("/api/v1/review/queue?level=1&limit=2", &t.r1.token)
        .await;
    assert_eq!(st, StatusCode::OK, "{p1}");
    let ids: Vec<i64> = p1["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![c_old, c_mid]);
    assert_eq!(p1["waiting"], 3);
    assert!(p1["oldest_age_seconds"].as_i64().unwrap() >= 3599, "{p1}");
    assert_eq!(p1["items"][0]["invoice_count"], 1);
    let cursor = p1["next_cursor"].as_str().unwrap();
    let (_, p2) = app
        .get(
            &format!("/api/v1/review/queue?level=1&limit=2&cursor={cursor}"),
            &t.r1.token,
        )
        .await;
    let ids: Vec<i64> = p2["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![c_new]);
    assert!(p2["next_cursor"].is_null());

    let (_, q2) = app.get("/api/v1/review/queue?level=2", &t.r2.token).await;
    assert_eq!(q2["items"].as_array().unwrap().len(), 1);
    assert_eq!(q2["items"][0]["id"], c_l2);

    // A returned case that comes back queues by its resubmission time: last.
    app.return_case(&t.r1, c_old, 1, "请补充病历").await;
    app.submit(s, c_old).await;
    let (_, p) = app.get("/api/v1/review/queue?level=1", &t.r1.token).await;
    let ids: Vec<i64> = p["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![c_mid, c_new, c_old]);
}

/// The count stops at its limit and says so ("2+"), in the API and on the console page; the
/// oldest case and the pages are the whole queue's all the same.
#[tokio::test]
async fn the_waiting_count_stops_at_its_limit_and_says_more() {
    let app = TestApp::spawn_with(crate::common::Options {
        configure: Some(Box::new(|s| s.queue_count_limit = 2)),
        ..Default::default()
    })
    .await;
    let t = team(&app).await;
    let h = "协和医院";
    let mut ids = Vec::new();
    for n in 0..2 {
        let case = app
            .submitted_case(&t.student, at(h, None), &[inv(&format!("C{n}"), 100, 0)])
            .await;
        ids.push(case.id);
    }
    let (st, page) = app.get("/api/v1/review/queue?level=1", &t.r1.token).await;
    assert_eq!(st, StatusCode::OK, "{page}");
    assert_eq!(
        (page["waiting"].clone(), page["waiting_more"].clone()),
        (json!(2), json!(false)),
        "{page}"
    );

    let third = app
        .submitted_case(&t.student, at(h, None), &[inv("C2", 100, 0)])
        .await;
    ids.push(third.id);
    let (_, page) = app.get("/api/v1/review/queue?level=1", &t.r1.token).await;
    assert_eq!(
        (page["waiting"].clone(), page["waiting_more"].clone()),
        (json!(2), json!(true)),
        "{page}"
    );
    let listed: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, ids, "every waiting case is still listed");
    assert!(page["oldest_submitted_at"].is_string());

    let (_, html) = app
        .page(
            &format!("medclaim_session={}", t.r1.token),
            "/console/review?level=1",
        )
        .await;
    assert!(html.contains(r#"<span id="waiting">2+</span>"#), "{html}");
}

#[tokio::test]
async fn roles_are_per_level() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let (_, fin) = app.user_with("fin", &[Role::Finance]).await;
    assert_error(
        &app.get("/api/v1/review/queue?level=2", &t.r1.token).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &app.get("/api/v1/review/queue?level=1", &t.r2.token).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &app.get("/api/v1/review/queue?level=1", &t.student.token)
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &app.get("/api/v1/review/queue?level=1", &fin).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let (st, _) = app
        .call(Method::GET, "/api/v1/review/queue?level=1", None, None)
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);

    let (case, invs) = submitted(&app, &t.student, Some(2), &[inv("R1", 1000, 0)]).await;
    let v = version(&app, &t.r1.token, case).await;
    let approve1 = json!({"version": v, "level": 1, "decision": "approve"});
    let approve2 = json!({"version": v, "level": 2, "decision": "approve"});
    assert_error(
        &decide_invoice(&app, &t.r2.token, invs[0], approve1.clone()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &decide_invoice(&app, &t.r1.token, invs[0], approve2.clone()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &decide_invoice(&app, &t.student.token, invs[0], approve1.clone()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &decide_case(&app, &t.admin.token, case, approve1.clone()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &app.get(&format!("/api/v1/review/cases/{case}"), &t.student.token)
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    // Nothing changed by the refusals.
    assert_eq!(version(&app, &t.r1.token, case).await, v);
    assert_eq!(
        case_json(&app, &t.r1.token, case).await["invoices"][0]["status"],
        "pending"
    );
}
