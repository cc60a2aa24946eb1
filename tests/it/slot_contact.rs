//! The office contacts a slot (issue 17 item 5): one message to everyone booked, each delivery
//! visible; an admin cancels a slot, releasing every booking and telling everyone why.

use medclaim::db::Db;
use medclaim::http::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::booking::{local_date, open_slot, quick_user};
use crate::common::{Options, TestApp, assert_error};

/// The app without the outbox worker, so queued deliveries stay `pending` where a test looks.
async fn spawn() -> TestApp {
    TestApp::spawn_with(Options {
        outbox_worker: false,
        ..Options::default()
    })
    .await
}

/// A student whose case the review approved, booked on `slot`; answers (user id, token, case,
/// booking).
async fn booked_student(app: &TestApp, username: &str, slot: i64) -> (i64, String, i64, i64) {
    let student = app.student(username).await;
    let case = app.an_approved_case(&student, 12_345).await.id;
    let booking = app.book(&student, slot, case).await;
    (
        student.id,
        student.token,
        case,
        booking["id"].as_i64().unwrap(),
    )
}

async fn count(db: &Db, sql: &'static str, id: i64) -> i64 {
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

async fn text_of(db: &Db, sql: &'static str, id: i64) -> String {
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

async fn audited(db: &Db, action: &str, slot: i64) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE action = $1 AND object_type = 'slot' AND object_id = $2",
    )
    .bind(action)
    .bind(slot.to_string())
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

/// The student's newest in-app notification of `kind`, through the API.
async fn inbox_body(app: &TestApp, token: &str, kind: &str) -> Option<String> {
    let (status, inbox) = app.get("/api/v1/notifications", token).await;
    assert_eq!(status, StatusCode::OK, "{inbox}");
    inbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == kind)
        .map(|n| n["body"].as_str().unwrap().to_string())
}

/// The user ids told by a notice answer, sorted.
fn told(notice: &Value) -> Vec<i64> {
    let mut ids: Vec<i64> = notice["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["user_id"].as_i64().unwrap())
        .collect();
    ids.sort();
    ids
}

async fn page(app: &TestApp, path: &str, token: &str) -> (StatusCode, String) {
    let resp = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.text().await.unwrap())
}

/// Posts a console form with the page's CSRF token; answers the status and the redirect.
async fn submit(
    app: &TestApp,
    path: &str,
    token: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    let (_, html) = page(app, "/app/me", token).await;
    let at =
        html.find(r#"name="csrf" value=""#).expect("a CSRF token") + r#"name="csrf" value=""#.len();
    let csrf = html[at..].split('"').next().unwrap().to_string();
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    let resp = app
        .client
        .post(app.url(path))
        .bearer_auth(token)
        .form(&form)
        .send()
        .await
        .unwrap();
    let to = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (resp.status(), to)
}

#[tokio::test]
async fn the_desk_messages_everyone_booked_and_sees_each_delivery() {
    let app = spawn().await;
    let (_, admin) = quick_user(&app.db, &app.keys, "admin", &[Role::Admin]).await;
    let (_, reviewer) = quick_user(&app.db, &app.keys, "r1", &[Role::Reviewer1]).await;
    let date = local_date(3);
    let slot = open_slot(&app, &admin, &date, "09:00", "09:30", 5).await;
    let elsewhere = open_slot(&app, &admin, &date, "10:00", "10:30", 5).await;
    let (a, a_token, _, _) = booked_student(&app, "2024001", slot).await;
    let (b, _, _, _) = booked_student(&app, "2024002", slot).await;
    let (c, c_token, _, _) = booked_student(&app, "2024003", elsewhere).await;
    let (d, d_token, _, d_booking) = booked_student(&app, "2024004", slot).await;
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/bookings/{d_booking}"),
            Some(&d_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "d cancelled their own booking");

    let path = format!("/api/v1/admin/slots/{slot}/message");
    let (status, notice) = app
        .post(
            &path,
            &reviewer,
            json!({"text": "  受理点今天停电，请改到下午两点来交票  "}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{notice}");
    assert_eq!(notice["slot_id"], slot);
    assert_eq!(notice["kind"], "message");
    assert_eq!(notice["text"], "受理点今天停电，请改到下午两点来交票");
    assert_eq!(notice["recipients"], 2);
    assert_eq!(
        told(&notice),
        vec![a, b],
        "everyone booked, and nobody else"
    );

    // Each recipient: the in-app notification and an SMS row in the outbox, visible by id.
    for item in notice["items"].as_array().unwrap() {
        let user = item["user_id"].as_i64().unwrap();
        let deliveries = item["deliveries"].as_array().unwrap();
        assert_eq!(deliveries.len(), 1, "{item}");
        assert_eq!(deliveries[0]["channel"], "sms");
        assert_eq!(deliveries[0]["status"], "pending");
        let outbox_id = deliveries[0]["outbox_id"].as_i64().unwrap();
        let owner = count(
            &app.db,
            "SELECT user_id FROM outbox WHERE id = $1",
            outbox_id,
        )
        .await;
        assert_eq!(owner, user);
        let kind = text_of(
            &app.db,
            "SELECT kind FROM notifications WHERE id = $1",
            item["notification_id"].as_i64().unwrap(),
        )
        .await;
        assert_eq!(kind, "slot_message");
    }
    let body = inbox_body(&app, &a_token, "slot_message")
        .await
        .expect("a's inbox has the message");
    assert!(
        body.contains("受理点今天停电，请改到下午两点来交票"),
        "{body}"
    );
    assert!(body.contains(&date), "{body}");
    assert_eq!(inbox_body(&app, &c_token, "slot_message").await, None);
    assert_eq!(inbox_body(&app, &d_token, "slot_message").await, None);
    for other in [c, d] {
        assert_eq!(
            count(
                &app.db,
                "SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND kind = 'slot_message'",
                other,
            )
            .await,
            0
        );
    }
    assert_eq!(audited(&app.db, "slot.message", slot).await, 1);

    // Validation, roles and unknown slots.
    for body in [json!({"text": "   "}), json!({"text": "字".repeat(501)})] {
        let got = app.post(&path, &reviewer, body).await;
        assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
        assert!(got.1["error"]["fields"]["text"].is_string(), "{}", got.1);
    }
    assert_error(
        &app.post(&path, &reviewer, json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    );
    assert!(
        app.post(&path, &admin, json!({"text": "字".repeat(500)}))
            .await
            .0
            .is_success(),
        "500 characters are allowed, and admins are at the desk too"
    );
    assert_error(
        &app.post(&path, &a_token, json!({"text": "hi"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &app.call(Method::POST, &path, None, Some(json!({"text": "hi"})))
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    assert_error(
        &app.post(
            "/api/v1/admin/slots/999999/message",
            &reviewer,
            json!({"text": "hi"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_eq!(audited(&app.db, "slot.message", slot).await, 2);

    // The roster page: the form for the desk (no cancel form for a reviewer), and the
    // deliveries of what was sent with their status.
    let (status, html) = page(&app, &format!("/console/slots/{slot}"), &reviewer).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"id="slot-message-form""#));
    assert!(html.contains(r#"<label for="slot-message-text">"#));
    assert!(!html.contains(r#"id="slot-cancel-form""#));
    let first_sms = notice["items"][0]["deliveries"][0]["outbox_id"].clone();
    assert!(html.contains(&format!(r#"data-outbox="{first_sms}">sms · pending"#)));
    assert!(html.contains("受理点今天停电"));
    let (_, html) = page(&app, &format!("/console/slots/{slot}"), &admin).await;
    assert!(html.contains(r#"id="slot-cancel-form""#));

    // The same from the page's form.
    let form_path = format!("/console/slots/{slot}/message");
    let (status, to) = submit(&app, &form_path, &reviewer, &[("text", "明早九点准时开门")]).await;
    assert_eq!(
        (status, to),
        (
            StatusCode::SEE_OTHER,
            format!("/console/slots/{slot}?ok=message_sent")
        )
    );
    let (_, to) = submit(&app, &form_path, &reviewer, &[("text", " ")]).await;
    assert_eq!(to, format!("/console/slots/{slot}?error=invalid_input"));
    assert_eq!(
        count(
            &app.db,
            "SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND kind = 'slot_message'",
            b,
        )
        .await,
        3
    );
}

#[tokio::test]
async fn an_admin_cancels_a_slot_releasing_every_booking_and_telling_why() {
    let app = spawn().await;
    let (_, admin) = quick_user(&app.db, &app.keys, "admin", &[Role::Admin]).await;
    let (_, reviewer) = quick_user(&app.db, &app.keys, "r2", &[Role::Reviewer2]).await;
    let date = local_date(4);
    let slot = open_slot(&app, &admin, &date, "09:00", "09:30", 5).await;
    let elsewhere = open_slot(&app, &admin, &date, "10:00", "10:30", 5).await;
    let (a, a_token, a_case, a_booking) = booked_student(&app, "2024001", slot).await;
    let (b, b_token, b_case, _) = booked_student(&app, "2024002", slot).await;
    let (_, _, c_case, c_booking) = booked_student(&app, "2024003", elsewhere).await;
    let pending_reminders =
        "SELECT COUNT(*) FROM booking_reminders r JOIN bookings b ON b.id = r.booking_id
                             WHERE b.slot_id = $1 AND r.status = 'pending'";

    let path = format!("/api/v1/admin/slots/{slot}/cancel");
    let reason = json!({"reason": "受理点临时停电"});
    assert_error(
        &app.post(&path, &reviewer, reason.clone()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &app.post(&path, &a_token, reason.clone()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &app.call(Method::POST, &path, None, Some(reason.clone()))
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    let got = app.post(&path, &admin, json!({"reason": " "})).await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    assert!(got.1["error"]["fields"]["reason"].is_string(), "{}", got.1);
    assert_error(
        &app.post("/api/v1/admin/slots/999999/cancel", &admin, reason.clone())
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_eq!(
        count(&app.db, "SELECT booked FROM slots WHERE id = $1", slot).await,
        2,
        "refusals change nothing"
    );

    let (status, notice) = app.post(&path, &admin, reason.clone()).await;
    assert_eq!(status, StatusCode::OK, "{notice}");
    assert_eq!(notice["kind"], "cancel");
    assert_eq!(notice["recipients"], 2);
    assert_eq!(told(&notice), vec![a, b]);
    assert!(
        notice["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["deliveries"][0]["channel"] == "sms")
    );

    // Seats released, bookings cancelled, cases approved again, no reminder left.
    assert_eq!(
        count(&app.db, "SELECT booked FROM slots WHERE id = $1", slot).await,
        0
    );
    assert_eq!(
        text_of(
            &app.db,
            "SELECT status FROM bookings WHERE id = $1",
            a_booking
        )
        .await,
        "cancelled"
    );
    for case in [a_case, b_case] {
        assert_eq!(
            text_of(&app.db, "SELECT status FROM cases WHERE id = $1", case).await,
            "approved"
        );
    }
    assert_eq!(count(&app.db, pending_reminders, slot).await, 0);
    // The other slot's booking is untouched.
    assert_eq!(
        text_of(
            &app.db,
            "SELECT status FROM bookings WHERE id = $1",
            c_booking
        )
        .await,
        "active"
    );
    assert_eq!(
        text_of(&app.db, "SELECT status FROM cases WHERE id = $1", c_case).await,
        "booked"
    );

    // Everyone was told the reason, in the app and by SMS.
    for (user, token) in [(a, &a_token), (b, &b_token)] {
        let body = inbox_body(&app, token, "slot_cancelled")
            .await
            .expect("told in the app");
        assert!(body.contains("受理点临时停电"), "{body}");
        assert_eq!(
            count(
                &app.db,
                "SELECT COUNT(*) FROM outbox o JOIN slot_message_recipients r ON r.sms_outbox_id = o.id
                 WHERE o.user_id = $1 AND o.channel = 'sms'",
                user,
            )
            .await,
            1
        );
    }
    assert_eq!(audited(&app.db, "slot.cancel", slot).await, 1);

    // Cancelled once only; no longer messaged, listed for students or bookable.
    assert_error(
        &app.post(&path, &admin, reason.clone()).await,
        StatusCode::CONFLICT,
        "slot_cancelled",
    );
    assert_error(
        &app.post(
            &format!("/api/v1/admin/slots/{slot}/message"),
            &admin,
            json!({"text": "hi"}),
        )
        .await,
        StatusCode::CONFLICT,
        "slot_cancelled",
    );
    let (_, list) = app.get("/api/v1/slots", &a_token).await;
    let listed: Vec<i64> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, vec![elsewhere]);
    let booking = json!({"slot_id": slot, "case_id": a_case});
    assert_error(
        &app.post("/api/v1/bookings", &a_token, booking).await,
        StatusCode::CONFLICT,
        "slot_cancelled",
    );
    // The case books another slot.
    let (status, rebooked) = app
        .post(
            "/api/v1/bookings",
            &a_token,
            json!({"slot_id": elsewhere, "case_id": a_case}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rebooked}");
    assert_eq!(
        text_of(&app.db, "SELECT status FROM cases WHERE id = $1", a_case).await,
        "booked"
    );

    // The console shows the slot cancelled, with the deliveries of the cancellation.
    let (_, html) = page(&app, &format!("/console/slots/{slot}"), &admin).await;
    assert!(html.contains(r#"id="slot-cancelled""#) && html.contains("受理点临时停电"));
    assert!(!html.contains(r#"id="slot-cancel-form""#));
    assert!(!html.contains(r#"id="slot-message-form""#));
    assert!(html.contains("sms · pending"));
    let (_, html) = page(&app, "/console/slots", &admin).await;
    assert!(html.contains("已取消"));

    // The page's form asks for the reason and the confirmation.
    let third = open_slot(&app, &admin, &date, "11:00", "11:30", 5).await;
    booked_student(&app, "2024005", third).await;
    let form_path = format!("/console/slots/{third}/cancel");
    let back = format!("/console/slots/{third}");
    let (_, to) = submit(&app, &form_path, &admin, &[("reason", "停电")]).await;
    assert_eq!(to, format!("{back}?error=invalid_input"), "not confirmed");
    let (_, to) = submit(&app, &form_path, &admin, &[("confirm", "1")]).await;
    assert_eq!(to, format!("{back}?error=invalid_input"), "no reason");
    let (status, _) = submit(
        &app,
        &form_path,
        &reviewer,
        &[("reason", "停电"), ("confirm", "1")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "reviewers do not cancel");
    let (status, to) = submit(
        &app,
        &form_path,
        &admin,
        &[("reason", "停电"), ("confirm", "1")],
    )
    .await;
    assert_eq!(
        (status, to),
        (StatusCode::SEE_OTHER, format!("{back}?ok=slot_cancelled"))
    );
    assert_eq!(
        count(&app.db, "SELECT booked FROM slots WHERE id = $1", third).await,
        0
    );
}
