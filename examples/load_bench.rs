//! Term-start load harness (issue 19; not a test). It seeds a realistic data set — 100,000
//! students, 300,000 cases in every status with 1,000,000 invoices, record and invoice photos
//! that are real JPEGs stored through the upload pipeline, slots with their bookings — and then
//! drives a separate `medclaim serve` process over loopback, one scenario at a time, measuring
//! throughput, latency percentiles, the server's peak RSS and its CPU seconds per request.
//! `limit` runs the scenario's own SQL in a tight loop against the same database: the
//! database's limit that medclaim's figure is a fraction of.
//!
//! ```text
//! cargo build --release --bin medclaim --example load_bench
//! B=target/release/examples/load_bench M=target/release/medclaim
//! $B seed /tmp/lb                                   # SQLite in /tmp/lb (DATABASE_URL: PostgreSQL)
//! $B run /tmp/lb $M list                            # one scenario; see SCENARIOS below
//! $B limit /tmp/lb booking-spread                   # the database's own limit
//! bash bench/load/run.sh                            # everything, both databases, 3 runs each
//! ```
//!
//! Every run appends one JSON line to `DIR/results.jsonl` (`LABEL` names the server build in
//! it, e.g. `before`); `bench/load/run.sh` prints the medians. Results are in
//! docs/BENCHMARKS.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use medclaim::accounts::domain::{IdNumber, Phone, check_char, hash_password};
use medclaim::accounts::store::{NewUser, create_session, insert_user};
use medclaim::db::{Backend, Db};
use medclaim::http::auth::Role;
use medclaim::registry::signature::outbound_headers;
use medclaim::{Settings, storage};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const PASSWORD: &str = "benchmark password";
const DAY_MS: i64 = 86_400_000;
/// Distinct real photos the seeded rows point at (each stored once, like a deduplicated store).
const PHOTOS: usize = 16;
const SPREAD_SLOTS: usize = 1_000;
const STORM_SLOTS: usize = 12;
const STORM_CAPACITY: i64 = 100;
const HISTORY_SLOTS: usize = 200;

/// The share of the seeded cases in each status (per 300,000).
const STATUS_MIX: [(&str, usize); 10] = [
    ("submitted", 100_000),
    ("approved", 60_000),
    ("draft", 20_000),
    ("level2", 20_000),
    ("booked", 20_000),
    ("completed", 40_000),
    ("returned", 15_000),
    ("rejected", 10_000),
    ("withdrawn", 5_000),
    ("paid", 10_000),
];

const SCENARIOS: &str = "idle | list | queue | search-number | search-name | claim | hub | \
     book-hot | book-spread | storm | import | export";

/// What `seed` made, for `run` and `limit` (DIR/plan.json), with the cursors runs advance.
#[derive(Serialize, Deserialize)]
struct Plan {
    database_url: String,
    students: usize,
    first_student_id: i64,
    cases: usize,
    first_case_id: i64,
    invoices: usize,
    /// Case indexes (0-based) of each status: `[start, end)`.
    ranges: BTreeMap<String, (usize, usize)>,
    reviewer_token: String,
    finance_token: String,
    hot_slot: i64,
    spread_slots: Vec<i64>,
    storm_slots: Vec<i64>,
    /// Next approved case (index into its range) a booking may use.
    next_approved: usize,
    /// Next storm slot.
    next_storm: usize,
    /// Next student (index) a claim or a hub visit may use: they make new cases.
    next_claimant: usize,
    /// Visit numbers already pushed.
    next_visit: usize,
    /// Roster rows already imported: every import run brings new people, not the last roster
    /// again (which would only update).
    #[serde(default)]
    next_import: usize,
}

fn plan_path(dir: &Path) -> PathBuf {
    dir.join("plan.json")
}

fn load_plan(dir: &Path) -> anyhow::Result<Plan> {
    Ok(serde_json::from_slice(&std::fs::read(plan_path(dir))?)?)
}

fn save_plan(dir: &Path, plan: &Plan) -> anyhow::Result<()> {
    std::fs::write(plan_path(dir), serde_json::to_vec_pretty(plan)?)?;
    Ok(())
}

fn database_url(dir: &Path) -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| Db::sqlite_url(dir))
}

/// The national id number of student `n`: unique, with a real birth date and check character.
fn id_number(n: usize) -> String {
    let birth = chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap()
        + chrono::Duration::days((n / 1000) as i64);
    let first17 = format!("110105{}{:03}", birth.format("%Y%m%d"), n % 1000);
    format!("{first17}{}", check_char(&first17))
}

const SURNAMES: &str = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤";
const GIVEN: &str = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红娥玲芬燕彬鹏辉宇浩然子轩梓涵欣怡思远晨曦雨泽佳琪俊杰嘉怡";

/// A realistic name: about 20,000 distinct names over 100,000 students, as at a university.
fn name(n: usize) -> String {
    let s: Vec<char> = SURNAMES.chars().collect();
    let g: Vec<char> = GIVEN.chars().collect();
    let a = g[(n / s.len()) % g.len()];
    let b = g[(n / (s.len() * g.len()) + n) % g.len()];
    if n.is_multiple_of(3) {
        format!("{}{a}", s[n % s.len()])
    } else {
        format!("{}{a}{b}", s[n % s.len()])
    }
}

fn username(n: usize) -> String {
    format!("2025{n:06}")
}

fn invoice_no(j: usize) -> String {
    // A fully digital invoice's 20-digit number.
    format!("2611{:016}", 3_700_000_000 + j)
}

/// A photo-like JPEG (smooth light, texture, fine noise; a sheet of paper with lines of
/// "text") of about 200 KB, as a phone camera's shrunk upload.
fn photo(seed: u64, width: u32, height: u32) -> Vec<u8> {
    photo_with(seed, width, height, None)
}

/// An invoice as photographed: [`photo`] with the invoice's QR code printed near the paper's
/// top left, 4 pixels a module (a 2 cm code on an A5 invoice that fills most of the frame).
fn invoice_photo(seed: u64, width: u32, height: u32) -> Vec<u8> {
    let payload = format!(
        "01,10,011001605111,{:08},236.50,20261201,8534296568111638{:04},BE2D",
        80_100_000 + seed,
        seed % 10_000
    );
    photo_with(seed, width, height, Some(&payload))
}

fn photo_with(seed: u64, width: u32, height: u32, qr: Option<&str>) -> Vec<u8> {
    const MODULE: u32 = 4;
    let code = qr.map(|text| qrcode::QrCode::new(text.as_bytes()).expect("payload fits a QR code"));
    let colors = code.as_ref().map(|c| (c.width() as u32, c.to_colors()));
    let (qx, qy) = (width * 16 / 100, height * 12 / 100);
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    let mut noise = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) % 7) as i32 - 3
    };
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
        let light = 150.0 + 60.0 * (1.0 - (fx - 0.4).powi(2) - (fy - 0.5).powi(2));
        let paper = (0.12..0.88).contains(&fx) && (0.08..0.92).contains(&fy);
        let line = paper && (y / 9) % 4 == 0 && ((x / 7 + y / 36 + seed as u32) % 11) < 8;
        // The code with its quiet zone of 4 modules: the lines of text keep out of it.
        let module = colors.as_ref().and_then(|(side, colors)| {
            let (mx, my) = ((x.checked_sub(qx)? / MODULE), (y.checked_sub(qy)? / MODULE));
            if mx >= side + 8 || my >= side + 8 {
                return None;
            }
            let inside = (4..side + 4).contains(&mx) && (4..side + 4).contains(&my);
            Some(inside && colors[((my - 4) * side + mx - 4) as usize] == qrcode::Color::Dark)
        });
        let base = if let Some(dark) = module {
            if dark { 45.0 } else { light + 30.0 }
        } else if line {
            60.0
        } else if paper {
            light + 30.0
        } else {
            light * 0.55 + 25.0 * ((fx * 31.0).sin() + (fy * 17.0).cos())
        };
        let n = noise();
        let px = |tint: f32| (base * tint + n as f32).clamp(0.0, 255.0) as u8;
        image::Rgb([px(1.0), px(0.97), px(0.9)])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 82)
        .encode_image(&img)
        .expect("encode");
    out
}

fn settings(dir: &Path) -> Settings {
    let mut s = Settings::new(dir.to_path_buf());
    s.database_url = Some(database_url(dir));
    s.bind = "127.0.0.1:0".parse().unwrap();
    s.notify.worker = false;
    s
}

fn person(username: &str, name: &str, roles: Vec<Role>, hash: Option<String>) -> NewUser {
    NewUser {
        username: username.into(),
        name: name.into(),
        class_name: None,
        phone: None,
        id_number: None,
        enrolment_status: "enrolled".into(),
        password_hash: hash,
        roles,
    }
}

/// Runs `rows` through multi-row INSERTs of `per` rows each: `head` is the statement up to
/// VALUES, `row` renders one row.
async fn insert_rows(
    tx: &mut medclaim::db::Tx,
    head: &str,
    range: std::ops::Range<usize>,
    per: usize,
    mut row: impl FnMut(usize) -> String,
) -> anyhow::Result<()> {
    let mut start = range.start;
    while start < range.end {
        let end = (start + per).min(range.end);
        let mut sql = String::with_capacity(per * 160);
        sql.push_str(head);
        sql.push_str(" VALUES ");
        for i in start..end {
            if i > start {
                sql.push(',');
            }
            sql.push_str(&row(i));
        }
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut **tx)
            .await?;
        start = end;
    }
    Ok(())
}

async fn next_id(db: &Db, table: &str) -> anyhow::Result<i64> {
    let max: Option<i64> =
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT MAX(id) FROM {table}")))
            .fetch_one(&db.pool)
            .await?;
    Ok(max.unwrap_or(0) + 1)
}

/// After inserting explicit ids, PostgreSQL's identity sequence must move past them.
async fn bump_sequence(db: &Db, table: &str) -> anyhow::Result<()> {
    if db.backend == Backend::Postgres {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"
        )))
        .execute(&db.pool)
        .await?;
    }
    Ok(())
}

async fn seed(dir: PathBuf, students: usize, cases: usize) -> anyhow::Result<()> {
    std::fs::create_dir_all(&dir)?;
    let settings = settings(&dir);
    let (db, keys) = settings.open().await?;
    let files = settings.file_store()?;
    let started = Instant::now();
    let hash = hash_password(PASSWORD.to_string()).await?;
    let today = chrono::Utc::now().date_naive();
    let now = chrono::Utc::now().timestamp_millis();
    let year = i64::from(chrono::Datelike::year(&today));

    // Staff.
    let mut tx = db.begin().await?;
    insert_user(
        &mut tx,
        &keys,
        &person("admin", "管理员", vec![Role::Admin], Some(hash.clone())),
    )
    .await?;
    let reviewer = insert_user(
        &mut tx,
        &keys,
        &person("reviewer1", "初审员", vec![Role::Reviewer1], None),
    )
    .await?;
    let finance = insert_user(
        &mut tx,
        &keys,
        &person("finance", "财务处", vec![Role::Finance], None),
    )
    .await?;
    let absolute = 365 * DAY_MS;
    let (reviewer_token, _) =
        create_session(&mut tx, reviewer, "api", absolute, true, None).await?;
    let (finance_token, _) = create_session(&mut tx, finance, "api", absolute, true, None).await?;
    tx.commit().await?;

    // Students, covered this year and last, each signed in once (the tokens go to tokens.txt).
    let first_student_id = next_id(&db, "users").await?;
    let mut tokens = String::with_capacity(students * 44);
    for chunk in (0..students).collect::<Vec<_>>().chunks(5_000) {
        let mut tx = db.begin().await?;
        for &n in chunk {
            let user = NewUser {
                username: username(n),
                name: name(n),
                class_name: Some(format!("{}级{}班", 2022 + n % 4, 1 + n % 12)),
                phone: Phone::parse(&format!("139{n:08}")).ok(),
                id_number: IdNumber::parse(&id_number(n)).ok(),
                enrolment_status: "enrolled".into(),
                password_hash: Some(hash.clone()),
                roles: vec![Role::Student],
            };
            let id = insert_user(&mut tx, &keys, &user).await?;
            anyhow::ensure!(
                id == first_student_id + n as i64,
                "student ids are not consecutive"
            );
            let (token, _) = create_session(&mut tx, id, "api", absolute, false, None).await?;
            tokens.push_str(&token);
            tokens.push('\n');
        }
        tx.commit().await?;
    }
    std::fs::write(dir.join("tokens.txt"), tokens)?;
    let mut tx = db.begin().await?;
    for y in [year - 1, year] {
        insert_rows(
            &mut tx,
            "INSERT INTO coverage (user_id, year, created_at)",
            0..students,
            1_000,
            |n| format!("({}, {y}, {now})", first_student_id + n as i64),
        )
        .await?;
    }
    tx.commit().await?;
    println!(
        "{students} students in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Real photos through the upload pipeline, stored once each.
    let mut photo_ids = Vec::new();
    let mut tx = db.begin().await?;
    for k in 0..PHOTOS {
        let prepared =
            storage::prepare(&photo(k as u64, 1600, 1200)).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        photo_ids.push(
            storage::save(
                &mut tx,
                &files,
                first_student_id,
                &prepared,
                Some("photo.jpg"),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?,
        );
    }
    tx.commit().await?;

    // Slots: history slots for booked and completed cases, one hot slot, 1,000 spread over
    // the coming weeks, and storm slots of 100.
    let slot_base = next_id(&db, "slots").await?;
    let all_slots = HISTORY_SLOTS + 1 + SPREAD_SLOTS + STORM_SLOTS;
    let mut tx = db.begin().await?;
    insert_rows(
        &mut tx,
        "INSERT INTO slots (id, slot_date, start_time, end_time, capacity, booked, created_at)",
        0..all_slots,
        500,
        |i| {
            let (date, capacity) = if i < HISTORY_SLOTS {
                (today - chrono::Duration::days(1 + i as i64), 1_000)
            } else if i < all_slots - STORM_SLOTS {
                (
                    today + chrono::Duration::days(2 + (i / 20) as i64),
                    1_000_000,
                )
            } else {
                (
                    today + chrono::Duration::days(200 + i as i64),
                    STORM_CAPACITY,
                )
            };
            let minute = 8 * 60 + (i % 20) * 20;
            format!(
                "({}, '{}', '{:02}:{:02}', '{:02}:{:02}', {capacity}, 0, {now})",
                slot_base + i as i64,
                date.format("%Y-%m-%d"),
                minute / 60,
                minute % 60,
                (minute + 20) / 60,
                (minute + 20) % 60
            )
        },
    )
    .await?;
    tx.commit().await?;

    // Cases in every status, 3–4 invoices each, a record photo each.
    let scale = |n: usize| n * cases / 300_000;
    let mut ranges = BTreeMap::new();
    let mut at = 0;
    for (status, share) in STATUS_MIX {
        let n = if status == "paid" {
            cases - at
        } else {
            scale(share)
        };
        ranges.insert(status.to_string(), (at, at + n));
        at += n;
    }
    let status_of = |i: usize| {
        ranges
            .iter()
            .find(|(_, (a, b))| (*a..*b).contains(&i))
            .map(|(s, _)| s.clone())
            .unwrap()
    };
    let invoices_of = |i: usize| 3 + usize::from(i.is_multiple_of(3));
    // Medical text is sealed at rest, as the server writes it (one sealing serves every row).
    let reason = medclaim::seal::seal("上呼吸道感染");
    let first_case_id = next_id(&db, "cases").await?;
    let first_invoice_id = next_id(&db, "invoices").await?;
    let hospitals = [
        ("北京大学第三医院", 3),
        ("海淀医院", 2),
        ("校医院", 1),
        ("社区卫生服务中心", 0),
    ];
    let mut invoice = 0usize;
    let mut history = 0usize;
    for block in (0..cases).step_by(10_000) {
        let end = (block + 10_000).min(cases);
        let mut tx = db.begin().await?;
        let statuses: Vec<String> = (block..end).map(status_of).collect();
        insert_rows(
            &mut tx,
            "INSERT INTO cases (id, student_id, hospital, hospital_level, reason, visit_date, coverage_year, status, review_level, payout_cents, version, created_at, first_submitted_at, submitted_at, updated_at, approved_at, handed_in_at)",
            block..end,
            500,
            |i| {
                let status = statuses[i - block].as_str();
                let (hospital, level) = hospitals[i % hospitals.len()];
                let created = now - ((i % 60) as i64 + 1) * DAY_MS - (i as i64 % 86_400) * 1000;
                let visit = today - chrono::Duration::days((i % 60) as i64 + 3);
                let submitted = if status == "draft" { "NULL".to_string() } else { (created + 3_600_000).to_string() };
                let approved = matches!(status, "approved" | "booked" | "completed" | "paid");
                let review_level = match status {
                    "submitted" => 1,
                    "level2" => 2,
                    _ => 0,
                };
                format!(
                    "({}, {}, '{hospital}', {level}, '{reason}', '{}', {year}, '{status}', {review_level}, {}, 1, {created}, {submitted}, {submitted}, {created}, {}, {})",
                    first_case_id + i as i64,
                    first_student_id + (i % students) as i64,
                    visit.format("%Y-%m-%d"),
                    if approved { (12_000 + (i % 4_000) * 9).to_string() } else { "NULL".into() },
                    if approved { (created + 2 * DAY_MS).to_string() } else { "NULL".into() },
                    if matches!(status, "completed" | "paid") { (created + 5 * DAY_MS).to_string() } else { "NULL".into() },
                )
            },
        )
        .await?;
        insert_rows(
            &mut tx,
            "INSERT INTO case_records (case_id, file_id, created_at)",
            block..end,
            1_000,
            |i| {
                format!(
                    "({}, {}, {now})",
                    first_case_id + i as i64,
                    photo_ids[i % PHOTOS]
                )
            },
        )
        .await?;
        let lines: Vec<(usize, usize)> = (block..end)
            .flat_map(|i| (0..invoices_of(i)).map(move |k| (i, k)))
            .collect();
        let first = invoice;
        insert_rows(
            &mut tx,
            "INSERT INTO invoices (id, case_id, invoice_no, total_cents, self_pay_cents, photo_file_id, status, may_edit, created_at, updated_at)",
            0..lines.len(),
            500,
            |l| {
                let (i, _) = lines[l];
                let j = first + l;
                let status = match statuses[i - block].as_str() {
                    "approved" | "booked" | "completed" | "paid" => "approved",
                    "rejected" => "rejected",
                    _ => "pending",
                };
                let total = 800 + (j * 7_919) % 120_000;
                format!(
                    "({}, {}, '{}', {total}, {}, {}, '{status}', 1, {now}, {now})",
                    first_invoice_id + j as i64,
                    first_case_id + i as i64,
                    invoice_no(j),
                    total / 10,
                    photo_ids[j % PHOTOS]
                )
            },
        )
        .await?;
        invoice += lines.len();
        // Booked cases hold an active booking, completed (and paid) ones a completed one.
        let booked: Vec<(usize, &str)> = (block..end)
            .filter_map(|i| match statuses[i - block].as_str() {
                "booked" => Some((i, "active")),
                "completed" | "paid" => Some((i, "completed")),
                _ => None,
            })
            .collect();
        insert_rows(
            &mut tx,
            "INSERT INTO bookings (slot_id, case_id, user_id, status, created_at)",
            0..booked.len(),
            1_000,
            |b| {
                let (i, status) = booked[b];
                format!(
                    "({}, {}, {}, '{status}', {now})",
                    slot_base + ((history + b) % HISTORY_SLOTS) as i64,
                    first_case_id + i as i64,
                    first_student_id + (i % students) as i64
                )
            },
        )
        .await?;
        history += booked.len();
        tx.commit().await?;
    }
    sqlx::query(
        "UPDATE slots SET booked = (SELECT COUNT(*) FROM bookings b WHERE b.slot_id = slots.id AND b.status = 'active') WHERE id < $1",
    )
    .bind(slot_base + HISTORY_SLOTS as i64)
    .execute(&db.pool)
    .await?;
    for table in [
        "cases",
        "invoices",
        "slots",
        "bookings",
        "case_records",
        "users",
        "sessions",
        "coverage",
    ] {
        bump_sequence(&db, table).await?;
    }
    // What every start runs first (nothing is left to seal: marks the steps done), so the
    // server's first start is an ordinary one.
    medclaim::seal::migrate::seal_existing(&db, &keys, &dir, storage::path_of).await?;
    if db.backend == Backend::Postgres {
        sqlx::query("ANALYZE").execute(&db.pool).await?;
    } else {
        sqlx::query("ANALYZE").execute(&db.pool).await?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&db.pool)
            .await?;
    }
    let hot = slot_base + HISTORY_SLOTS as i64;
    let plan = Plan {
        database_url: database_url(&dir),
        students,
        first_student_id,
        cases,
        first_case_id,
        invoices: invoice,
        ranges,
        reviewer_token,
        finance_token,
        hot_slot: hot,
        spread_slots: (1..=SPREAD_SLOTS as i64).map(|k| hot + k).collect(),
        storm_slots: (0..STORM_SLOTS as i64)
            .map(|k| slot_base + (all_slots - STORM_SLOTS) as i64 + k)
            .collect(),
        next_approved: 0,
        next_storm: 0,
        next_claimant: 0,
        next_import: 0,
        next_visit: 0,
    };
    save_plan(&dir, &plan)?;
    println!(
        "seeded {students} students, {cases} cases, {invoice} invoices, {PHOTOS} stored photos, {all_slots} slots in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Running a scenario against `medclaim serve`.

struct Server {
    child: std::process::Child,
    base: String,
    pid: u32,
    startup: Duration,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn start_server(bin: &Path, dir: &Path, plan: &Plan) -> anyhow::Result<Server> {
    let port = free_port()?;
    let started = Instant::now();
    let child = std::process::Command::new(bin)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("MEDCLAIM_DATA_DIR", dir)
        .env("DATABASE_URL", &plan.database_url)
        .env("RUST_LOG", "warn")
        .env("MEDCLAIM_SESSION_IDLE_SECS", "31536000")
        .env("MEDCLAIM_SESSION_MAX_SECS", "31536000")
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let pid = child.id();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    loop {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "the server did not start"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(Server {
        child,
        base,
        pid,
        startup: started.elapsed(),
    })
}

/// (resident, peak resident) in KiB and CPU ticks (user + system) of a process.
fn proc_stats(pid: u32) -> (u64, u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // After the ")" field 0 is the state; utime and stime are fields 14 and 15 of stat (1-based).
    (kib("VmRSS:"), kib("VmHWM:"), tick(11) + tick(12))
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM through kill(1): a graceful stop (the sealer seals what is left).
        let _ = std::process::Command::new("kill")
            .arg(self.pid.to_string())
            .status();
        let _ = self.child.wait();
    }
}

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    statuses: BTreeMap<u16, usize>,
    ok: usize,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        for (k, v) in other.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        self.ok += other.ok;
    }
    fn record(&mut self, started: Instant, status: u16, ok: bool) {
        self.latencies.push(started.elapsed());
        *self.statuses.entry(status).or_default() += 1;
        self.ok += usize::from(ok);
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

/// One unit of work of a scenario (one or more HTTP calls); `n` counts units from 0.
type Job = Arc<
    dyn Fn(reqwest::Client, String, usize) -> futures_util::future::BoxFuture<'static, (u16, bool)>
        + Send
        + Sync,
>;

/// Runs `job` with `concurrency` workers until `count` units are done or `secs` have passed.
async fn drive(
    base: &str,
    concurrency: usize,
    count: usize,
    secs: u64,
    job: Job,
) -> (Tally, Duration) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, base, next, job) =
            (client.clone(), base.to_string(), next.clone(), job.clone());
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count || Instant::now() >= deadline {
                    break;
                }
                let t = Instant::now();
                let (status, ok) = job(client.clone(), base.clone(), n).await;
                tally.record(t, status, ok);
            }
            tally
        }));
    }
    let mut tally = Tally::default();
    for w in workers {
        tally.add(w.await.unwrap());
    }
    (tally, started.elapsed())
}

async fn get(client: &reqwest::Client, url: String, token: &str) -> (u16, bool) {
    match client.get(url).bearer_auth(token).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let ok = r.bytes().await.is_ok() && status == 200;
            (status, ok)
        }
        Err(_) => (0, false),
    }
}

async fn send_json(
    client: &reqwest::Client,
    url: String,
    token: &str,
    body: Value,
) -> (u16, Value) {
    match client.post(url).bearer_auth(token).json(&body).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

async fn send_form(
    client: &reqwest::Client,
    url: String,
    token: &str,
    form: reqwest::multipart::Form,
) -> (u16, Value) {
    match client
        .post(url)
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
    {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

fn jpeg_part(bytes: Vec<u8>) -> reqwest::multipart::Part {
    reqwest::multipart::Part::bytes(bytes)
        .file_name("photo.jpg")
        .mime_str("image/jpeg")
        .unwrap()
}

/// The hospital bundle of a visit of student `n` (as `examples/gateway_bench.rs`).
fn bundle(n: usize, visit: usize, date: &str) -> String {
    json!({
        "resourceType": "Bundle", "type": "collection",
        "entry": [
            {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000001", "resource": {
                "resourceType": "Patient",
                "identifier": [{"system": "urn:medclaim:national-id", "value": id_number(n)}]}},
            {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000002", "resource": {
                "resourceType": "Encounter", "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "identifier": [{"system": "urn:hospital:visit", "value": format!("LB{visit:09}")}],
                "period": {"start": date}}},
            {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000003", "resource": {
                "resourceType": "Condition",
                "subject": {"reference": "urn:uuid:00000000-0000-4000-8000-000000000001"},
                "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "J06.9"}],
                         "text": "上呼吸道感染"}}},
            {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000004", "resource": {
                "resourceType": "Invoice", "status": "issued",
                "identifier": [{"value": format!("HB{visit:010}")}],
                "lineItem": [
                    {"sequence": 1, "chargeItemCodeableConcept": {"text": "挂号费"},
                     "priceComponent": [{"type": "base", "amount": {"value": 50, "currency": "CNY"}}]},
                    {"sequence": 2, "chargeItemCodeableConcept": {"text": "西药费"},
                     "priceComponent": [{"type": "base", "amount": {"value": 86.3, "currency": "CNY"}}]}],
                "totalGross": {"value": 136.3, "currency": "CNY"}}}
        ]
    })
    .to_string()
}

async fn admin_token(base: &str) -> anyhow::Result<String> {
    let login: Value = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await?
        .json()
        .await?;
    Ok(login["token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("admin login: {login}"))?
        .to_string())
}

struct Args {
    concurrency: usize,
    count: usize,
    secs: u64,
}

async fn run(dir: PathBuf, bin: PathBuf, scenario: String, args: Args) -> anyhow::Result<()> {
    let mut plan = load_plan(&dir)?;
    let tokens: Arc<Vec<String>> = Arc::new(
        std::fs::read_to_string(dir.join("tokens.txt"))?
            .lines()
            .map(str::to_string)
            .collect(),
    );
    let server = start_server(&bin, &dir, &plan).await?;
    let base = server.base.clone();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (idle_rss, _, _) = proc_stats(server.pid);
    let students = plan.students;
    let today = chrono::Utc::now().date_naive();
    let visit_date = (today - chrono::Duration::days(3))
        .format("%Y-%m-%d")
        .to_string();
    let (c, n, s) = (args.concurrency, args.count, args.secs);
    let mut extra = json!({});
    let (defaults, job): ((usize, usize, u64), Option<Job>) = match scenario.as_str() {
        "idle" => ((1, 0, 0), None),
        "list" => {
            // Students who have cases: every student has three.
            let tokens = tokens.clone();
            (
                (64, usize::MAX, 20),
                Some(Arc::new(move |client, base, n| {
                    let token = tokens[(n * 7_919) % students].clone();
                    Box::pin(
                        async move { get(&client, format!("{base}/api/v1/cases"), &token).await },
                    )
                })),
            )
        }
        "queue" => {
            let token = plan.reviewer_token.clone();
            (
                (16, usize::MAX, 20),
                Some(Arc::new(move |client, base, _| {
                    let token = token.clone();
                    Box::pin(async move {
                        get(
                            &client,
                            format!("{base}/api/v1/review/queue?level=1"),
                            &token,
                        )
                        .await
                    })
                })),
            )
        }
        "search-number" | "search-name" => {
            let token = plan.reviewer_token.clone();
            let by_number = scenario == "search-number";
            let invoices = plan.invoices;
            (
                (8, usize::MAX, 20),
                Some(Arc::new(move |client, base, n| {
                    let token = token.clone();
                    let q = if by_number {
                        invoice_no((n * 104_729) % invoices)
                    } else {
                        name((n * 7_919) % students)
                    };
                    let url = format!(
                        "{base}/api/v1/search?q={}",
                        form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
                    );
                    Box::pin(async move { get(&client, url, &token).await })
                })),
            )
        }
        "claim" => {
            // Record photos without a code, invoice photos with one, as on paper.
            let photos: Arc<Vec<Vec<u8>>> =
                Arc::new((0..8).map(|k| photo(100 + k, 1600, 1200)).collect());
            let invoices: Arc<Vec<Vec<u8>>> =
                Arc::new((0..8).map(|k| invoice_photo(200 + k, 1600, 1200)).collect());
            extra["photo_bytes"] = json!(photos.iter().map(Vec::len).sum::<usize>() / photos.len());
            extra["invoice_photo_bytes"] =
                json!(invoices.iter().map(Vec::len).sum::<usize>() / invoices.len());
            let first = plan.next_claimant;
            let want = if n == 0 { 400 } else { n };
            plan.next_claimant += want;
            let tokens = tokens.clone();
            let visit_date = visit_date.clone();
            (
                (16, want, 600),
                Some(Arc::new(move |client, base, n| {
                    let student = (first + n) % students;
                    let token = tokens[student].clone();
                    let photos = photos.clone();
                    let invoices = invoices.clone();
                    let visit_date = visit_date.clone();
                    Box::pin(async move {
                        let (status, case) = send_json(&client, format!("{base}/api/v1/cases"), &token,
                        json!({"hospital": "北京大学第三医院", "hospital_level": 3, "reason": "急性胃肠炎", "visit_date": visit_date})).await;
                        let Some(id) = case["id"].as_i64() else {
                            return (status, false);
                        };
                        let form = reqwest::multipart::Form::new()
                            .part("file", jpeg_part(photos[n % 8].clone()));
                        let (status, _) = send_form(
                            &client,
                            format!("{base}/api/v1/cases/{id}/records"),
                            &token,
                            form,
                        )
                        .await;
                        if status != 201 {
                            return (status, false);
                        }
                        let form = reqwest::multipart::Form::new()
                            .text("invoice_no", format!("LB{:018}", first + n))
                            .text("total_cents", "23650")
                            .text("self_pay_cents", "0")
                            .part("photo", jpeg_part(invoices[(n + 3) % 8].clone()));
                        let (status, _) = send_form(
                            &client,
                            format!("{base}/api/v1/cases/{id}/invoices"),
                            &token,
                            form,
                        )
                        .await;
                        if status != 201 {
                            return (status, false);
                        }
                        let (status, _) = send_json(
                            &client,
                            format!("{base}/api/v1/cases/{id}/submit"),
                            &token,
                            json!({}),
                        )
                        .await;
                        (status, status == 200)
                    })
                })),
            )
        }
        "hub" => {
            let admin = admin_token(&base).await?;
            let client = reqwest::Client::new();
            let creds: Value = client
                .post(format!("{base}/api/v1/admin/hospitals"))
                .bearer_auth(&admin)
                .json(&json!({"name": format!("北京大学第三医院 {}", plan.next_visit), "level": 3}))
                .send()
                .await?
                .json()
                .await?;
            let key_id = creds["key_id"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("hospital: {creds}"))?
                .to_string();
            let secret = creds["secret"].as_str().unwrap().to_string();
            let (first, first_visit) = (plan.next_claimant, plan.next_visit);
            let want = if n == 0 { 3_000 } else { n };
            plan.next_claimant += want;
            plan.next_visit += want;
            let tokens = tokens.clone();
            let visit_date = visit_date.clone();
            (
                (16, want, 600),
                Some(Arc::new(move |client, base, n| {
                    let student = (first + n) % students;
                    let token = tokens[student].clone();
                    let body = bundle(student, first_visit + n, &visit_date).into_bytes();
                    let headers =
                        outbound_headers(&key_id, &secret, "POST", "/api/v1/gateway/visits", &body);
                    Box::pin(async move {
                        let mut request = client
                            .post(format!("{base}/api/v1/gateway/visits"))
                            .header("content-type", "application/fhir+json");
                        for (name, value) in headers {
                            request = request.header(name, value);
                        }
                        let Ok(r) = request.body(body).send().await else {
                            return (0, false);
                        };
                        let status = r.status().as_u16();
                        let visit: Value = r.json().await.unwrap_or(Value::Null);
                        let Some(visit) = visit["visit_id"].as_i64() else {
                            return (status, false);
                        };
                        let (status, _) = send_json(
                            &client,
                            format!("{base}/api/v1/cases/from-visit"),
                            &token,
                            json!({"visit_id": visit}),
                        )
                        .await;
                        (status, status == 201)
                    })
                })),
            )
        }
        "book-hot" | "book-spread" | "storm" => {
            let (start, end) = plan.ranges["approved"];
            let first = start + plan.next_approved;
            let (want, conc, slots): (usize, usize, Vec<i64>) = match scenario.as_str() {
                "book-hot" => (if n == 0 { 3_000 } else { n }, 16, vec![plan.hot_slot]),
                "book-spread" => (
                    if n == 0 { 3_000 } else { n },
                    16,
                    plan.spread_slots.clone(),
                ),
                _ => {
                    let slot = *plan
                        .storm_slots
                        .get(plan.next_storm)
                        .ok_or_else(|| anyhow::anyhow!("no storm slot left: seed again"))?;
                    plan.next_storm += 1;
                    extra["slot"] = json!(slot);
                    (
                        if n == 0 { 2_000 } else { n },
                        if c == 0 { 2_000 } else { c },
                        vec![slot],
                    )
                }
            };
            anyhow::ensure!(
                first + want <= end,
                "not enough approved cases left: seed again"
            );
            plan.next_approved += want;
            let (first_case, tokens) = (plan.first_case_id, tokens.clone());
            (
                (conc, want, 600),
                Some(Arc::new(move |client, base, n| {
                    let case = first + n;
                    let token = tokens[case % students].clone();
                    let slot = slots[(n * 7_919) % slots.len()];
                    Box::pin(async move {
                        let (status, _) = send_json(
                            &client,
                            format!("{base}/api/v1/bookings"),
                            &token,
                            json!({"slot_id": slot, "case_id": first_case + case as i64}),
                        )
                        .await;
                        (status, status == 201)
                    })
                })),
            )
        }
        "import" => {
            let admin = admin_token(&base).await?;
            let rows = if n == 0 { 100_000 } else { n };
            let first = plan.next_import;
            plan.next_import += rows;
            let mut csv = String::from("student_id,name,class,phone,id_number,status\n");
            for k in first..first + rows {
                let m = 900_000 + k;
                csv.push_str(&format!(
                    "2026{m:06},{},2026级{}班,137{m:08},{},在读\n",
                    name(m),
                    1 + k % 12,
                    id_number(m)
                ));
            }
            extra["rows"] = json!(rows);
            extra["csv_bytes"] = json!(csv.len());
            let csv = Arc::new(csv);
            (
                (1, 1, 600),
                Some(Arc::new(move |client, base, _| {
                    let (csv, admin) = (csv.clone(), admin.clone());
                    Box::pin(async move {
                        let part = reqwest::multipart::Part::bytes(csv.as_bytes().to_vec())
                            .file_name("roster.csv")
                            .mime_str("text/csv")
                            .unwrap();
                        let (status, body) = send_form(
                            &client,
                            format!("{base}/api/v1/admin/imports/students"),
                            &admin,
                            reqwest::multipart::Form::new().part("file", part),
                        )
                        .await;
                        if status != 200 {
                            eprintln!("import: {status} {body}")
                        }
                        (status, status == 200)
                    })
                })),
            )
        }
        "export" => {
            let token = plan.finance_token.clone();
            (
                (1, 1, 600),
                Some(Arc::new(move |client, base, _| {
                    let token = token.clone();
                    Box::pin(async move {
                        let Ok(mut r) = client
                            .get(format!("{base}/api/v1/reports/payouts.csv"))
                            .bearer_auth(&token)
                            .send()
                            .await
                        else {
                            return (0, false);
                        };
                        let status = r.status().as_u16();
                        let mut lines = 0usize;
                        while let Ok(Some(chunk)) = r.chunk().await {
                            lines += chunk.iter().filter(|b| **b == b'\n').count();
                        }
                        println!("export: {lines} lines");
                        (status, status == 200)
                    })
                })),
            )
        }
        other => anyhow::bail!("unknown scenario {other}: {SCENARIOS}"),
    };
    let concurrency = if c == 0 { defaults.0 } else { c };
    // Scenarios that use up data (or import/export once) took their count above.
    let count = if n == 0
        || !matches!(
            scenario.as_str(),
            "list" | "queue" | "search-number" | "search-name"
        ) {
        defaults.1
    } else {
        n
    };
    let secs = if s == 0 { defaults.2 } else { s };
    save_plan(&dir, &plan)?;
    let (_, _, cpu_before) = proc_stats(server.pid);
    let (mut tally, elapsed) = match job {
        Some(job) => drive(&base, concurrency, count, secs, job).await,
        None => (Tally::default(), Duration::ZERO),
    };
    let (_, peak, cpu_after) = proc_stats(server.pid);
    tally.latencies.sort();
    let requests = tally.latencies.len();
    let ticks = sysconf_ticks();
    let cpu_s = (cpu_after - cpu_before) as f64 / ticks;
    let result = json!({
        "scenario": scenario,
        "label": std::env::var("LABEL").unwrap_or_else(|_| "now".into()),
        "backend": if plan.database_url.starts_with("postgres") { "postgres" } else { "sqlite" },
        "at": chrono::Utc::now().to_rfc3339(),
        "concurrency": concurrency,
        "units": requests,
        "ok": tally.ok,
        "statuses": tally.statuses.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "seconds": elapsed.as_secs_f64(),
        "per_second": if elapsed.is_zero() { 0.0 } else { tally.ok as f64 / elapsed.as_secs_f64() },
        "p50_ms": percentile(&tally.latencies, 0.50),
        "p99_ms": percentile(&tally.latencies, 0.99),
        "max_ms": tally.latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        "startup_ms": server.startup.as_secs_f64() * 1e3,
        "idle_rss_mib": idle_rss as f64 / 1024.0,
        "peak_rss_mib": peak as f64 / 1024.0,
        "cpu_s": cpu_s,
        "cpu_ms_per_unit": if requests == 0 { 0.0 } else { cpu_s * 1e3 / requests as f64 },
        "extra": extra,
    });
    println!("{result}");
    use std::io::Write;
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("results.jsonl"))?;
    writeln!(out, "{result}")?;
    drop(server);
    Ok(())
}

fn sysconf_ticks() -> f64 {
    // USER_HZ is 100 on every Linux the project runs on (getconf CLK_TCK).
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

// ---------------------------------------------------------------------------------------------
// The database's own limit: the scenario's SQL in a tight loop, no HTTP, no server.

/// The statements `POST /api/v1/bookings` runs (src/booking/service.rs `book`), repeatable:
/// the case is written back with its own status, and the booking row is inserted cancelled so
/// the one-active-booking-per-case index lets the same case come round again.
async fn booking_tx(
    db: &Db,
    case: i64,
    student: i64,
    slot: i64,
    sealed_title: &str,
) -> sqlx::Result<()> {
    let now = chrono::Utc::now().timestamp_millis();
    let mut tx = db.begin().await?;
    let (id, status): (i64, String) =
        sqlx::query_as("SELECT id, status FROM cases WHERE id = $1 AND student_id = $2")
            .bind(case)
            .bind(student)
            .fetch_one(&mut *tx)
            .await?;
    sqlx::query("UPDATE cases SET status = $1, updated_at = $2 WHERE id = $3 AND status = $1")
        .bind(&status)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let _: (i64, i64) = sqlx::query_as("SELECT capacity, booked FROM slots WHERE id = $1")
        .bind(slot)
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query("UPDATE slots SET booked = booked + 1 WHERE id = $1 AND booked < capacity AND cancelled_at IS NULL")
        .bind(slot)
        .execute(&mut *tx)
        .await?;
    let booking: i64 = sqlx::query_scalar(
        "INSERT INTO bookings (slot_id, case_id, user_id, status, created_at) VALUES ($1, $2, $3, 'cancelled', $4) RETURNING id",
    )
    .bind(slot)
    .bind(id)
    .bind(student)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("UPDATE cases SET version = version + 1, updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO audit_events (at, actor_id, actor, action, object_type, object_id, summary, client_addr) VALUES ($1, $2, $3, 'booking.create', 'booking', $4, $5, '127.0.0.1')",
    )
    .bind(now)
    .bind(student)
    .bind("2025000000")
    .bind(booking.to_string())
    .bind(format!("case {id} slot {slot}"))
    .execute(&mut *tx)
    .await?;
    let _: (String, Option<String>) = sqlx::query_as("SELECT lang, email FROM users WHERE id = $1")
        .bind(student)
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO notifications (user_id, kind, title, body, case_id, created_at) VALUES ($1, 'booking_confirmed', $2, $2, $3, $4)")
        .bind(student)
        .bind(sealed_title)
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO outbox (channel, user_id, recipient, payload, idempotency_key, status, attempts, next_attempt_at, created_at) VALUES ('sms', $1, NULL, $2, $3, 'not_configured', 0, $4, $4)",
    )
    .bind(student)
    .bind(sealed_title)
    .bind(format!("limit-{booking}"))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// The statements `GET /api/v1/cases` runs for a student: the session, the person, the
/// roles, and the list.
async fn list_tx(db: &Db, token_hash: &str, student: i64) -> sqlx::Result<()> {
    let _: (i64, i64) = sqlx::query_as("SELECT id, user_id FROM sessions WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_one(&db.pool)
        .await?;
    let _: (i64, String) = sqlx::query_as("SELECT id, name FROM users WHERE id = $1")
        .bind(student)
        .fetch_one(&db.pool)
        .await?;
    let _: Vec<String> =
        sqlx::query_scalar("SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role")
            .bind(student)
            .fetch_all(&db.pool)
            .await?;
    let _: Vec<(i64, String, String, i64)> = sqlx::query_as(
        "SELECT c.id, c.status, c.hospital, CAST(COALESCE(SUM(i.total_cents), 0) AS BIGINT) FROM cases c LEFT JOIN invoices i ON i.case_id = c.id
         WHERE c.student_id = $1 GROUP BY c.id, c.status, c.hospital, c.created_at ORDER BY c.created_at DESC LIMIT 100",
    )
    .bind(student)
    .fetch_all(&db.pool)
    .await?;
    Ok(())
}

async fn limit(dir: PathBuf, what: String, secs: u64, clients: usize) -> anyhow::Result<()> {
    let plan = load_plan(&dir)?;
    let db = Db::connect(&plan.database_url).await?;
    let tokens: Arc<Vec<String>> = Arc::new(
        std::fs::read_to_string(dir.join("tokens.txt"))?
            .lines()
            .map(|t| medclaim::crypto::sha256_hex(t.as_bytes()))
            .collect(),
    );
    let (start, end) = plan.ranges["approved"];
    let clients = if clients == 0 {
        if db.backend == Backend::Sqlite { 1 } else { 16 }
    } else {
        clients
    };
    let deadline = Instant::now() + Duration::from_secs(secs);
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..clients {
        let (db, done, tokens, what) = (db.clone(), done.clone(), tokens.clone(), what.clone());
        let (hot, spread) = (plan.hot_slot, plan.spread_slots.clone());
        let (first_case, first_student, students) =
            (plan.first_case_id, plan.first_student_id, plan.students);
        workers.push(tokio::spawn(async move {
            let mut k = w * 7_919;
            while Instant::now() < deadline {
                k += 1;
                let case = start + k % (end - start);
                let result = match what.as_str() {
                    "booking-hot" | "booking-spread" => {
                        let slot = if what == "booking-hot" {
                            hot
                        } else {
                            spread[k % spread.len()]
                        };
                        booking_tx(
                            &db,
                            first_case + case as i64,
                            first_student + (case % students) as i64,
                            slot,
                            "x".repeat(96).as_str(),
                        )
                        .await
                    }
                    _ => {
                        let s = (k * 7_919) % students;
                        list_tx(&db, &tokens[s], first_student + s as i64).await
                    }
                };
                match result {
                    Ok(()) => {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => eprintln!("{what}: {e}"),
                }
            }
        }));
    }
    for w in workers {
        w.await?;
    }
    let n = done.load(Ordering::Relaxed);
    let result = json!({
        "limit": what,
        "label": "database",
        "backend": if db.backend == Backend::Postgres { "postgres" } else { "sqlite" },
        "at": chrono::Utc::now().to_rfc3339(),
        "clients": clients,
        "transactions": n,
        "per_second": n as f64 / started.elapsed().as_secs_f64(),
    });
    println!("{result}");
    use std::io::Write;
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("results.jsonl"))?;
    writeln!(out, "{result}")?;
    Ok(())
}

fn usage() -> ! {
    eprintln!(
        "usage: load_bench seed DIR [STUDENTS [CASES]]\n       load_bench run DIR MEDCLAIM_BIN SCENARIO [CONCURRENCY [COUNT [SECS]]]\n       load_bench limit DIR booking-hot|booking-spread|list [SECS [CLIENTS]]\n       load_bench photo FILE [invoice]\n       load_bench pipeline [ROUNDS]\nscenarios: {SCENARIOS}"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    let num = |i: usize, default: usize| -> anyhow::Result<usize> {
        Ok(arg(i).map(str::parse).transpose()?.unwrap_or(default))
    };
    match arg(1) {
        Some("seed") => {
            let dir = PathBuf::from(arg(2).unwrap_or_else(|| usage()));
            seed(dir, num(3, 100_000)?, num(4, 300_000)?).await
        }
        Some("run") => {
            let (Some(dir), Some(bin), Some(scenario)) = (arg(2), arg(3), arg(4)) else {
                usage()
            };
            let a = Args {
                concurrency: num(5, 0)?,
                count: num(6, 0)?,
                secs: num(7, 0)? as u64,
            };
            run(
                PathBuf::from(dir),
                PathBuf::from(bin),
                scenario.to_string(),
                a,
            )
            .await
        }
        Some("limit") => {
            let (Some(dir), Some(what)) = (arg(2), arg(3)) else {
                usage()
            };
            limit(
                PathBuf::from(dir),
                what.to_string(),
                num(4, 15)? as u64,
                num(5, 0)?,
            )
            .await
        }
        Some("photo") => {
            // The upload the claim scenario sends, for comparing codecs outside the server.
            let bytes = match arg(3) {
                Some("invoice") => invoice_photo(200, 1600, 1200),
                _ => photo(100, 1600, 1200),
            };
            std::fs::write(arg(2).unwrap_or_else(|| usage()), bytes)?;
            Ok(())
        }
        Some("pipeline") => pipeline(num(2, 30)?),
        _ => usage(),
    }
}

/// The upload pipeline on the claim scenario's photo, in this process on one core: what one
/// record photo and one invoice photo (with its QR search) cost, and the parts of it. Medians
/// of `rounds` runs, ms.
fn pipeline(rounds: usize) -> anyhow::Result<()> {
    use medclaim::invoice_qr::decode::SIDE;
    let bytes = photo(100, 1600, 1200);
    let invoice = invoice_photo(200, 1600, 1200);
    let median = |f: &mut dyn FnMut()| {
        let mut times: Vec<f64> = (0..rounds.max(1))
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    };
    let fail = |e: medclaim::http::AppError| anyhow::anyhow!("{e:?}");
    storage::prepare(&bytes).map_err(fail)?;
    let decoded = image::load_from_memory(&bytes)?;
    let record = median(&mut || {
        storage::prepare(&bytes).expect("prepare");
    });
    let (_, found) = storage::prepare_reading(&invoice, SIDE, medclaim::invoice_qr::decode::read)
        .map_err(fail)?;
    anyhow::ensure!(found.is_some(), "the invoice photo's QR code is not found");
    let with_code = median(&mut || {
        storage::prepare_reading(&invoice, SIDE, medclaim::invoice_qr::decode::read)
            .expect("prepare");
    });
    let without_code = median(&mut || {
        storage::prepare_reading(&bytes, SIDE, medclaim::invoice_qr::decode::read)
            .expect("prepare");
    });
    let decode = median(&mut || {
        image::load_from_memory(&bytes).expect("decode");
    });
    let qr = median(&mut || {
        medclaim::invoice_qr::decode::read(&storage::Pixels::of(&decoded, SIDE));
    });
    println!(
        "{}",
        json!({
            "photo": "1600x1200", "photo_bytes": bytes.len(), "rounds": rounds,
            "record_ms": record, "invoice_with_code_ms": with_code, "invoice_without_code_ms": without_code,
            "decode_ms": decode, "failed_qr_search_ms": qr,
        })
    );
    Ok(())
}
