//! The review console in the browser and as pages: the keyboard queue, the case screen,
//! search, policy and notices.

use medclaim::http::auth::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::*;
use crate::common::TestApp;
use crate::fixtures::inv;

/// Presses `keys` on whatever has the focus (the page body after a load).
async fn press(b: &crate::browser::Browser, keys: &str) {
    b.driver
        .action_chain()
        .send_keys(keys)
        .perform()
        .await
        .unwrap();
}

/// Waits until the page at `path` is loaded and its shortcuts are listening.
async fn wait_page(b: &crate::browser::Browser, path: &str) {
    for _ in 0..200 {
        if b.path().await == path {
            let ready = b
                .script("return document.readyState === 'complete' && document.documentElement.getAttribute('data-keys') === 'ready'")
                .await;
            if ready == Value::Bool(true) {
                return;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("never reached {path}, at {}", b.path().await);
}

/// A level-1 reviewer clears a queue of three cases without the mouse: n opens the oldest,
/// a approves the current invoice (the next pending one is selected after each reload), each
/// finished case leads to the next, and the queue ends empty.
#[tokio::test]
async fn reviewer_clears_a_queue_of_three_with_the_keyboard() {
    let app = TestApp::spawn().await;
    let student = app.student("2024001").await;
    app.create_user("rev1", "审核员甲", &[Role::Reviewer1])
        .await;
    let h = "北京大学第三医院";
    // Submitted one after the other: the queue shows them oldest first.
    let (c1, i1) = submitted_at(
        &app,
        &student,
        h,
        &[inv("K-1a", 10_000, 0), inv("K-1b", 5_000, 0)],
    )
    .await;
    let (c2, _) = submitted_at(&app, &student, h, &[inv("K-2", 10_000, 0)]).await;
    let (c3, _) = submitted_at(&app, &student, h, &[inv("K-3", 10_000, 0)]).await;
    let Some(b) = crate::browser::Browser::start(&app.addr, 1366, 900).await else {
        return;
    };
    b.sign_in("rev1").await;
    b.goto("/console/review?level=1").await;
    wait_page(&b, "/console/review").await;
    assert_eq!(b.text("#waiting").await, "3");
    press(&b, "n").await;
    let case1 = format!("/console/review/cases/{c1}");
    wait_page(&b, &case1).await;
    // The first pending invoice is current; a approves it and the reloaded page makes the
    // second one current.
    let current = "return document.querySelector('.invoice.current').id";
    assert_eq!(b.script(current).await, json!(format!("invoice-{}", i1[0])));
    press(&b, "a").await;
    b.wait_for(&format!("document.readyState === 'complete' && document.querySelector('.invoice.current') && document.querySelector('.invoice.current').id === 'invoice-{}' && document.documentElement.getAttribute('data-keys') === 'ready'", i1[1])).await;
    press(&b, "a").await;
    wait_page(&b, &format!("/console/review/cases/{c2}")).await;
    // ? shows the shortcuts, again hides them.
    press(&b, "?").await;
    b.wait_for("!document.getElementById('kbd-help').hidden")
        .await;
    press(&b, "?").await;
    b.wait_for("document.getElementById('kbd-help').hidden")
        .await;
    press(&b, "a").await;
    wait_page(&b, &format!("/console/review/cases/{c3}")).await;
    press(&b, "j").await;
    press(&b, "k").await;
    press(&b, "a").await;
    wait_page(&b, "/console/review").await;
    assert!(
        b.script("return !!document.getElementById('queue-empty')")
            .await
            == Value::Bool(true)
    );
    assert_eq!(b.text("#waiting").await, "0");
    b.stop().await;
    let statuses: Vec<String> =
        sqlx::query_scalar("SELECT status FROM cases WHERE id IN ($1, $2, $3) ORDER BY id")
            .bind(c1)
            .bind(c2)
            .bind(c3)
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(statuses, vec!["level2", "level2", "level2"]);
    let approved: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM review_decisions WHERE result = 'approve' AND level = 1",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(approved, 4);
}

/// The console pages render what the API knows: queue, review screen with flags and payout
/// lines, search, policy (saved as a new version through the form) and notices (Markdown
/// rendered safely). Another role is refused.
#[tokio::test]
async fn console_pages_show_queue_case_search_policy_and_notices() {
    use crate::intake::{page, web_login};
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let other = app.student_named("2024300", "赵六").await;
    let (case, _) = submitted(&app, &t.student, Some(3), &[inv("PG-1", 12_345, 0)]).await;
    let (_, theirs) = submitted(&app, &other, Some(3), &[inv("PG-2", 100, 0)]).await;
    // A number in two active claims (the risk hint) is a row from before rule 2: the API
    // refuses it, so it is set here by SQL.
    sqlx::query("UPDATE invoices SET invoice_no = 'PG-1' WHERE id = $1")
        .bind(theirs[0])
        .execute(&app.db.pool)
        .await
        .unwrap();
    let r1 = web_login(&app, "rev1").await;
    let html = page(&app, &r1, "/console/review?level=1").await;
    assert!(
        html.contains(&format!("/console/review/cases/{case}")),
        "{html}"
    );
    assert!(html.contains("123.45"));
    let html = page(&app, &r1, &format!("/console/review/cases/{case}")).await;
    assert!(html.contains("PG-1") && html.contains("风险提示"), "{html}");
    assert!(html.contains("发票照片不清晰"), "preset reasons offered");
    assert!(html.contains("name=\"decision\" value=\"approve\""));
    let html = page(&app, &r1, "/console/search?q=PG-").await;
    assert!(
        html.contains("search-results") && html.contains("赵六"),
        "{html}"
    );

    let admin = web_login(&app, "admin").await;
    let html = page(&app, &admin, "/console/policy").await;
    assert!(html.contains("value=\"80.00\""), "{html}");
    let csrf = |html: &str| {
        let i = html.find("name=\"csrf\" value=\"").unwrap() + 19;
        html[i..i + html[i..].find('"').unwrap()].to_string()
    };
    let token = csrf(&html);
    let resp = app
        .client
        .post(app.url("/console/policy"))
        .header(reqwest::header::COOKIE, &admin)
        .form(&[
            ("csrf", token.as_str()),
            ("ratio0", "70"),
            ("ratio1", "90"),
            ("ratio2", "85"),
            ("ratio3", "82.5"),
            ("deductible", "150"),
            ("cap", "40000"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, p) = app.get("/api/v1/admin/policy", &t.admin.token).await;
    assert_eq!(p["version"], 2);
    assert_eq!(p["ratios_bp"]["3"], 8250);
    assert_eq!(p["deductible_cents"], 15_000);
    let resp = app
        .client
        .post(app.url("/console/notices"))
        .header(reqwest::header::COOKIE, &admin)
        .form(&[
            ("csrf", token.as_str()),
            ("title", "交票时间调整"),
            ("body", "*下周一*起\n\n<script>x()</script>"),
            ("priority", "3"),
            ("valid_until", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let html = page(&app, &admin, "/console/notices").await;
    assert!(
        html.contains("<em>下周一</em>") && html.contains("&lt;script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>x()"));
    let resp = app
        .client
        .get(app.url("/console/policy"))
        .header(reqwest::header::COOKIE, &r1)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

/// Seed 001's "随时随地": a level-1 reviewer on a phone (375×812) opens a case with two record
/// photos, pages through them beside the invoice, zooms one, and approves both invoices with
/// taps; nothing scrolls sideways and the case moves on to level 2.
#[tokio::test]
async fn a_reviewer_on_a_phone_clears_a_case_comparing_record_and_invoice_photos() {
    use crate::fixtures::{photo_of, rated};
    use crate::intake::{file_part, multipart};
    let app = TestApp::spawn().await;
    let student = app.student("2024001").await;
    app.create_user("rev1", "审核员甲", &[Role::Reviewer1])
        .await;
    let claim = app
        .draft_case(
            &student,
            rated(Some(2)),
            &[inv("M-1", 10_000, 0), inv("M-2", 5_000, 0)],
        )
        .await;
    let form = reqwest::multipart::Form::new().part(
        "file",
        file_part(photo_of(4242), "record2.jpg", "image/jpeg"),
    );
    let (st, body) = multipart(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/cases/{}/records", claim.id),
        &student.token,
        form,
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    app.submit(&student, claim.id).await;

    let Some(b) = crate::browser::Browser::start(&app.addr, 375, 812).await else {
        return;
    };
    b.sign_in("rev1").await;
    let path = format!("/console/review/cases/{}", claim.id);
    b.goto(&path).await;
    wait_page(&b, &path).await;
    b.assert_accessible("review case on a phone").await;
    // The record photos: one shown at a time, paged by the buttons (and h/l).
    assert_eq!(b.text("#record-counter").await, "1 / 2");
    let visible = "return Array.from(document.querySelectorAll('.record')).filter(r => !r.hidden).map(r => r.dataset.record).join(',')";
    assert_eq!(b.script(visible).await, json!("0"));
    b.click("[data-record-step='1']").await;
    assert_eq!(b.script(visible).await, json!("1"));
    assert_eq!(b.text("#record-counter").await, "2 / 2");
    press(&b, "h").await;
    assert_eq!(b.script(visible).await, json!("0"));
    b.click("#records [data-photo='in']").await;
    assert_eq!(
        b.script("return document.querySelector('.record:not([hidden]) img').dataset.scale")
            .await,
        json!("1.25")
    );
    let loaded = "return Array.from(document.querySelectorAll('img.zoomable')).every(i => i.complete && i.naturalWidth > 0)";
    assert_eq!(b.script(loaded).await, json!(true), "every photo loads");
    let wide = b
        .script("return document.documentElement.scrollWidth;")
        .await;
    assert!(
        wide.as_u64().unwrap() <= 375,
        "no sideways scrolling ({wide})"
    );
    // Two taps on "approve", one per invoice.
    for (k, invoice) in claim.invoices.iter().enumerate() {
        b.click(&format!("#invoice-{invoice} button.approve")).await;
        if k == 0 {
            // Reloaded with the next invoice current (and scrolled to): let it settle.
            let next = claim.invoices[1];
            b.wait_for(&format!(
                "document.readyState === 'complete' && document.querySelector('#invoice-{invoice} .chip.status-approved') !== null && document.querySelector('.invoice.current')?.id === 'invoice-{next}'"
            ))
            .await;
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            // The decision log that appeared does not widen the page.
            let wide = b
                .script("return [innerWidth, document.documentElement.scrollWidth];")
                .await;
            assert_eq!(wide, json!([375, 375]), "the page stays phone-wide");
        }
    }
    // The last decision settles the case: the console moves on to the queue.
    b.wait_for(&format!(
        "location.pathname !== '{path}' && document.readyState === 'complete'"
    ))
    .await;
    b.stop().await;
    let status: String = sqlx::query_scalar("SELECT status FROM cases WHERE id = $1")
        .bind(claim.id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(status, "level2");
}
