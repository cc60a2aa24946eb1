//! Booking the hand-in: slots, capacity under concurrency, cancel, roster, hand-in.

use chrono::Duration;
use medclaim::accounts::domain::Phone;
use medclaim::accounts::store::{self, NewUser};
use medclaim::db::Db;
use medclaim::http::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestApp, assert_error};
use crate::fixtures::{inv, rated};

const TZ: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

/// A user with a phone and a bearer session, made directly (no password hashing: hundreds of
/// students are needed for the concurrency tests).
pub async fn quick_user(
    db: &Db,
    keys: &medclaim::crypto::Keys,
    username: &str,
    roles: &[Role],
) -> (i64, String) {
    let mut tx = db.begin().await.unwrap();
    let user = NewUser {
        username: username.into(),
        name: format!("学生{username}"),
        class_name: None,
        phone: Phone::parse("13800138000").ok(),
        id_number: None,
        enrolment_status: "enrolled".into(),
        password_hash: None,
        roles: roles.to_vec(),
    };
    let id = store::insert_user(&mut tx, keys, &user).await.unwrap();
    let (token, _) = store::create_session(&mut tx, id, "api", 3_600_000, true, None)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    (id, token)
}

/// An approved case of `student_id`, written directly as the review would leave it. Only for
/// the booking storms, which need hundreds of students at once (the journey,
/// `TestApp::an_approved_case`, takes eight requests and two photos per case); every other test
/// has its cases approved through the review.
pub async fn storm_case(db: &Db, student_id: i64) -> i64 {
    let now = medclaim::db::now_ms();
    sqlx::query_scalar(
        "INSERT INTO cases (student_id, hospital, hospital_level, reason, visit_date, coverage_year, status, review_level,
                            payout_cents, policy_version, version, created_at, updated_at, approved_at)
         VALUES ($1, '市第一人民医院', 3, '急性胃肠炎', '2026-10-01', 2026, 'approved', 2, 1000, 1, 5, $2, $2, $2) RETURNING id",
    )
    .bind(student_id)
    .bind(now)
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

/// The local date `days` from today, `YYYY-MM-DD`.
pub fn local_date(days: i64) -> String {
    (chrono::Utc::now().with_timezone(&TZ) + Duration::days(days))
        .format("%Y-%m-%d")
        .to_string()
}

pub async fn open_slot(
    app_call: &TestApp,
    admin: &str,
    date: &str,
    start: &str,
    end: &str,
    capacity: i64,
) -> i64 {
    let (status, body) = app_call
        .post(
            "/api/v1/admin/slots",
            admin,
            json!({"date": date, "start": start, "end": end, "capacity": capacity}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_i64().unwrap()
}

async fn book(app: &TestApp, token: &str, slot: i64, case: i64) -> (StatusCode, Value) {
    app.post(
        "/api/v1/bookings",
        token,
        json!({"slot_id": slot, "case_id": case}),
    )
    .await
}

async fn scalar(db: &Db, sql: &'static str, id: i64) -> i64 {
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

async fn case_status(db: &Db, case_id: i64) -> String {
    sqlx::query_scalar("SELECT status FROM cases WHERE id = $1")
        .bind(case_id)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

/// `booked` on the slot and the bookings that hold a seat there.
async fn seats(db: &Db, slot_id: i64) -> (i64, i64) {
    let booked = scalar(db, "SELECT booked FROM slots WHERE id = $1", slot_id).await;
    let rows = scalar(
        db,
        "SELECT COUNT(*) FROM bookings WHERE slot_id = $1 AND status <> 'cancelled'",
        slot_id,
    )
    .await;
    (booked, rows)
}

#[tokio::test]
async fn admins_open_slots_one_by_one_and_in_bulk() {
    let app = TestApp::spawn().await;
    let admin = app.person("admin", &[Role::Admin]).await.token;
    let r1 = app.person("r1", &[Role::Reviewer1]).await;
    let r2 = app.person("r2", &[Role::Reviewer2]).await;
    let me = app.student("2024001").await;
    let student = me.token.clone();

    let date = local_date(3);
    let slot = open_slot(&app, &admin, &date, "09:00", "09:30", 2).await;
    assert_error(
        &app.post(
            "/api/v1/admin/slots",
            &admin,
            json!({"date": date, "start": "09:00", "end": "10:00", "capacity": 2}),
        )
        .await,
        StatusCode::CONFLICT,
        "slot_exists",
    );
    let bad = app
        .post(
            "/api/v1/admin/slots",
            &admin,
            json!({"date": date, "start": "10:00", "end": "09:00", "capacity": 2}),
        )
        .await;
    assert_error(&bad, StatusCode::UNPROCESSABLE_ENTITY, "end_before_start");
    assert_eq!(bad.1["error"]["fields"]["end"], "end_before_start");
    assert_error(
        &app.post(
            "/api/v1/admin/slots",
            &student,
            json!({"date": date, "start": "11:00", "end": "12:00", "capacity": 2}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );

    // A week from next Monday: Monday, Wednesday and Friday, 14:00–16:00 by 30 minutes.
    let today = chrono::Utc::now().with_timezone(&TZ).date_naive();
    let monday = today
        + Duration::days(7 - i64::from(chrono::Datelike::weekday(&today).num_days_from_monday()));
    let (status, bulk) = app
        .post(
            "/api/v1/admin/slots/bulk",
            &admin,
            json!({"from": monday.to_string(), "to": (monday + Duration::days(6)).to_string(), "weekdays": [1, 3, 5],
                   "day_start": "14:00", "day_end": "16:00", "slot_minutes": 30, "capacity": 8}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{bulk}");
    assert_eq!(bulk["created"], 12);
    assert_eq!(bulk["items"][0]["date"], monday.to_string());
    assert_eq!(bulk["items"][3]["end"], "16:00");
    assert_eq!(
        bulk["items"][4]["date"],
        (monday + Duration::days(2)).to_string()
    );

    // A past slot is not listed; the list shows what is left. Inserted directly: the API
    // refuses to open a slot in the past.
    sqlx::query("INSERT INTO slots (slot_date, start_time, end_time, capacity, booked, created_at) VALUES ($1, '09:00', '09:30', 5, 0, 0)")
        .bind(local_date(-1))
        .execute(&app.db.pool)
        .await
        .unwrap();
    app.booked_case(
        &me,
        (&r1, &r2),
        rated(Some(3)),
        &[inv("S1", 30_000, 0)],
        slot,
    )
    .await;
    let (status, list) = app.get("/api/v1/slots", &student).await;
    assert_eq!(status, StatusCode::OK);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 13, "{list}");
    assert!(
        items
            .iter()
            .all(|s| s["date"].as_str().unwrap() >= local_date(0).as_str())
    );
    let mine = items.iter().find(|s| s["id"] == slot).unwrap();
    assert_eq!(
        (
            mine["capacity"].as_i64(),
            mine["booked"].as_i64(),
            mine["remaining"].as_i64()
        ),
        (Some(2), Some(1), Some(1))
    );

    // Capacity: up, down to what is booked, never below.
    let slot_path = format!("/api/v1/admin/slots/{slot}");
    let patch = |cap: i64| {
        app.call(
            Method::PATCH,
            &slot_path,
            Some(&admin),
            Some(json!({"capacity": cap})),
        )
    };
    let (status, up) = patch(5).await;
    assert_eq!(
        (status, up["remaining"].as_i64()),
        (StatusCode::OK, Some(4))
    );
    assert_error(
        &patch(0).await,
        StatusCode::CONFLICT,
        "capacity_below_booked",
    );
    let (status, down) = patch(1).await;
    assert_eq!(
        (status, down["remaining"].as_i64()),
        (StatusCode::OK, Some(0))
    );

    // Deleting: only a slot nobody booked.
    assert_error(
        &app.call(
            Method::DELETE,
            &format!("/api/v1/admin/slots/{slot}"),
            Some(&admin),
            None,
        )
        .await,
        StatusCode::CONFLICT,
        "slot_has_bookings",
    );
    let empty = bulk["items"][0]["id"].as_i64().unwrap();
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/admin/slots/{empty}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = app.get("/api/v1/slots", &student).await;
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["id"] != empty)
    );
}

#[tokio::test]
async fn booking_follows_the_rules_and_the_case_status() {
    let app = TestApp::spawn().await;
    let admin = app.fixture_admin().await.token;
    let r1 = app.person("r1", &[Role::Reviewer1]).await;
    let r2 = app.person("r2", &[Role::Reviewer2]).await;
    let me = app.student("2024001").await;
    let student = me.token.clone();
    let other = app.student("2024002").await;
    let other_token = other.token.clone();
    let slot = app.open_slot(&local_date(2), "09:00", "09:30", 1).await;
    let case_id = app
        .approved_case(&me, &r1, &r2, rated(Some(3)), &[inv("B1", 50_000, 0)])
        .await
        .id;
    let draft = app
        .draft_case(&me, rated(Some(3)), &[inv("B2", 100, 0)])
        .await
        .id;
    let others_case = app
        .approved_case(&other, &r1, &r2, rated(Some(3)), &[inv("B3", 30_000, 0)])
        .await
        .id;

    assert_error(
        &book(&app, &student, slot, draft).await,
        StatusCode::CONFLICT,
        "no_approved_case",
    );
    assert_error(
        &book(&app, &student, slot, others_case).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &book(&app, &admin, slot, case_id).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    // Inserted directly: the API refuses to open a slot in the past.
    let past: i64 = sqlx::query_scalar(
        "INSERT INTO slots (slot_date, start_time, end_time, capacity, booked, created_at) VALUES ($1, '09:00', '09:30', 5, 0, 0) RETURNING id",
    )
    .bind(local_date(-1))
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_error(
        &book(&app, &student, past, case_id).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "slot_in_past",
    );
    assert_eq!(
        case_status(&app.db, case_id).await,
        "approved",
        "a refused booking changes nothing"
    );

    let version_before = scalar(&app.db, "SELECT version FROM cases WHERE id = $1", case_id).await;
    let (status, booking) = book(&app, &student, slot, case_id).await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    assert_eq!(booking["status"], "active");
    assert_eq!(booking["case_id"], case_id);
    assert_eq!(case_status(&app.db, case_id).await, "booked");
    assert!(
        scalar(&app.db, "SELECT version FROM cases WHERE id = $1", case_id).await > version_before
    );
    let inbox: String =
        sqlx::query_scalar("SELECT kind FROM notifications WHERE user_id = $1 ORDER BY id DESC")
            .bind(me.id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(inbox, "booking_confirmed");

    // One booking per case; the full slot refuses the next student.
    let second_slot = app.open_slot(&local_date(2), "10:00", "10:30", 5).await;
    assert_error(
        &book(&app, &student, second_slot, case_id).await,
        StatusCode::CONFLICT,
        "already_booked",
    );
    assert_error(
        &book(&app, &other_token, slot, others_case).await,
        StatusCode::CONFLICT,
        "slot_full",
    );

    // Another student's booking is not found; cancelling frees the seat and the case.
    let booking_id = booking["id"].as_i64().unwrap();
    let path = format!("/api/v1/bookings/{booking_id}");
    assert_error(
        &app.call(Method::DELETE, &path, Some(&other_token), None)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let (status, cancelled) = app.call(Method::DELETE, &path, Some(&student), None).await;
    assert_eq!(
        (status, cancelled["status"].as_str()),
        (StatusCode::OK, Some("cancelled"))
    );
    assert_eq!(case_status(&app.db, case_id).await, "approved");
    assert_eq!(seats(&app.db, slot).await, (0, 0));
    assert_error(
        &app.call(Method::DELETE, &path, Some(&student), None).await,
        StatusCode::CONFLICT,
        "booking_not_active",
    );
    let (status, _) = book(&app, &other_token, slot, others_case).await;
    assert_eq!(status, StatusCode::CREATED, "the freed seat can be taken");
    let (_, mine) = app.get("/api/v1/bookings", &student).await;
    assert_eq!(mine["items"][0]["status"], "cancelled");

    // Too late to cancel: the slot starts within the cut-off (two hours by default).
    // Inserted directly, so a run just before midnight needs no valid end time.
    let soon = chrono::Utc::now().with_timezone(&TZ) + Duration::minutes(45);
    let near: i64 = sqlx::query_scalar(
        "INSERT INTO slots (slot_date, start_time, end_time, capacity, booked, created_at) VALUES ($1, $2, '23:59', 5, 0, 0) RETURNING id",
    )
    .bind(soon.format("%Y-%m-%d").to_string())
    .bind(soon.format("%H:%M").to_string())
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let (status, late) = book(&app, &student, near, case_id).await;
    assert_eq!(status, StatusCode::CREATED, "{late}");
    let late_path = format!("/api/v1/bookings/{}", late["id"]);
    assert_error(
        &app.call(Method::DELETE, &late_path, Some(&student), None)
            .await,
        StatusCode::CONFLICT,
        "cancel_too_late",
    );
    assert_eq!(case_status(&app.db, case_id).await, "booked");
}

/// Fires one booking per student at once; answers the statuses and error codes.
async fn fire_bookings(
    app: &TestApp,
    students: Vec<(String, i64)>,
    slot: i64,
) -> Vec<(StatusCode, Value)> {
    let mut tasks = Vec::new();
    for (token, case_id) in students {
        let client = app.client.clone();
        let url = app.url("/api/v1/bookings");
        tasks.push(tokio::spawn(async move {
            let resp = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"slot_id": slot, "case_id": case_id}))
                .send()
                .await
                .unwrap();
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

async fn students_with_cases(app: &TestApp, prefix: &str, n: usize) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for i in 0..n {
        let (id, token) = quick_user(
            &app.db,
            &app.keys,
            &format!("{prefix}{i:04}"),
            &[Role::Student],
        )
        .await;
        out.push((token, storm_case(&app.db, id).await));
    }
    out
}

#[tokio::test]
async fn two_hundred_students_race_for_ten_seats() {
    let app = TestApp::spawn().await;
    let (_, admin) = quick_user(&app.db, &app.keys, "admin", &[Role::Admin]).await;
    let slot = open_slot(&app, &admin, &local_date(1), "09:00", "09:30", 10).await;
    let students = students_with_cases(&app, "s", 200).await;
    let cases: Vec<i64> = students.iter().map(|s| s.1).collect();

    let results = fire_bookings(&app, students, slot).await;
    let created = results
        .iter()
        .filter(|r| r.0 == StatusCode::CREATED)
        .count();
    let full = results
        .iter()
        .filter(|r| r.0 == StatusCode::CONFLICT && r.1["error"]["code"] == "slot_full")
        .count();
    assert_eq!(created, 10, "exactly the capacity is booked");
    assert_eq!(
        full,
        190,
        "everyone else hears slot_full: {:?}",
        results
            .iter()
            .find(|r| r.0 != StatusCode::CREATED && r.1["error"]["code"] != "slot_full")
    );
    assert_eq!(seats(&app.db, slot).await, (10, 10));
    let booked_cases: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM cases WHERE status = 'booked'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(booked_cases, 10, "only the winners' cases are booked");
    assert_eq!(cases.len(), 200);
}

#[tokio::test]
async fn concurrent_cancels_and_bookings_keep_the_count_exact() {
    let app = TestApp::spawn().await;
    let (_, admin) = quick_user(&app.db, &app.keys, "admin", &[Role::Admin]).await;
    let slot = open_slot(&app, &admin, &local_date(2), "09:00", "09:30", 10).await;
    let holders = students_with_cases(&app, "h", 10).await;
    let results = fire_bookings(&app, holders.clone(), slot).await;
    assert!(results.iter().all(|r| r.0 == StatusCode::CREATED));
    let booking_ids: Vec<i64> = results
        .iter()
        .map(|r| r.1["id"].as_i64().unwrap())
        .collect();
    let newcomers = students_with_cases(&app, "n", 60).await;

    let mut cancels = Vec::new();
    for ((token, _), id) in holders.iter().zip(&booking_ids) {
        let client = app.client.clone();
        let url = app.url(&format!("/api/v1/bookings/{id}"));
        let token = token.clone();
        cancels.push(tokio::spawn(async move {
            client
                .delete(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let bookings = fire_bookings(&app, newcomers, slot).await;
    for c in cancels {
        assert_eq!(c.await.unwrap(), StatusCode::OK);
    }
    let won = bookings
        .iter()
        .filter(|r| r.0 == StatusCode::CREATED)
        .count() as i64;
    assert!(
        bookings
            .iter()
            .all(|r| r.0 == StatusCode::CREATED || r.1["error"]["code"] == "slot_full")
    );
    let (booked, rows) = seats(&app.db, slot).await;
    assert_eq!(booked, rows, "booked equals the bookings holding a seat");
    assert_eq!(
        booked, won,
        "every seat is held by a newcomer who was told so"
    );
    assert!(booked <= 10);

    // Whatever the interleaving, the seats freed can all be taken afterwards.
    let late = students_with_cases(&app, "l", 15).await;
    let results = fire_bookings(&app, late, slot).await;
    let more = results
        .iter()
        .filter(|r| r.0 == StatusCode::CREATED)
        .count() as i64;
    assert_eq!(booked + more, 10);
    assert_eq!(seats(&app.db, slot).await, (10, 10));
}

#[tokio::test]
async fn staff_see_the_roster_and_confirm_the_hand_in() {
    let app = TestApp::spawn().await;
    let admin = app.fixture_admin().await.token;
    let r1 = app.person("r1", &[Role::Reviewer1]).await;
    let r2 = app.person("r2", &[Role::Reviewer2]).await;
    let reviewer = r1.token.clone();
    let finance = app.person("fin", &[Role::Finance]).await.token;
    let student_a = app.student_named("2024001", "学生2024001").await;
    let a = student_a.id;
    let a_token = student_a.token.clone();
    let student_b = app.student_named("2024002", "学生2024002").await;
    let slot = app.open_slot(&local_date(1), "09:00", "09:30", 5).await;
    let claim_a = app
        .case_at_level2(&student_a, &r1, rated(Some(3)), &[inv("R1", 30_000, 0)])
        .await;
    let payout_a = app.approve(&r2, claim_a.id, 2).await["payout_cents"].clone();
    assert!(payout_a.as_i64().is_some_and(|p| p > 0), "{payout_a}");
    let case_a = claim_a.id;
    // The hand-in's notices are the ones after the review's.
    let before: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM notifications WHERE user_id = $1")
            .bind(a)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let booking_a = app.book(&student_a, slot, case_a).await;
    let (claim_b, booking_b) = app
        .booked_case(
            &student_b,
            (&r1, &r2),
            rated(Some(3)),
            &[inv("R2", 30_000, 0)],
            slot,
        )
        .await;
    let case_b = claim_b.id;

    let roster_path = format!("/api/v1/admin/slots/{slot}/bookings");
    assert_error(
        &app.get(&roster_path, &a_token).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let (status, roster) = app.get(&roster_path, &reviewer).await;
    assert_eq!(status, StatusCode::OK, "{roster}");
    let first = &roster["items"][0];
    assert_eq!(first["student_id"], "2024001");
    assert_eq!(first["name"], "学生2024001");
    assert_eq!(first["phone_masked"], "138****8000");
    assert_eq!(first["case_id"], case_a);
    assert_eq!(
        first["payout_cents"], payout_a,
        "the payout the review decided"
    );
    assert!(
        !roster.to_string().contains("13800138000"),
        "the full phone number is never shown"
    );
    assert_eq!(roster["slot"]["booked"], 2);

    let complete = format!("/api/v1/admin/bookings/{}/complete", booking_a["id"]);
    assert_error(
        &app.post(&complete, &finance, json!({})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let (status, done) = app.post(&complete, &reviewer, json!({})).await;
    assert_eq!(
        (status, done["status"].as_str()),
        (StatusCode::OK, Some("completed")),
        "{done}"
    );
    assert_eq!(case_status(&app.db, case_a).await, "completed");
    let handed_in: Option<i64> = sqlx::query_scalar("SELECT handed_in_at FROM cases WHERE id = $1")
        .bind(case_a)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(handed_in.is_some());
    assert_error(
        &app.post(&complete, &reviewer, json!({})).await,
        StatusCode::CONFLICT,
        "booking_not_active",
    );
    let kinds: Vec<String> = sqlx::query_scalar(
        "SELECT kind FROM notifications WHERE user_id = $1 AND id > $2 ORDER BY id",
    )
    .bind(a)
    .bind(before)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(kinds, ["booking_confirmed", "case_completed"]);

    let (status, missed) = app
        .post(
            &format!("/api/v1/admin/bookings/{}/no-show", booking_b["id"]),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, missed["status"].as_str()),
        (StatusCode::OK, Some("no_show"))
    );
    assert_eq!(
        case_status(&app.db, case_b).await,
        "approved",
        "a no-show may book again"
    );
    let (_, roster) = app.get(&roster_path, &reviewer).await;
    let statuses: Vec<&str> = roster["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["completed", "no_show"]);
    assert_error(
        &app.get("/api/v1/admin/slots/999999/bookings", &reviewer)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let audit: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE action IN ('booking.complete', 'booking.no_show')",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(audit, 2);
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

/// Posts a form; answers the status and where it redirects to.
async fn submit(
    app: &TestApp,
    path: &str,
    token: &str,
    fields: &[(&str, String)],
) -> (StatusCode, String) {
    let resp = app
        .client
        .post(app.url(path))
        .bearer_auth(token)
        .form(fields)
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

fn csrf_of(html: &str) -> String {
    let at = html
        .find(r#"name="csrf" value=""#)
        .expect("a form with a CSRF token")
        + r#"name="csrf" value=""#.len();
    html[at..].split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn the_pages_open_a_week_book_a_seat_and_confirm_the_hand_in() {
    let app = TestApp::spawn().await;
    let admin = app.person("admin", &[Role::Admin]).await.token;
    let r1 = app.person("r1", &[Role::Reviewer1]).await;
    let r2 = app.person("r2", &[Role::Reviewer2]).await;
    let reviewer = r1.token.clone();
    let me = app.student_named("2024001", "学生2024001").await;
    let student = me.token.clone();
    let claim = app
        .case_at_level2(&me, &r1, rated(Some(3)), &[inv("P1", 30_000, 0)])
        .await;
    let case_id = claim.id;
    let payout = app.approve(&r2, case_id, 2).await["payout_cents"]
        .as_i64()
        .unwrap();
    // The roster shows the payout the review decided, in yuan.
    let shown = format!("¥{}.{:02}", payout / 100, payout % 100);

    // The admin opens a week of slots in one form.
    let (status, html) = page(&app, "/console/slots", &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"id="bulk-form""#));
    let csrf = csrf_of(&html);
    let mut week = vec![
        ("csrf", csrf.clone()),
        ("from", local_date(1)),
        ("to", local_date(7)),
        ("day_start", "09:00".into()),
        ("day_end", "10:00".into()),
        ("slot_minutes", "30".into()),
        ("capacity", "3".into()),
    ];
    for d in ["wd1", "wd2", "wd3", "wd4", "wd5", "wd6", "wd7"] {
        week.push((d, "1".into()));
    }
    let (status, to) = submit(&app, "/console/slots/bulk", &admin, &week).await;
    assert_eq!(
        (status, to.as_str()),
        (StatusCode::SEE_OTHER, "/console/slots?ok=saved")
    );
    let slots: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM slots")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(slots, 14);
    week[0].1 = "forged".into();
    assert_eq!(
        submit(&app, "/console/slots/bulk", &admin, &week).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, _) = page(&app, "/console/outbox", &reviewer).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the outbox is for admins");

    // The student sees the seats left and books one.
    let (status, html) = page(&app, "/app/booking", &student).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"<span class="seats">3</span>"#));
    assert!(html.contains(&format!(r#"<option value="{case_id}">"#)));
    let slot_id: i64 =
        sqlx::query_scalar("SELECT id FROM slots ORDER BY slot_date, start_time LIMIT 1")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let fields = [
        ("csrf", csrf_of(&html)),
        ("slot_id", slot_id.to_string()),
        ("case_id", case_id.to_string()),
    ];
    let (status, to) = submit(&app, "/app/booking", &student, &fields).await;
    assert_eq!(
        (status, to.as_str()),
        (StatusCode::SEE_OTHER, "/app/booking?ok=booked_ok")
    );
    let (status, to) = submit(&app, "/app/booking", &student, &fields).await;
    assert_eq!(
        (status, to.as_str()),
        (StatusCode::SEE_OTHER, "/app/booking?error=already_booked")
    );
    let (_, html) = page(&app, "/app/booking?error=already_booked", &student).await;
    assert!(
        html.contains("该病历已有预约"),
        "the error is shown in the page's language"
    );
    assert!(html.contains(r#"<span class="seats">2</span>"#));
    assert!(
        html.contains("/cancel"),
        "an active booking can be cancelled from the page"
    );

    // Staff see the roster and confirm the hand-in.
    let (status, html) = page(&app, &format!("/console/slots/{slot_id}"), &reviewer).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("学生2024001") && html.contains("138****8000") && html.contains(&shown));
    let booking_id: i64 = sqlx::query_scalar("SELECT id FROM bookings")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let (status, to) = submit(
        &app,
        &format!("/console/bookings/{booking_id}/complete"),
        &reviewer,
        &[("csrf", csrf_of(&html))],
    )
    .await;
    assert_eq!(
        (status, to),
        (
            StatusCode::SEE_OTHER,
            format!("/console/slots/{slot_id}?ok=saved")
        )
    );
    assert_eq!(case_status(&app.db, case_id).await, "completed");
}

#[tokio::test]
async fn demo_slots_open_two_weeks_of_weekday_mornings_once() {
    let app = TestApp::spawn().await;
    let (_, student) = quick_user(&app.db, &app.keys, "2024001", &[Role::Student]).await;
    assert_eq!(
        medclaim::booking::seed_demo_slots(&app.db, TZ)
            .await
            .unwrap(),
        50
    );
    assert_eq!(
        medclaim::booking::seed_demo_slots(&app.db, TZ)
            .await
            .unwrap(),
        0
    );
    let (_, list) = app.get("/api/v1/slots", &student).await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 50);
    assert!(
        items
            .iter()
            .all(|s| s["remaining"] == 10 && s["date"].as_str().unwrap() > local_date(0).as_str())
    );
}

#[tokio::test]
async fn booking_and_outbox_routes_are_in_the_openapi_document() {
    let app = TestApp::spawn().await;
    let doc: Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (path, method) in [
        ("/api/v1/admin/slots", "post"),
        ("/api/v1/admin/slots/bulk", "post"),
        ("/api/v1/admin/slots/{id}", "patch"),
        ("/api/v1/admin/slots/{id}", "delete"),
        ("/api/v1/slots", "get"),
        ("/api/v1/bookings", "post"),
        ("/api/v1/bookings/{id}", "delete"),
        ("/api/v1/admin/slots/{id}/bookings", "get"),
        ("/api/v1/admin/bookings/{id}/complete", "post"),
        ("/api/v1/admin/bookings/{id}/no-show", "post"),
        ("/api/v1/admin/outbox", "get"),
        ("/api/v1/admin/outbox/{id}/retry", "post"),
        ("/api/v1/me/contact", "put"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing from OpenAPI"
        );
    }
    assert_eq!(
        doc["paths"]["/api/v1/bookings/{id}"]["delete"]["parameters"][0]["name"],
        "id"
    );
}
