//! The notification outbox and its worker against a local SMS gateway (an HTTP server in the
//! test that records what it receives) and a real SMTP server (Debian `python3-aiosmtpd`,
//! `tests/support/smtp_sink.py`); reminders with an injectable clock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use medclaim::Settings;
use medclaim::db::now_ms;
use medclaim::notify::worker::Worker;
use medclaim::notify::{ManualClock, SmsSettings, SmtpSettings, SmtpTls};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::booking::local_date;
use crate::common::{Options, TestApp};
use crate::fixtures::{inv, rated};

// ---------- a local SMS gateway that honours idempotency keys ----------

#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub(crate) key: String,
    auth: Option<String>,
    body: Value,
}

#[derive(Default)]
pub(crate) struct Gateway {
    /// Every request, duplicates included.
    requests: Mutex<Vec<Received>>,
    /// What was actually sent to phones: one per idempotency key.
    delivered: Mutex<HashMap<String, Received>>,
    fail_next: AtomicUsize,
    hang_next: AtomicUsize,
}

impl Gateway {
    pub(crate) fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }
    fn delivered(&self) -> Vec<Received> {
        self.delivered.lock().unwrap().values().cloned().collect()
    }
    /// Forgets what was received so far (what the test set up before the part it checks).
    fn forget(&self) {
        self.requests.lock().unwrap().clear();
        self.delivered.lock().unwrap().clear();
    }
}

async fn gateway_handler(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: String,
) -> AxumStatus {
    let got = Received {
        key: headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
        auth: headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: serde_json::from_str(&body).unwrap_or(Value::Null),
    };
    gw.requests.lock().unwrap().push(got.clone());
    if gw.fail_next.load(Ordering::SeqCst) > 0 {
        gw.fail_next.fetch_sub(1, Ordering::SeqCst);
        return AxumStatus::SERVICE_UNAVAILABLE;
    }
    gw.delivered
        .lock()
        .unwrap()
        .entry(got.key.clone())
        .or_insert(got);
    if gw.hang_next.load(Ordering::SeqCst) > 0 {
        gw.hang_next.fetch_sub(1, Ordering::SeqCst);
        // Sent, but the answer never reaches the worker in time: it is stopped meanwhile.
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    AxumStatus::OK
}

pub(crate) async fn start_gateway() -> (Arc<Gateway>, String) {
    let gw = Arc::new(Gateway::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/send", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/send", axum::routing::post(gateway_handler))
        .with_state(gw.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (gw, url)
}

fn sms_settings(url: &str) -> SmsSettings {
    SmsSettings {
        url: url.to_string(),
        auth_header: "X-Api-Key".into(),
        auth_value: Some("gateway-secret".into()),
        body_template: r#"{"to":"{{phone}}","content":"{{text}}","ref":"{{key}}"}"#.into(),
        idempotency_header: "Idempotency-Key".into(),
    }
}

// ---------- a real SMTP server ----------

pub(crate) struct SmtpSink {
    child: std::process::Child,
    dir: tempfile::TempDir,
    pub(crate) port: u16,
}

impl SmtpSink {
    /// Starts `tests/support/smtp_sink.py`; `None` (with the reason printed) when Python or
    /// aiosmtpd is missing on this machine — never under `CI=true`.
    pub(crate) fn start() -> Option<SmtpSink> {
        use std::io::BufRead;
        let python = std::env::var("MEDCLAIM_TEST_PYTHON").unwrap_or_else(|_| {
            if std::path::Path::new("/usr/bin/python3").exists() {
                "/usr/bin/python3".into()
            } else {
                "python3".into()
            }
        });
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_sink.py");
        let spawned = std::process::Command::new(&python)
            .arg(script)
            .arg(port.to_string())
            .arg(dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn();
        let fail = |why: String| {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "SMTP test server unavailable under CI: {why} (install Debian python3-aiosmtpd)"
                );
            }
            eprintln!(
                "SKIPPED: SMTP test server unavailable: {why} (install Debian python3-aiosmtpd)"
            );
            None
        };
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => return fail(format!("cannot run {python}: {e}")),
        };
        let mut line = String::new();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        if out.read_line(&mut line).is_err() || line.trim() != "ready" {
            let mut err = String::new();
            let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err);
            let _ = child.kill();
            return fail(format!(
                "smtp_sink.py did not start: {}",
                err.lines().last().unwrap_or("")
            ));
        }
        Some(SmtpSink { child, dir, port })
    }

    fn settings(&self) -> SmtpSettings {
        SmtpSettings {
            host: "127.0.0.1".into(),
            port: self.port,
            from: "medclaim <noreply@medclaim.test>".into(),
            username: None,
            password: None,
            tls: SmtpTls::None,
        }
    }

    pub(crate) async fn messages(&self, at_least: usize) -> Vec<Value> {
        for _ in 0..100 {
            let mut out = Vec::new();
            for entry in std::fs::read_dir(self.dir.path()).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "json") {
                    out.push(
                        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap(),
                    );
                }
            }
            if out.len() >= at_least {
                return out;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the SMTP server did not receive {at_least} messages");
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------- the application with its worker under the test's control ----------

/// The application, the outbox worker off unless `configure` turns it on (the test drives a
/// worker itself, with its own clock), and no SMS gateway or SMTP server unless configured.
async fn spawn_app(configure: impl FnOnce(&mut Settings) + Send + 'static) -> TestApp {
    TestApp::spawn_with(Options {
        outbox_worker: false,
        configure: Some(Box::new(move |settings: &mut Settings| {
            settings.notify.sms = None;
            settings.notify.smtp = None;
            settings.notify.backoff_base = Duration::from_secs(10);
            settings.notify.lease = Duration::from_secs(60);
            settings.notify.send_timeout = Duration::from_secs(5);
            configure(settings);
        })),
        ..Options::default()
    })
    .await
}

/// What these tests do to the application besides calling it.
trait Outbox {
    fn worker(&self, clock: &Arc<ManualClock>) -> Worker;
    async fn outbox(&self) -> Vec<(String, String, i64)>;
    async fn call_as(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value);
}

impl Outbox for TestApp {
    fn worker(&self, clock: &Arc<ManualClock>) -> Worker {
        medclaim::app::worker(&self.state, clock.clone()).unwrap()
    }
    async fn outbox(&self) -> Vec<(String, String, i64)> {
        sqlx::query_as("SELECT channel, status, attempts FROM outbox ORDER BY id")
            .fetch_all(&self.db.pool)
            .await
            .unwrap()
    }
    async fn call_as(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call(method, path, Some(token), body).await
    }
}

/// The student gives an e-mail address for their messages (我的 → contact).
async fn set_email(app: &TestApp, student: &crate::fixtures::Person, email: &str) {
    let (status, body) = app
        .call_as(
            Method::PUT,
            "/api/v1/me/contact",
            &student.token,
            Some(json!({ "email": email })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Delivers what is queued so far (the approval texts of the set-up) and forgets it at the
/// gateway; answers how many outbox rows there are, so the test looks at what comes after.
async fn deliver_earlier(app: &TestApp, gateway: &Gateway) -> usize {
    let clock = Arc::new(ManualClock::new(now_ms() + 1000));
    let worker = app.worker(&clock);
    while worker.tick().await.unwrap().sent > 0 {}
    let rows = app.outbox().await;
    assert!(
        rows.iter().all(|(_, status, _)| status == "sent"),
        "{rows:?}"
    );
    gateway.forget();
    rows.len()
}

#[tokio::test]
async fn a_booking_reaches_the_phone_and_the_mailbox() {
    let Some(smtp) = SmtpSink::start() else {
        return;
    };
    let (gateway, url) = start_gateway().await;
    let smtp_settings = smtp.settings();
    let app = spawn_app(move |s| {
        s.notify.sms = Some(sms_settings(&url));
        s.notify.smtp = Some(smtp_settings);
    })
    .await;
    let admin = app.fixture_admin().await.token;
    let zh = app.student("2024001").await;
    let en = app.student("2024002").await;
    let zh_case = app.an_approved_case(&zh, 1000).await.id;
    let en_case = app.an_approved_case(&en, 1000).await.id;
    let earlier = deliver_earlier(&app, &gateway).await;
    // The students set where messages go and in which language.
    set_email(&app, &zh, "zhang@example.edu").await;
    let (status, bad) = app
        .call_as(
            Method::PUT,
            "/api/v1/me/contact",
            &en.token,
            Some(json!({"email": "not an address"})),
        )
        .await;
    assert_eq!(
        (status, bad["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_email"))
    );
    let (status, contact) = app
        .call_as(
            Method::PUT,
            "/api/v1/me/contact",
            &en.token,
            Some(json!({"email": " li@example.edu ", "lang": "en"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{contact}");
    assert_eq!(
        contact,
        json!({"email": "li@example.edu", "lang": "en", "sms": true})
    );
    let date = local_date(2);
    let (_, slot) = app
        .call_as(
            Method::POST,
            "/api/v1/admin/slots",
            &admin,
            Some(json!({"date": date, "start": "09:00", "end": "09:30", "capacity": 5})),
        )
        .await;
    for (student, case_id) in [(&zh, zh_case), (&en, en_case)] {
        let (status, body) = app
            .call_as(
                Method::POST,
                "/api/v1/bookings",
                &student.token,
                Some(json!({"slot_id": slot["id"], "case_id": case_id})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    // Queued in the booking's transaction; nothing is sent before the worker runs.
    assert_eq!(app.outbox().await.len() - earlier, 4);
    assert!(gateway.requests().is_empty());

    let clock = Arc::new(ManualClock::new(now_ms() + 1000));
    let tick = app.worker(&clock).tick().await.unwrap();
    assert_eq!((tick.sent, tick.failed), (4, 0));
    assert!(
        app.outbox()
            .await
            .iter()
            .all(|(_, status, attempts)| status == "sent" && *attempts == 1)
    );

    let sms = gateway.requests();
    assert_eq!(sms.len(), 2);
    let zh_sms = sms
        .iter()
        .find(|r| r.body["content"].as_str().unwrap().contains("已预约"))
        .expect("a Chinese SMS");
    let en_sms = sms
        .iter()
        .find(|r| {
            r.body["content"]
                .as_str()
                .unwrap()
                .contains("hand-in booked")
        })
        .expect("an English SMS");
    assert!(zh_sms.body["content"].as_str().unwrap().contains(&date));
    assert_eq!(zh_sms.body["to"], "13800138000");
    assert_eq!(zh_sms.auth.as_deref(), Some("gateway-secret"));
    assert!(zh_sms.key.starts_with("notification-") && zh_sms.key != en_sms.key);
    assert_eq!(zh_sms.body["ref"], zh_sms.key.as_str());

    let mails = smtp.messages(2).await;
    let to_zh = mails
        .iter()
        .find(|m| m["rcpt_tos"] == json!(["zhang@example.edu"]))
        .expect("mail to the zh-CN student");
    let to_en = mails
        .iter()
        .find(|m| m["rcpt_tos"] == json!(["li@example.edu"]))
        .expect("mail to the en student");
    assert!(
        to_zh["subject"].as_str().unwrap().starts_with("预约成功"),
        "{to_zh}"
    );
    assert!(
        to_en["subject"].as_str().unwrap().starts_with("Booked:"),
        "{to_en}"
    );
    assert_eq!(to_en["content_type"], "multipart/alternative");
    assert!(
        to_en["text"]
            .as_str()
            .unwrap()
            .contains("hand-in booked for")
    );
    assert!(to_en["html"].as_str().unwrap().contains("<h1"));
    assert!(
        to_en["html"]
            .as_str()
            .unwrap()
            .contains("hand-in booked for")
    );
    assert!(
        to_en["message_id"]
            .as_str()
            .unwrap()
            .contains("notification-")
    );

    // The outbox rows never hold the phone number (not even inside the sealed payload).
    let stored: Vec<medclaim::seal::Sealed> = sqlx::query_scalar("SELECT payload FROM outbox")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    assert!(stored.iter().all(|p| !p.0.contains("13800138000")));
    let recipients: Vec<Option<String>> =
        sqlx::query_scalar("SELECT recipient FROM outbox WHERE channel = 'sms'")
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    assert!(recipients.iter().all(Option::is_none));
}

#[tokio::test]
async fn a_gateway_that_fails_twice_delivers_once_with_backoff() {
    let (gateway, url) = start_gateway().await;
    gateway.fail_next.store(2, Ordering::SeqCst);
    let app = spawn_app(move |s| s.notify.sms = Some(sms_settings(&url))).await;
    let student = app.student("2024001").await;
    // The approval texts the student.
    app.an_approved_case(&student, 1000).await;
    let start = now_ms() + 1000;
    let clock = Arc::new(ManualClock::new(start));
    let worker = app.worker(&clock);

    assert_eq!(worker.tick().await.unwrap().failed, 1);
    let (next, error): (i64, String) =
        sqlx::query_as("SELECT next_attempt_at, last_error FROM outbox")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(next - start, 10_000, "first retry after the base delay");
    assert!(error.contains("503"), "{error}");
    assert_eq!(app.outbox().await[0].1, "pending");
    assert_eq!(
        worker.tick().await.unwrap(),
        Default::default(),
        "nothing is due before the backoff"
    );

    clock.set(next);
    assert_eq!(worker.tick().await.unwrap().failed, 1);
    let next2: i64 = sqlx::query_scalar("SELECT next_attempt_at FROM outbox")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(next2 - next, 20_000, "the delay doubles");

    clock.set(next2);
    assert_eq!(worker.tick().await.unwrap().sent, 1);
    assert_eq!(
        app.outbox().await,
        [("sms".to_string(), "sent".to_string(), 3)]
    );
    assert_eq!(gateway.requests().len(), 3);
    assert_eq!(
        gateway.delivered().len(),
        1,
        "the phone gets the message once"
    );
    clock.advance_ms(3_600_000);
    assert_eq!(
        worker.tick().await.unwrap(),
        Default::default(),
        "a sent message is not sent again"
    );
    assert_eq!(gateway.requests().len(), 3);
}

#[tokio::test]
async fn a_dead_message_is_visible_and_an_admin_can_retry_it() {
    let (gateway, url) = start_gateway().await;
    gateway.fail_next.store(3, Ordering::SeqCst);
    let app = spawn_app(move |s| {
        s.notify.sms = Some(sms_settings(&url));
        s.notify.max_attempts = 3;
    })
    .await;
    let admin = app.fixture_admin().await.token;
    let student = app.student("2024001").await;
    let student_token = student.token.clone();
    // The approval texts the student.
    app.an_approved_case(&student, 1000).await;
    let clock = Arc::new(ManualClock::new(now_ms() + 1000));
    let worker = app.worker(&clock);
    for _ in 0..3 {
        assert_eq!(worker.tick().await.unwrap().failed, 1);
        clock.advance_ms(3_600_000);
    }
    assert_eq!(
        app.outbox().await,
        [("sms".to_string(), "dead".to_string(), 3)]
    );
    assert_eq!(
        worker.tick().await.unwrap(),
        Default::default(),
        "a dead message waits for a person"
    );

    let (status, page) = app
        .call_as(
            Method::GET,
            "/api/v1/admin/outbox?status=dead",
            &admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let item = &page["items"][0];
    assert_eq!(
        (
            item["status"].as_str(),
            item["attempts"].as_i64(),
            item["channel"].as_str()
        ),
        (Some("dead"), Some(3), Some("sms"))
    );
    assert!(item["last_error"].as_str().unwrap().contains("503"));
    assert!(!page.to_string().contains("13800138000"));
    let (status, _) = app
        .call_as(Method::GET, "/api/v1/admin/outbox", &student_token, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let retry = format!("/api/v1/admin/outbox/{}/retry", item["id"]);
    let (status, _) = app
        .call_as(Method::POST, &retry, &student_token, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, again) = app.call_as(Method::POST, &retry, &admin, None).await;
    assert_eq!(
        (status, again["status"].as_str(), again["attempts"].as_i64()),
        (StatusCode::OK, Some("pending"), Some(0))
    );
    let (status, refused) = app.call_as(Method::POST, &retry, &admin, None).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_dead"))
    );
    clock.set(now_ms() + 1000);
    assert_eq!(worker.tick().await.unwrap().sent, 1);
    assert_eq!(gateway.delivered().len(), 1);
    let audited: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'outbox.retry'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(audited, 1);
}

#[tokio::test]
async fn without_a_gateway_messages_are_kept_as_not_configured() {
    let app = spawn_app(|_| {}).await;
    let admin = app.fixture_admin().await.token;
    let student = app.student("2024001").await;
    set_email(&app, &student, "zhang@example.edu").await;
    // The approval texts and mails the student.
    app.an_approved_case(&student, 1000).await;
    let clock = Arc::new(ManualClock::new(now_ms() + 1000));
    let worker = app.worker(&clock);
    worker.tick().await.unwrap();
    clock.advance_ms(86_400_000);
    worker.tick().await.unwrap();
    let rows = app.outbox().await;
    assert_eq!(
        rows,
        [
            ("sms".into(), "not_configured".into(), 0),
            ("email".into(), "not_configured".into(), 0)
        ]
    );
    let (_, page) = app
        .call_as(
            Method::GET,
            "/api/v1/admin/outbox?status=not_configured",
            &admin,
            None,
        )
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert!(page.to_string().contains("SMS gateway not configured"));
    // The in-app inbox got it regardless.
    let inbox: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notifications WHERE user_id = $1")
        .bind(student.id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(inbox, 1);
}

#[tokio::test]
async fn a_restart_in_the_middle_of_delivery_loses_and_duplicates_nothing() {
    let (gateway, url) = start_gateway().await;
    gateway.hang_next.store(1, Ordering::SeqCst);
    let app = spawn_app(move |s| s.notify.sms = Some(sms_settings(&url))).await;
    let student = app.student("2024001").await;
    for _ in 0..3 {
        app.an_approved_case(&student, 1000).await;
    }
    let clock = Arc::new(ManualClock::new(now_ms() + 1000));

    // The first worker sends the first message, then dies before it can record that.
    let first = app.worker(&clock);
    let running = tokio::spawn(async move { first.tick().await });
    for _ in 0..200 {
        if !gateway.requests().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(gateway.requests().len(), 1);
    running.abort();
    let _ = running.await;
    assert!(
        app.outbox()
            .await
            .iter()
            .all(|(_, status, _)| status == "sending"),
        "claimed, outcome unknown"
    );

    // A new process: the claims still hold, so nothing is sent twice right away…
    let second = app.worker(&clock);
    assert_eq!(second.tick().await.unwrap(), Default::default());
    // …and when they expire every message goes out, with its original idempotency key.
    clock.advance_ms(61_000);
    assert_eq!(second.tick().await.unwrap().sent, 3);
    assert!(
        app.outbox()
            .await
            .iter()
            .all(|(_, status, _)| status == "sent")
    );
    let delivered = gateway.delivered();
    assert_eq!(delivered.len(), 3, "every message delivered exactly once");
    let mut keys: Vec<String> = gateway.requests().into_iter().map(|r| r.key).collect();
    assert_eq!(
        keys.len(),
        4,
        "the interrupted one was re-sent under the same key"
    );
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 3);
}

#[tokio::test]
async fn the_reminder_fires_the_day_before_at_the_local_hour_once() {
    let (gateway, url) = start_gateway().await;
    let app = spawn_app(move |s| {
        s.notify.sms = Some(sms_settings(&url));
        s.booking.reminder_hour = 18;
    })
    .await;
    let admin = app.fixture_admin().await.token;
    let keeps = app.student("2024001").await;
    let cancels = app.student("2024002").await;
    let date = local_date(3);
    let (_, slot) = app
        .call_as(
            Method::POST,
            "/api/v1/admin/slots",
            &admin,
            Some(json!({"date": date, "start": "09:00", "end": "09:30", "capacity": 5})),
        )
        .await;
    let mut bookings = Vec::new();
    for student in [&keeps, &cancels] {
        let case_id = app.an_approved_case(student, 1000).await.id;
        let (status, b) = app
            .call_as(
                Method::POST,
                "/api/v1/bookings",
                &student.token,
                Some(json!({"slot_id": slot["id"], "case_id": case_id})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        bookings.push(b);
    }
    let (status, _) = app
        .call_as(
            Method::DELETE,
            &format!("/api/v1/bookings/{}", bookings[1]["id"]),
            &cancels.token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // 18:00 Asia/Shanghai on the day before the slot.
    let day_before = chrono::NaiveDate::parse_from_str(&date, "%Y-%m-%d")
        .unwrap()
        .pred_opt()
        .unwrap();
    let due = chrono::TimeZone::from_local_datetime(
        &chrono_tz::Asia::Shanghai,
        &day_before.and_hms_opt(18, 0, 0).unwrap(),
    )
    .unwrap()
    .timestamp_millis();
    let reminders = |user: i64| {
        let pool = app.db.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND kind = 'booking_reminder'")
                .bind(user)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let clock = Arc::new(ManualClock::new(due - 60_000));
    let worker = app.worker(&clock);
    assert_eq!(
        worker.tick().await.unwrap().reminders,
        0,
        "not yet at 17:59"
    );
    assert_eq!(reminders(keeps.id).await, 0);

    clock.set(due);
    assert_eq!(worker.tick().await.unwrap().reminders, 1);
    assert_eq!(reminders(keeps.id).await, 1);
    assert_eq!(
        reminders(cancels.id).await,
        0,
        "a cancelled booking gets no reminder"
    );
    let texts: Vec<String> = gateway
        .requests()
        .iter()
        .map(|r| r.body["content"].as_str().unwrap().to_string())
        .collect();
    assert!(
        texts
            .iter()
            .any(|t| t.contains("携带发票原件") && t.contains(&date)),
        "{texts:?}"
    );

    // Sent once, also across a restart.
    clock.advance_ms(3_600_000);
    assert_eq!(worker.tick().await.unwrap().reminders, 0);
    let restarted = app.worker(&clock);
    assert_eq!(restarted.tick().await.unwrap().reminders, 0);
    assert_eq!(reminders(keeps.id).await, 1);
    let states: Vec<String> =
        sqlx::query_scalar("SELECT status FROM booking_reminders ORDER BY booking_id")
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(states, ["sent", "cancelled"]);
}

#[tokio::test]
async fn several_workers_never_send_the_same_message_twice() {
    let (gateway, url) = start_gateway().await;
    let app = spawn_app(move |s| s.notify.sms = Some(sms_settings(&url))).await;
    // Thirty approvals, ten for each of three students (a student's uploads are rate-limited).
    let (r1, r2) = app.fixture_reviewers().await;
    for s in 1..=3 {
        let student = app.student(&format!("202400{s}")).await;
        for n in 0..10 {
            let no = format!("W-{s}-{n}");
            app.approved_case(&student, &r1, &r2, rated(Some(3)), &[inv(&no, 1000, 0)])
                .await;
        }
    }
    let clock = Arc::new(ManualClock::new(now_ms() + 1000));
    // Three instances claim from the same outbox at once, until it is empty.
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let worker = app.worker(&clock);
        tasks.push(tokio::spawn(async move {
            let mut sent = 0;
            loop {
                let t = worker.tick().await.unwrap();
                if t.sent == 0 {
                    return sent;
                }
                sent += t.sent;
            }
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, 30);
    assert_eq!(
        gateway.requests().len(),
        30,
        "no message reached the gateway twice"
    );
    assert!(
        app.outbox()
            .await
            .iter()
            .all(|(_, status, attempts)| status == "sent" && *attempts == 1)
    );
}

#[tokio::test]
async fn the_server_runs_the_worker_beside_it() {
    let (gateway, url) = start_gateway().await;
    let app = spawn_app(move |s| {
        s.notify.sms = Some(sms_settings(&url));
        s.notify.worker = true;
        s.notify.poll_interval = Duration::from_millis(50);
    })
    .await;
    let admin = app.fixture_admin().await.token;
    let student = app.student("2024001").await;
    let token = student.token.clone();
    let case_id = app.an_approved_case(&student, 1000).await.id;
    let (_, slot) = app
        .call_as(
            Method::POST,
            "/api/v1/admin/slots",
            &admin,
            Some(json!({"date": local_date(2), "start": "09:00", "end": "09:30", "capacity": 5})),
        )
        .await;
    let (status, _) = app
        .call_as(
            Method::POST,
            "/api/v1/bookings",
            &token,
            Some(json!({"slot_id": slot["id"], "case_id": case_id})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    for _ in 0..100 {
        if app
            .outbox()
            .await
            .iter()
            .all(|(_, status, _)| status == "sent")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The approval's text and the booking's, each sent once by the worker beside the server.
    let sent = ("sms".to_string(), "sent".to_string(), 1);
    assert_eq!(app.outbox().await, [sent.clone(), sent]);
    let texts: Vec<String> = gateway
        .requests()
        .iter()
        .map(|r| r.body["content"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts.iter().any(|t| t.contains("已预约")), "{texts:?}");
}
