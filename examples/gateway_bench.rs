//! Gateway load benchmark (not a test): hospitals' front servers pushing signed FHIR visit
//! bundles to a real server over HTTP, several at once, each a new visit of a new patient — the
//! full path: signature and replay check, bundle validation, sealing the national id, storing the
//! visit with its fee lines and sealed revision, and the audit event.
//!
//! ```text
//! cargo build --release --example gateway_bench
//! target/release/examples/gateway_bench /tmp/gw 20000 16          # SQLite in /tmp/gw
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/gwbench \
//!   target/release/examples/gateway_bench /tmp/gw-pg 20000 16     # PostgreSQL
//! ```
//!
//! Prints throughput and latency percentiles; results are in docs/BENCHMARKS.md.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use medclaim::accounts::domain::{check_char, hash_password};
use medclaim::accounts::store::{NewUser, insert_user};
use medclaim::http::auth::Role;
use medclaim::registry::signature::outbound_headers;
use medclaim::{Application, Settings};

const PASSWORD: &str = "benchmark password";

fn bundle(n: usize) -> String {
    let first17 = format!(
        "110105{}{:02}{:02}{:03}",
        1990 + n % 20,
        1 + n % 12,
        1 + n % 28,
        n % 1000
    );
    let patient = format!("{first17}{}", check_char(&first17));
    let date = format!("2026-{:02}-{:02}", 1 + n % 11, 1 + n % 28);
    serde_json::json!({
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000001", "resource": {
                "resourceType": "Patient",
                "identifier": [{"system": "urn:medclaim:national-id", "value": patient}]}},
            {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000002", "resource": {
                "resourceType": "Encounter", "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "identifier": [{"system": "urn:hospital:visit", "value": format!("MZ{n:09}")}],
                "period": {"start": date}}},
            {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000003", "resource": {
                "resourceType": "Condition",
                "subject": {"reference": "urn:uuid:00000000-0000-4000-8000-000000000001"},
                "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "J06.9"}],
                         "text": "上呼吸道感染"}}},
            {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000004", "resource": {
                "resourceType": "Invoice", "status": "issued",
                "identifier": [{"value": format!("FP{n:010}")}],
                "lineItem": [
                    {"sequence": 1, "chargeItemCodeableConcept": {"text": "挂号费"},
                     "priceComponent": [{"type": "base", "amount": {"value": 50, "currency": "CNY"}}]},
                    {"sequence": 2, "chargeItemCodeableConcept": {"text": "血常规"},
                     "priceComponent": [{"type": "base", "amount": {"value": 25.5, "currency": "CNY"}}]},
                    {"sequence": 3, "chargeItemCodeableConcept": {"text": "西药费"},
                     "priceComponent": [{"type": "base", "amount": {"value": 86.3, "currency": "CNY"}}]}],
                "totalGross": {"value": 161.8, "currency": "CNY"}}}
        ]
    })
    .to_string()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(dir), Some(n), Some(c)) = (args.get(1), args.get(2), args.get(3)) else {
        anyhow::bail!("usage: gateway_bench DIR VISITS CONCURRENCY");
    };
    let dir = PathBuf::from(dir);
    let (visits, concurrency): (usize, usize) = (n.parse()?, c.parse()?);
    std::fs::create_dir_all(&dir)?;
    let mut settings = Settings::new(dir.clone());
    settings.database_url =
        Some(std::env::var("DATABASE_URL").unwrap_or_else(|_| medclaim::db::Db::sqlite_url(&dir)));
    settings.bind = "127.0.0.1:0".parse()?;
    settings.notify.worker = false;
    let (db, keys) = settings.open().await?;
    let mut tx = db.begin().await?;
    insert_user(
        &mut tx,
        &keys,
        &NewUser {
            username: "admin".into(),
            name: "管理员".into(),
            class_name: None,
            phone: None,
            id_number: None,
            enrolment_status: "enrolled".into(),
            password_hash: Some(hash_password(PASSWORD.to_string()).await?),
            roles: vec![Role::Admin],
        },
    )
    .await?;
    tx.commit().await?;
    drop(db);

    let app = Application::build(settings).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let login: serde_json::Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["token"].as_str().expect("token");
    let creds: serde_json::Value = client
        .post(format!("{base}/api/v1/admin/hospitals"))
        .bearer_auth(token)
        .json(&serde_json::json!({"name": "北京大学第三医院", "level": 3}))
        .send()
        .await?
        .json()
        .await?;
    let key_id = Arc::new(creds["key_id"].as_str().expect("key id").to_string());
    let secret = Arc::new(creds["secret"].as_str().expect("secret").to_string());

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, base, next) = (client.clone(), base.clone(), next.clone());
        let (key_id, secret) = (key_id.clone(), secret.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut refused = 0usize;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= visits {
                    break;
                }
                let body = bundle(n).into_bytes();
                let mut request = client
                    .post(format!("{base}/api/v1/gateway/visits"))
                    .header("content-type", "application/fhir+json");
                for (name, value) in
                    outbound_headers(&key_id, &secret, "POST", "/api/v1/gateway/visits", &body)
                {
                    request = request.header(name, value);
                }
                let t = Instant::now();
                let status = request.body(body).send().await.map(|r| r.status());
                latencies.push(t.elapsed());
                if !matches!(status, Ok(s) if s == reqwest::StatusCode::CREATED) {
                    refused += 1;
                }
            }
            (latencies, refused)
        }));
    }
    let mut latencies = Vec::with_capacity(visits);
    let mut refused = 0;
    for w in workers {
        let (l, r) = w.await?;
        latencies.extend(l);
        refused += r;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    println!(
        "{visits} visits, {concurrency} at once: {:.1} s, {:.0} visits/s; latency p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms; not 201: {refused}",
        elapsed.as_secs_f64(),
        visits as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.95).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
    );
    anyhow::ensure!(refused == 0, "{refused} pushes were not accepted");
    Ok(())
}
