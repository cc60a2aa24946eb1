//! Issue 17 item 9: the auditor's page and API. The audit log filters by actor, case, action and
//! dates and pages through every match; auditors and admins read it, students, finance and
//! reviewers are refused; the chain's verification reports an edited event as broken there.

use medclaim::http::auth::Role;
use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{TestApp, assert_error};
use crate::fixtures::{CaseForm, inv};
use crate::intake::{today, web_login};

/// Every event of `path` (a filtered `/api/v1/admin/audit?…`), following the cursor two at a
/// time.
async fn all_events(app: &TestApp, token: &str, path: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut cursor: Option<i64> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match cursor {
            Some(c) => format!("{path}{sep}limit=2&cursor={c}"),
            None => format!("{path}{sep}limit=2"),
        };
        let (status, body) = app.get(&url, token).await;
        assert_eq!(status, StatusCode::OK, "{url}: {body}");
        events.extend(body["items"].as_array().unwrap().iter().cloned());
        match body["next_cursor"].as_i64() {
            Some(c) => cursor = Some(c),
            None => return events,
        }
    }
}

fn field<'a>(events: &'a [Value], name: &str) -> Vec<&'a str> {
    events.iter().map(|e| e[name].as_str().unwrap()).collect()
}

#[tokio::test]
async fn the_log_filters_by_actor_case_action_and_dates_and_pages_through_every_match() {
    let app = TestApp::spawn().await;
    let s1 = app.student("2026300001").await;
    let s2 = app.student("2026300002").await;
    let form = CaseForm::default;
    let first = app
        .submitted_case(&s1, form(), &[inv("A0001", 10_000, 0)])
        .await;
    let second = app.draft_case(&s1, form(), &[]).await;
    app.submitted_case(&s2, form(), &[inv("B0001", 20_000, 0)])
        .await;
    let auditor = app.person("aud", &[Role::Auditor]).await;

    let everything = all_events(&app, &auditor.token, "/api/v1/admin/audit").await;
    let seqs: Vec<i64> = everything
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] > w[1]),
        "newest first: {seqs:?}"
    );
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(everything.len() as i64, total, "paging reaches every event");

    let by_s1 = all_events(&app, &auditor.token, "/api/v1/admin/audit?actor=2026300001").await;
    assert!(by_s1.len() >= 4, "{by_s1:?}");
    assert!(field(&by_s1, "actor").iter().all(|a| *a == "2026300001"));
    let s1_events = everything
        .iter()
        .filter(|e| e["actor"] == "2026300001")
        .count();
    assert_eq!(by_s1.len(), s1_events);

    let path = format!("/api/v1/admin/audit?case_id={}", first.id);
    let on_first = all_events(&app, &auditor.token, &path).await;
    assert!(field(&on_first, "object_type").iter().all(|t| *t == "case"));
    let first_id = first.id.to_string();
    assert!(
        field(&on_first, "object_id")
            .iter()
            .all(|id| *id == first_id)
    );
    let actions = field(&on_first, "action");
    assert!(
        actions.contains(&"case.create") && actions.contains(&"case.submit"),
        "{actions:?}"
    );
    let path = format!("/api/v1/admin/audit?case_id={}", second.id);
    let on_second = all_events(&app, &auditor.token, &path).await;
    assert!(!field(&on_second, "action").contains(&"case.submit"));

    let submits = all_events(
        &app,
        &auditor.token,
        "/api/v1/admin/audit?action=case.submit",
    )
    .await;
    assert_eq!(field(&submits, "action"), ["case.submit", "case.submit"]);
    let path = "/api/v1/admin/audit?action=case.submit&actor=2026300002";
    assert_eq!(all_events(&app, &auditor.token, path).await.len(), 1);

    let day = today();
    let tomorrow = day.succ_opt().unwrap();
    let yesterday = day.pred_opt().unwrap();
    let path = format!("/api/v1/admin/audit?from={day}&to={day}");
    assert_eq!(
        all_events(&app, &auditor.token, &path).await.len() as i64,
        total
    );
    let path = format!("/api/v1/admin/audit?from={tomorrow}");
    assert!(all_events(&app, &auditor.token, &path).await.is_empty());
    let path = format!("/api/v1/admin/audit?to={yesterday}");
    assert!(all_events(&app, &auditor.token, &path).await.is_empty());

    for (query, code) in [
        (format!("from={tomorrow}&to={day}"), "invalid_date"),
        ("from=2026-13-01".to_string(), "invalid_date"),
        ("case_id=abc".to_string(), "invalid_input"),
    ] {
        let got = app
            .get(&format!("/api/v1/admin/audit?{query}"), &auditor.token)
            .await;
        assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, code);
    }

    // The page: the same filters, the case as a filter link, and no medical content.
    let cookie = web_login(&app, "aud").await;
    let html = crate::intake::page(
        &app,
        &cookie,
        &format!("/console/audit?case_id={}", first.id),
    )
    .await;
    assert!(html.contains("data-status=\"ok\""), "{html}");
    assert!(html.contains("case.submit") && html.contains("case.create"));
    assert!(html.contains(&format!("href=\"/console/audit?case_id={}\"", first.id)));
    assert!(!html.contains(CaseForm::default().reason), "no diagnosis");
    assert!(!html.contains(CaseForm::default().hospital), "no hospital");
    let html = crate::intake::page(&app, &cookie, "/console/audit?from=2026-99-99").await;
    assert!(html.contains("id=\"flash-error\""), "{html}");
}

#[tokio::test]
async fn auditors_and_admins_read_the_log_and_its_verification_others_are_refused() {
    let app = TestApp::spawn().await;
    let paths = [
        "/api/v1/admin/audit",
        "/api/v1/admin/audit/verification",
        "/api/v1/admin/audit?actor=x",
    ];
    for (username, role, allowed) in [
        ("aud", Role::Auditor, true),
        ("adm", Role::Admin, true),
        ("stu", Role::Student, false),
        ("fin", Role::Finance, false),
        ("rev1", Role::Reviewer1, false),
        ("rev2", Role::Reviewer2, false),
    ] {
        let person = app.person(username, &[role]).await;
        for path in paths {
            let got = app.get(path, &person.token).await;
            if allowed {
                assert_eq!(got.0, StatusCode::OK, "{username} {path}: {}", got.1);
            } else {
                assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
            }
        }
        let cookie = web_login(&app, username).await;
        let resp = app
            .client
            .get(app.url("/console/audit"))
            .header(reqwest::header::COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        let want = if allowed {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(resp.status(), want, "{username} on the audit page");
    }
    let (status, _) = app
        .call(
            reqwest::Method::GET,
            "/api/v1/admin/audit/verification",
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn verification_reports_an_edited_event_as_broken_at_that_event() {
    let app = TestApp::spawn().await;
    let student = app.student("2026300003").await;
    app.submitted_case(&student, CaseForm::default(), &[inv("C0001", 5_000, 0)])
        .await;
    let auditor = app.person("aud", &[Role::Auditor]).await;
    let (status, body) = app
        .get("/api/v1/admin/audit/verification", &auditor.token)
        .await;
    assert_eq!(status, StatusCode::OK);
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["events"], total);
    assert!(body["broken_at"].is_null());

    sqlx::query("UPDATE audit_events SET summary = 'nothing happened' WHERE seq = 3")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let (_, body) = app
        .get("/api/v1/admin/audit/verification", &auditor.token)
        .await;
    assert_eq!(body["status"], "broken", "{body}");
    assert_eq!(body["broken_at"], 3);
    assert!(body["why"].as_str().unwrap().contains("edited"), "{body}");

    let cookie = web_login(&app, "aud").await;
    let html = crate::intake::page(&app, &cookie, "/console/audit").await;
    assert!(html.contains("data-status=\"broken\""), "{html}");
    assert!(html.contains("哈希链断裂于事件 3") || html.contains("Chain broken at event 3"));
}

/// A measurement, not a check: `cargo test --test it audit_log::verifying_100000 -- --ignored
/// --nocapture` writes 100,000 events and prints how long verifying the whole chain takes.
#[tokio::test]
#[ignore = "a measurement; run it by name with --ignored"]
async fn verifying_100000_events() {
    let app = TestApp::spawn().await;
    let actor = medclaim::audit::Actor::system("measure");
    let written = std::time::Instant::now();
    for _ in 0..100 {
        let mut tx = app.db.begin().await.unwrap();
        for n in 0..1000 {
            let event = medclaim::audit::Event {
                action: "case.submit",
                object_type: "case",
                object_id: n.to_string(),
                summary: format!("status submitted, invoices {n}"),
            };
            medclaim::audit::record(&mut tx, &actor, event)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }
    let write_time = written.elapsed();
    let started = std::time::Instant::now();
    let verdict = medclaim::audit::verify(&app.db).await.unwrap();
    let verify_time = started.elapsed();
    let events = match verdict {
        medclaim::audit::Verdict::Intact { events } => events,
        broken => panic!("{broken:?}"),
    };
    assert!(events >= 100_000);
    eprintln!(
        "audit chain: {events} events written in {write_time:.1?}, verified in {verify_time:.2?} ({})",
        app.database_url.split(':').next().unwrap_or_default()
    );
}

async fn pending_and_head(db: &medclaim::db::Db) -> (i64, i64) {
    let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE seq IS NULL")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let head: i64 = sqlx::query_scalar("SELECT seq FROM audit_head WHERE id = 1")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    (pending, head)
}

/// Issue 19 item 3: a writer only inserts its event; the chain is sealed afterwards. Events
/// committed by a process that died before any sealing are not lost: the next process seals
/// them, in the order they were written, and the chain verifies.
#[tokio::test]
async fn events_committed_before_a_crash_are_sealed_by_the_next_process() {
    use medclaim::audit::{Actor, Event, record};
    let dir = tempfile::tempdir().unwrap();
    let url = crate::common::fresh_database_url(dir.path()).await;
    let db = medclaim::db::Db::connect(&url).await.unwrap();
    medclaim::db::migrate(&db).await.unwrap();
    // Twenty state changes commit their events; no sealer ever runs in this "process".
    for n in 0..20 {
        let mut tx = db.begin().await.unwrap();
        record(
            &mut tx,
            &Actor::system("crash-test"),
            Event {
                action: "case.submit",
                object_type: "case",
                object_id: n.to_string(),
                summary: format!("event {n}"),
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    assert_eq!(pending_and_head(&db).await, (20, 0), "written, not sealed");
    db.close().await;

    // The next process: `medclaim audit verify` seals what it finds, then checks the chain.
    let out = crate::common::run_cli(dir.path(), &url, &["audit", "verify"], None).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("20"), "{stdout}");
    let db = medclaim::db::Db::connect(&url).await.unwrap();
    assert_eq!(pending_and_head(&db).await, (0, 20));
    let order: Vec<String> = sqlx::query_scalar("SELECT summary FROM audit_events ORDER BY seq")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    let written: Vec<String> = (0..20).map(|n| format!("event {n}")).collect();
    assert_eq!(order, written, "sealed in the order written");
    // Sealing again finds nothing and changes nothing.
    assert_eq!(medclaim::audit::seal(&db).await.unwrap(), 0);
    assert_eq!(
        medclaim::audit::verify(&db).await.unwrap(),
        medclaim::audit::Verdict::Intact { events: 20 }
    );
}

/// The server seals in the background: an event becomes part of the chain without anyone
/// reading the log.
#[tokio::test]
async fn the_server_seals_events_in_the_background() {
    let app = TestApp::spawn().await;
    let student = app.student("2024001").await;
    app.submitted_case(&student, CaseForm::default(), &[inv("S-1", 10_000, 0)])
        .await;
    let mut state = pending_and_head(&app.db).await;
    for _ in 0..100 {
        if state.0 == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        state = pending_and_head(&app.db).await;
    }
    assert_eq!(state.0, 0, "every event sealed within 5 s");
    assert!(state.1 > 0);
}
