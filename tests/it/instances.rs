//! Several instances on one PostgreSQL database (SPEC §10, §13 "Scale"): two real `medclaim
//! serve` processes, started at once on a fresh database and one shared data directory, with the
//! test splitting the traffic between them as a load balancer would. PostgreSQL only: on SQLite
//! (one local file, one instance) each test prints why it skips; under `CI=true` with
//! `MEDCLAIM_TEST_DATABASE_URL` set they run.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use medclaim::accounts::domain::hash_password;
use medclaim::accounts::store::{self, NewUser};
use medclaim::crypto::Keys;
use medclaim::db::Db;
use medclaim::http::auth::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::booking::{local_date, quick_user, storm_case};
use crate::common::{DATA_KEY, INDEX_KEY, PASSWORD, fresh_database_url};
use crate::outbox::{SmtpSink, start_gateway};

const METRICS_TOKEN: &str = "metrics-secret";
/// Every wait in these tests ends by then: a test is bounded well under two minutes.
const PATIENCE: Duration = Duration::from_secs(40);

/// One `medclaim serve` process, killed (and waited for) when dropped.
struct Instance {
    child: Child,
    addr: String,
    log: std::path::PathBuf,
}

impl Instance {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.addr)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, as an orchestrator stops an instance.
    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for the process to exit after [`terminate`](Self::terminate); answers whether it
    /// exited cleanly.
    async fn exited(&mut self) -> bool {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{} did not stop after SIGTERM", self.addr);
    }

    /// This instance's `medclaim_background_leader` gauge.
    async fn leads(&self, client: &reqwest::Client) -> bool {
        let text = client
            .get(self.url("/metrics"))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("medclaim_background_leader "))
            .unwrap_or_else(|| panic!("no leader gauge in /metrics:\n{text}"));
        line.ends_with(" 1")
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two instances on one fresh PostgreSQL database and one data directory.
struct Cluster {
    db: Db,
    keys: Keys,
    client: reqwest::Client,
    instances: Vec<Instance>,
    _dir: tempfile::TempDir,
}

/// The database to test on, or `None` after printing why these tests skip.
async fn postgres_database(dir: &std::path::Path) -> Option<String> {
    let url = fresh_database_url(dir).await;
    if url.starts_with("postgres") {
        return Some(url);
    }
    // (Under CI, MEDCLAIM_TEST_DATABASE_URL set means PostgreSQL: these tests run.)
    eprintln!(
        "SKIPPED: several instances share one PostgreSQL database; on SQLite there is one \
         instance (set MEDCLAIM_TEST_DATABASE_URL to run these tests)"
    );
    None
}

/// Starts `medclaim serve` on a free port with `env`; answers once it prints its address.
fn start_instance(dir: &std::path::Path, name: &str, env: &[(String, String)]) -> Instance {
    let log = dir.join(format!("{name}.log"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_medclaim"))
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("MEDCLAIM_DATA_KEY", DATA_KEY)
        .env("MEDCLAIM_INDEX_KEY", INDEX_KEY)
        .env("MEDCLAIM_METRICS_TOKEN", METRICS_TOKEN)
        .env("MEDCLAIM_OUTBOX_POLL_MS", "100")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start medclaim serve");
    let stdout = child.stdout.take().unwrap();
    Instance {
        child,
        addr: {
            // "medclaim listening on http://127.0.0.1:PORT/"
            let mut line = String::new();
            std::io::BufReader::new(stdout)
                .read_line(&mut line)
                .unwrap();
            let addr = line
                .trim()
                .strip_prefix("medclaim listening on ")
                .map(|a| a.trim_end_matches('/').to_string());
            match addr {
                Some(a) => a,
                None => panic!(
                    "{name} did not start: {line:?}\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                ),
            }
        },
        log,
    }
}

impl Cluster {
    /// Two instances started at the same moment on a fresh database: one migrates it while
    /// the other waits for the migration lock. `None` on SQLite.
    async fn start(env: &[(&str, String)]) -> Option<Cluster> {
        let dir = tempfile::tempdir().unwrap();
        let url = postgres_database(dir.path()).await?;
        let mut env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        env.push(("DATABASE_URL".into(), url.clone()));
        let path = dir.path().to_path_buf();
        let starts: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|name| {
                let (path, env) = (path.clone(), env.clone());
                std::thread::spawn(move || start_instance(&path, name, &env))
            })
            .collect();
        let instances: Vec<Instance> = starts.into_iter().map(|t| t.join().unwrap()).collect();
        let db = Db::connect(&url).await.unwrap();
        Some(Cluster {
            db,
            keys: Keys::for_tests(),
            client: reqwest::Client::new(),
            instances,
            _dir: dir,
        })
    }

    /// The instance the `i`-th request goes to (round robin).
    fn pick(&self, i: usize) -> &Instance {
        &self.instances[i % self.instances.len()]
    }

    async fn scalar(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
    }

    /// A slot of `capacity` seats on `date`, opened by an admin on instance A.
    async fn open_slot(&self, date: String, capacity: i64) -> i64 {
        let (_, admin) = quick_user(&self.db, &self.keys, "admin", &[Role::Admin]).await;
        let (status, slot) = post(
            &self.client,
            self.pick(0).url("/api/v1/admin/slots"),
            Some(&admin),
            json!({"date": date, "start": "09:00", "end": "12:00", "capacity": capacity}),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{slot}");
        slot["id"].as_i64().unwrap()
    }

    /// `n` signed-in students, each with an approved case: (token, case id).
    async fn students_with_cases(&self, prefix: &str, n: usize) -> Vec<(String, i64)> {
        let mut students = Vec::new();
        for i in 0..n {
            let name = format!("{prefix}{i:04}");
            let (id, token) = quick_user(&self.db, &self.keys, &name, &[Role::Student]).await;
            students.push((token, storm_case(&self.db, id).await));
        }
        students
    }

    /// Waits until the outbox holds nothing but sent messages.
    async fn all_delivered(&self) {
        self.until("every message is delivered", async || {
            self.scalar("SELECT COUNT(*) FROM outbox WHERE status <> 'sent'")
                .await
                == 0
        })
        .await;
    }

    /// How many instances report that they lead the background work.
    async fn leaders(&self) -> usize {
        let mut n = 0;
        for i in &self.instances {
            n += usize::from(i.leads(&self.client).await);
        }
        n
    }

    /// Waits until `check` holds (or fails the test after [`PATIENCE`]).
    async fn until<F: AsyncFn() -> bool>(&self, what: &str, check: F) {
        let deadline = Instant::now() + PATIENCE;
        while !check().await {
            assert!(
                Instant::now() < deadline,
                "{what}; logs:\n{}",
                self.instances
                    .iter()
                    .map(Instance::log)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn post(
    client: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Value,
    headers: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut req = client.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A student with a password (hashed as the app does), for sign-in across instances.
async fn student_with_password(cluster: &Cluster, username: &str) {
    let hash = hash_password(PASSWORD.to_string()).await.unwrap();
    let mut tx = cluster.db.begin().await.unwrap();
    let user = NewUser {
        username: username.into(),
        name: username.into(),
        class_name: None,
        phone: None,
        id_number: None,
        enrolment_status: "enrolled".into(),
        password_hash: Some(hash),
        roles: vec![Role::Student],
    };
    store::insert_user(&mut tx, &cluster.keys, &user)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn two_instances_book_exactly_and_deliver_and_remind_once() {
    let Some(smtp) = SmtpSink::start() else {
        return;
    };
    let (gateway, sms_url) = start_gateway().await;
    let Some(cluster) = Cluster::start(&[
        ("MEDCLAIM_SMS_URL", sms_url),
        ("MEDCLAIM_SMTP_HOST", "127.0.0.1".into()),
        ("MEDCLAIM_SMTP_PORT", smtp.port.to_string()),
        ("MEDCLAIM_SMTP_TLS", "none".into()),
    ])
    .await
    else {
        return;
    };
    // Both started at once on the fresh database; every migration applied once.
    assert_eq!(
        cluster
            .scalar("SELECT COUNT(*) FROM schema_migrations")
            .await,
        medclaim::db::MIGRATIONS.len() as i64
    );
    let slot = cluster.open_slot(local_date(2), 10).await;
    let students = cluster.students_with_cases("s", 100).await;
    // Every student gives an e-mail address, half of them on each instance.
    for (i, (token, _)) in students.iter().enumerate() {
        let resp = cluster
            .client
            .put(cluster.pick(i).url("/api/v1/me/contact"))
            .bearer_auth(token)
            .json(&json!({"email": format!("s{i}@example.edu")}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }

    // The storm: 100 students, 10 seats, the requests split between the two instances.
    let mut tasks = Vec::new();
    for (i, (token, case_id)) in students.into_iter().enumerate() {
        let (client, url) = (
            cluster.client.clone(),
            cluster.pick(i).url("/api/v1/bookings"),
        );
        let slot_id = slot;
        tasks.push(tokio::spawn(async move {
            post(
                &client,
                url,
                Some(&token),
                json!({"slot_id": slot_id, "case_id": case_id}),
                &[],
            )
            .await
        }));
    }
    let mut created = [0, 0];
    let mut full = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        let (status, body) = t.await.unwrap();
        match status {
            StatusCode::CREATED => created[i % 2] += 1,
            StatusCode::CONFLICT if body["error"]["code"] == "slot_full" => full += 1,
            other => panic!("unexpected answer {other}: {body}"),
        }
    }
    assert_eq!(created[0] + created[1], 10, "exactly the seats are booked");
    assert_eq!(full, 90);
    assert_eq!(
        cluster
            .scalar("SELECT COUNT(*) FROM bookings WHERE status = 'active'")
            .await,
        10
    );
    assert_eq!(cluster.scalar("SELECT MAX(booked) FROM slots").await, 10);

    // Each booking's confirmation goes out by SMS and e-mail at once. Then the evening before
    // the slot comes (the reminders' due time is moved to now: the processes' clocks cannot be
    // moved) and the reminders go out too; both workers deliver, the leader sends reminders.
    assert_eq!(
        cluster
            .scalar("SELECT COUNT(*) FROM booking_reminders WHERE status = 'pending'")
            .await,
        10,
        "one reminder per booking"
    );
    sqlx::query("UPDATE booking_reminders SET due_at = $1")
        .bind(medclaim::db::now_ms())
        .execute(&cluster.db.pool)
        .await
        .unwrap();
    cluster
        .until("every reminder is sent", async || {
            cluster
                .scalar("SELECT COUNT(*) FROM booking_reminders WHERE status = 'sent'")
                .await
                == 10
        })
        .await;
    cluster.all_delivered().await;
    let sms = cluster
        .scalar("SELECT COUNT(*) FROM outbox WHERE channel = 'sms'")
        .await;
    let mail = cluster
        .scalar("SELECT COUNT(*) FROM outbox WHERE channel = 'email'")
        .await;
    assert_eq!((sms, mail), (20, 20), "a confirmation and a reminder each");
    let requests = gateway.requests();
    let keys: std::collections::HashSet<_> = requests.iter().map(|r| r.key.clone()).collect();
    assert_eq!(requests.len(), 20, "no SMS reached the gateway twice");
    assert_eq!(keys.len(), 20);
    let queued: std::collections::HashSet<String> =
        sqlx::query_scalar("SELECT idempotency_key FROM outbox WHERE channel = 'sms'")
            .fetch_all(&cluster.db.pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
    assert_eq!(keys, queued, "every queued SMS reached the gateway");
    assert_eq!(smtp.messages(20).await.len(), 20);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.messages(20).await.len(), 20, "no e-mail sent twice");
    assert_eq!(cluster.leaders().await, 1, "one instance leads");
}

#[tokio::test]
async fn sessions_lockouts_and_the_sign_in_limit_hold_across_instances() {
    let Some(cluster) = Cluster::start(&[
        // The load balancer on 127.0.0.1 names the client in X-Forwarded-For.
        ("MEDCLAIM_TRUSTED_PROXIES", "127.0.0.1".into()),
        ("MEDCLAIM_LOGIN_BURST", "6".into()),
        ("MEDCLAIM_LOGIN_PER_MINUTE", "1".into()),
    ])
    .await
    else {
        return;
    };
    let (a, b) = (&cluster.instances[0], &cluster.instances[1]);
    let c = &cluster.client;
    student_with_password(&cluster, "2024001").await;
    student_with_password(&cluster, "2024002").await;
    let login = async |inst: &Instance, user: &str, password: &str, from: &str| {
        post(
            c,
            inst.url("/api/v1/auth/login"),
            None,
            json!({"username": user, "password": password}),
            &[("x-forwarded-for", from)],
        )
        .await
    };

    // A session begun on A is good on B, and ended on B it is gone on A.
    let (status, body) = login(a, "2024001", PASSWORD, "198.51.100.1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap().to_string();
    let me = |inst: &Instance| c.get(inst.url("/api/v1/me")).bearer_auth(&token).send();
    assert_eq!(me(b).await.unwrap().status(), StatusCode::OK);
    let (status, _) = post(
        c,
        b.url("/api/v1/auth/logout"),
        Some(&token),
        json!({}),
        &[],
    )
    .await;
    assert!(status.is_success(), "{status}");
    assert_eq!(me(a).await.unwrap().status(), StatusCode::UNAUTHORIZED);

    // Five wrong passwords, split between A and B (from five addresses), lock the account on
    // both: the count is kept in the database. A locked account answers the right password as
    // it answers a wrong one.
    let addresses = [
        "198.51.100.11",
        "198.51.100.12",
        "198.51.100.13",
        "198.51.100.14",
        "198.51.100.15",
    ];
    for (i, from) in addresses.into_iter().enumerate() {
        let inst = cluster.pick(i);
        let (status, body) = login(inst, "2024002", "wrong password", from).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {i}: {body}");
    }
    for inst in [a, b] {
        let (status, body) = login(inst, "2024002", PASSWORD, "198.51.100.16").await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_credentials")),
            "{body}"
        );
    }
    assert_eq!(
        cluster
            .scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'account.lock'")
            .await,
        1,
        "locked once, after the fifth failure"
    );

    // The per-address sign-in limit is kept in the database: an address gets the burst (6)
    // however its attempts are spread over the instances. (Kept per process, as on SQLite,
    // two instances behind a round-robin balancer would let 2 × 6 through.)
    let mut let_through = 0;
    for i in 0..30 {
        let (status, body) = login(cluster.pick(i), "nobody", "guess", "203.0.113.7").await;
        match status {
            StatusCode::UNAUTHORIZED => let_through += 1,
            StatusCode::TOO_MANY_REQUESTS => assert_eq!(body["error"]["code"], "rate_limited"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(let_through, 6, "one burst of 6 across both instances");
}

/// A booking whose body arrives slowly: the headers now, the body after `pause`. Answers the
/// status line.
async fn slow_booking(
    inst_addr: &str,
    token: &str,
    slot: i64,
    case_id: i64,
    sent_headers: tokio::sync::oneshot::Sender<()>,
    pause: Duration,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = inst_addr.trim_start_matches("http://");
    let body = json!({"slot_id": slot, "case_id": case_id}).to_string();
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST /api/v1/bookings HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let (first, rest) = body.split_at(5);
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(first.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = sent_headers.send(());
    tokio::time::sleep(pause).await;
    stream.write_all(rest.as_bytes()).await.unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer).await;
    answer.lines().next().unwrap_or("").to_string()
}

#[tokio::test]
async fn a_sigterm_in_the_middle_of_the_load_loses_no_acknowledged_request() {
    let (gateway, sms_url) = start_gateway().await;
    let Some(mut cluster) = Cluster::start(&[("MEDCLAIM_SMS_URL", sms_url)]).await else {
        return;
    };
    let slot = cluster.open_slot(local_date(3), 500).await;
    let mut students = cluster.students_with_cases("t", 161).await;
    cluster
        .until("one instance leads", async || cluster.leaders().await == 1)
        .await;
    let (slow_student, slow_case) = students.pop().unwrap();

    // A request is in flight on A (its body still arriving) when A is told to stop.
    let (headers_sent, headers_arrived) = tokio::sync::oneshot::channel();
    let a_addr = cluster.instances[0].addr.clone();
    let slow = tokio::spawn(async move {
        slow_booking(
            &a_addr,
            &slow_student,
            slot,
            slow_case,
            headers_sent,
            Duration::from_millis(1500),
        )
        .await
    });
    // Meanwhile the load: 160 bookings over about two seconds, alternating A and B. A request
    // A refuses to connect is retried on B, as a load balancer does; nothing else is retried.
    let no_pool = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for (i, (token, case_id)) in students.into_iter().enumerate() {
        let urls = (
            cluster.pick(i).url("/api/v1/bookings"),
            cluster.pick(i + 1).url("/api/v1/bookings"),
        );
        let client = no_pool.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(12 * i as u64)).await;
            let body = json!({"slot_id": slot, "case_id": case_id});
            let send = |url: String| client.post(url).bearer_auth(&token).json(&body).send();
            let (answer, retried) = match send(urls.0).await {
                Err(e) if e.is_connect() => (send(urls.1).await, true),
                other => (other, false),
            };
            let answer = answer.map(|r| r.status()).map_err(|e| e.to_string());
            (case_id, answer, retried)
        }));
    }
    headers_arrived.await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.instances[0].terminate();

    let mut acknowledged = Vec::new();
    let mut lost = Vec::new();
    let mut retried = 0;
    for t in tasks {
        let (case_id, answer, again) = t.await.unwrap();
        retried += usize::from(again);
        match answer {
            Ok(StatusCode::CREATED) => acknowledged.push(case_id),
            Ok(status) => panic!("unexpected answer {status}"),
            Err(e) => lost.push((case_id, e)),
        }
    }
    assert!(
        (10..70).contains(&retried),
        "A stopped in the middle of the load: {retried} of its 80 requests went to B instead"
    );
    let slow_status = slow.await.unwrap();
    assert!(
        slow_status.starts_with("HTTP/1.1 201"),
        "the request in flight at SIGTERM is answered: {slow_status:?}"
    );
    acknowledged.push(slow_case);
    assert!(
        cluster.instances[0].exited().await,
        "A exits cleanly:\n{}",
        cluster.instances[0].log()
    );

    eprintln!(
        "{} bookings acknowledged, {retried} retried on B; {} requests refused by a closing \
         listener: {lost:?}",
        acknowledged.len(),
        lost.len()
    );
    // Every acknowledged booking is there, and nothing unacknowledged was booked.
    let mut booked: Vec<i64> =
        sqlx::query_scalar("SELECT case_id FROM bookings WHERE status = 'active' ORDER BY case_id")
            .fetch_all(&cluster.db.pool)
            .await
            .unwrap();
    booked.sort_unstable();
    acknowledged.sort_unstable();
    assert_eq!(
        booked, acknowledged,
        "requests that got no answer: {lost:?}"
    );
    assert!(
        acknowledged.len() > 150,
        "the load went on at B: {} acknowledged, lost {lost:?}",
        acknowledged.len()
    );

    // B takes the lead, and every confirmation is texted once.
    let b = &cluster.instances[1];
    cluster
        .until("B leads after A stopped", async || {
            b.leads(&cluster.client).await
        })
        .await;
    cluster.all_delivered().await;
    let sent = cluster.scalar("SELECT COUNT(*) FROM outbox").await;
    assert_eq!(sent, acknowledged.len() as i64);
    assert_eq!(gateway.requests().len() as i64, sent, "no SMS sent twice");
}

#[tokio::test]
async fn eight_migrations_started_at_once_on_a_fresh_database_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = postgres_database(dir.path()).await else {
        return;
    };
    // Eight instances' start-up, each with its own connection pool, at the same moment: the
    // first creates schema_migrations and applies everything, the others wait and find it done.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let db = Db::connect(&url).await.unwrap();
            medclaim::db::migrate(&db)
                .await
                .map_err(|e| format!("{e:#}"))
        }));
    }
    let mut applied = 0;
    for t in tasks {
        applied += t.await.unwrap().expect("every start-up migrates or waits");
    }
    assert_eq!(applied, medclaim::db::MIGRATIONS.len(), "each applied once");
}
