//! Export benchmark (not a test): seeds a database (SQLite in the directory given, or the
//! PostgreSQL database `DATABASE_URL` names) with N approved invoices, then downloads the
//! payout export over HTTP from a real server, as finance would.
//!
//! ```text
//! cargo build --release --example export_bench
//! target/release/examples/export_bench seed   /tmp/bench 1000000
//! /usr/bin/time -v target/release/examples/export_bench export /tmp/bench xlsx
//! /usr/bin/time -v target/release/examples/export_bench export /tmp/bench csv
//! ```
//!
//! Seeding and exporting are separate runs so the peak memory `time -v` reports belongs to
//! the export alone (server and client in one process; the client discards what it reads
//! after counting it). Results are in docs/BENCHMARKS.md.

use std::path::PathBuf;
use std::time::Instant;

use medclaim::accounts::domain::{IdNumber, Phone, hash_password};
use medclaim::accounts::store::{NewUser, insert_user};
use medclaim::http::auth::Role;
use medclaim::{Application, Settings};

const PASSWORD: &str = "benchmark password";
const INVOICES_PER_CASE: usize = 2;
const STUDENTS: usize = 20_000;
const BATCH: usize = 500;

fn settings(dir: &std::path::Path) -> Settings {
    let mut s = Settings::new(dir.to_path_buf());
    // PostgreSQL when DATABASE_URL names one (an empty database), else SQLite in `dir`.
    s.database_url =
        Some(std::env::var("DATABASE_URL").unwrap_or_else(|_| medclaim::db::Db::sqlite_url(dir)));
    s.bind = "127.0.0.1:0".parse().unwrap();
    s
}

async fn seed(dir: PathBuf, invoices: usize) -> anyhow::Result<()> {
    std::fs::create_dir_all(&dir)?;
    let (db, keys) = settings(&dir).open().await?;
    let started = Instant::now();
    let hash = hash_password(PASSWORD.to_string()).await?;
    let mut tx = db.begin().await?;
    insert_user(
        &mut tx,
        &keys,
        &NewUser {
            username: "finance".into(),
            name: "财务处".into(),
            class_name: None,
            phone: None,
            id_number: None,
            enrolment_status: "enrolled".into(),
            password_hash: Some(hash),
            roles: vec![Role::Finance],
        },
    )
    .await?;
    let mut student_ids = Vec::with_capacity(STUDENTS);
    for n in 0..STUDENTS {
        let user = NewUser {
            username: format!("2025{n:06}"),
            name: format!("学生{n}"),
            class_name: Some(format!("{}级{}班", 2023 + n % 3, 1 + n % 8)),
            phone: Phone::parse(&format!("139{:08}", n)).ok(),
            id_number: IdNumber::parse("11010519491231002X").ok(),
            enrolment_status: "enrolled".into(),
            password_hash: None,
            roles: vec![Role::Student],
        };
        student_ids.push(insert_user(&mut tx, &keys, &user).await?);
    }
    tx.commit().await?;
    let hospitals = [
        ("北京协和医院", 3),
        ("北京大学第三医院", 3),
        ("海淀医院", 2),
        ("校医院", 1),
        ("社区卫生服务中心", 0),
    ];
    let base_ms = chrono::DateTime::parse_from_rfc3339("2026-01-01T02:00:00Z")
        .unwrap()
        .timestamp_millis();
    let cases = invoices.div_ceil(INVOICES_PER_CASE);
    let mut next_case = 1usize;
    while next_case <= cases {
        let end = (next_case + BATCH * 10).min(cases + 1);
        let mut tx = db.begin().await?;
        for chunk_start in (next_case..end).step_by(BATCH) {
            let chunk_end = (chunk_start + BATCH).min(end);
            let mut case_sql = String::from(
                "INSERT INTO cases (id, student_id, hospital, hospital_level, reason, visit_date, coverage_year, status, payout_cents, created_at, first_submitted_at, submitted_at, updated_at, approved_at, handed_in_at) VALUES ",
            );
            let mut inv_sql = String::from(
                "INSERT INTO invoices (case_id, invoice_no, total_cents, self_pay_cents, status, created_at, updated_at) VALUES ",
            );
            for c in chunk_start..chunk_end {
                let (hospital, level) = hospitals[c % hospitals.len()];
                let approved = base_ms + (c as i64 % 300) * 86_400_000 + c as i64;
                let status = ["approved", "booked", "completed"][c % 3];
                let handed = if status == "completed" {
                    (approved + 86_400_000 * 7).to_string()
                } else {
                    "NULL".into()
                };
                let sep = if c == chunk_start { "" } else { "," };
                case_sql.push_str(&format!(
                    "{sep}({c}, {}, '{hospital}', {level}, '感冒', '2026-{:02}-{:02}', 2026, '{status}', {}, {approved}, {approved}, {approved}, {approved}, {approved}, {handed})",
                    student_ids[c % STUDENTS],
                    1 + c % 12,
                    1 + c % 28,
                    10_000 + (c % 5000) * 7,
                ));
                for k in 0..INVOICES_PER_CASE {
                    let total = 5_000 + ((c * 31 + k * 17) % 100_000) as i64;
                    let sep = if c == chunk_start && k == 0 { "" } else { "," };
                    inv_sql.push_str(&format!(
                        "{sep}({c}, 'FP{c:09}{k}', {total}, {}, 'approved', {approved}, {approved})",
                        total / 10,
                    ));
                }
            }
            sqlx::query(sqlx::AssertSqlSafe(case_sql))
                .execute(&mut *tx)
                .await?;
            sqlx::query(sqlx::AssertSqlSafe(inv_sql))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        next_case = end;
    }
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM invoices")
        .fetch_one(&db.pool)
        .await?;
    println!(
        "seeded {n} invoices in {cases} cases for {STUDENTS} students in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn export(dir: PathBuf, format: &str) -> anyhow::Result<()> {
    let settings = settings(&dir);
    let app = Application::build(settings).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let login: serde_json::Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "finance", "password": PASSWORD}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["token"].as_str().expect("token").to_string();
    let started = Instant::now();
    let mut resp = client
        .get(format!("{base}/api/v1/reports/payouts.{format}"))
        .bearer_auth(&token)
        .send()
        .await?;
    anyhow::ensure!(
        resp.status().is_success(),
        "export answered {}",
        resp.status()
    );
    let first_byte = started.elapsed();
    let mut bytes = 0usize;
    let mut newlines = 0usize;
    while let Some(chunk) = resp.chunk().await? {
        bytes += chunk.len();
        newlines += chunk.iter().filter(|b| **b == b'\n').count();
    }
    let total = started.elapsed();
    println!(
        "payouts.{format}: {bytes} bytes ({:.1} MiB){} — first byte after {:.1} s, done in {:.1} s",
        bytes as f64 / 1_048_576.0,
        if format == "csv" {
            format!(", {} lines", newlines)
        } else {
            String::new()
        },
        first_byte.as_secs_f64(),
        total.as_secs_f64()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("seed") => {
            let dir = PathBuf::from(args.get(2).expect("seed DIR N"));
            let n = args
                .get(3)
                .map(|s| s.parse())
                .transpose()?
                .unwrap_or(1_000_000);
            seed(dir, n).await
        }
        Some("export") => {
            let dir = PathBuf::from(args.get(2).expect("export DIR xlsx|csv"));
            export(dir, args.get(3).map(String::as_str).unwrap_or("xlsx")).await
        }
        _ => {
            eprintln!("usage: export_bench seed DIR [N] | export DIR xlsx|csv");
            std::process::exit(2);
        }
    }
}
