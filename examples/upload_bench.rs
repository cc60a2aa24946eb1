//! Upload memory benchmark (not a test): N students each upload, at the same moment, a record
//! photo that is small on the wire and huge in memory — a 7000×8500 PNG of one flat colour,
//! about 190 KB, which decodes to 178 MB of pixels — to a real `medclaim serve` process, and the
//! server's peak resident memory (`VmHWM` in /proc/PID/status) is read once every upload has
//! been answered.
//!
//! ```text
//! cargo build --release --bin medclaim --example upload_bench
//! target/release/examples/upload_bench target/release/medclaim 32
//! MEDCLAIM_IMAGE_MEMORY_MB=256 target/release/examples/upload_bench target/release/medclaim 32
//! ```
//!
//! The server inherits the environment (`MEDCLAIM_IMAGE_*`, `DATABASE_URL`). Prints the answers
//! by status, whether every 429/503 carried `Retry-After`, the wall time and the peak RSS.
//! Results are in docs/BENCHMARKS.md.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Datelike;
use medclaim::Settings;
use medclaim::accounts::domain::hash_password;
use medclaim::accounts::store::{NewUser, insert_user};
use medclaim::http::auth::Role;

const PASSWORD: &str = "benchmark password";

/// The photo of the report: 7000×8500, flat colour with one dark band, ~190 KB as PNG.
pub fn big_flat_png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(7000, 8500, |_, y| {
        if (4000..4100).contains(&y) {
            image::Rgb([30, 30, 30])
        } else {
            image::Rgb([240, 240, 235])
        }
    });
    let mut out = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Best,
        image::codecs::png::FilterType::NoFilter,
    );
    image::DynamicImage::ImageRgb8(img)
        .write_with_encoder(encoder)
        .expect("encode");
    out
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let bin = PathBuf::from(
        args.get(1)
            .map_or("target/release/medclaim", String::as_str),
    );
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(32);
    let dir = tempfile::tempdir()?;

    // Students with coverage, written straight into the database the server will open.
    let settings = Settings::new(dir.path().to_path_buf());
    let (db, keys) = settings.open().await?;
    let hash = hash_password(PASSWORD.to_string()).await?;
    let year = i64::from(chrono::Utc::now().year());
    let mut tx = db.begin().await?;
    for i in 0..n {
        let user = NewUser {
            username: format!("bench{i:04}"),
            name: format!("Bench {i}"),
            class_name: None,
            phone: None,
            id_number: None,
            enrolment_status: "enrolled".into(),
            password_hash: Some(hash.clone()),
            roles: vec![Role::Student],
        };
        let id = insert_user(&mut tx, &keys, &user).await?;
        for y in [year - 1, year] {
            sqlx::query("INSERT INTO coverage (user_id, year, created_at) VALUES ($1, $2, 0)")
                .bind(id)
                .bind(y)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    db.close().await;

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let mut server = Command::new(&bin)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("MEDCLAIM_DATA_DIR", dir.path())
        .env("MEDCLAIM_LOGIN_PER_MINUTE", "100000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()?;
    let pid = server.id();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = server.kill();
            anyhow::bail!("server did not come up");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let idle_kib = vm_hwm_kib(pid).unwrap_or(0);

    // Each student signs in and opens a case.
    let visit = (chrono::Utc::now() - chrono::Duration::days(3))
        .format("%Y-%m-%d")
        .to_string();
    let mut targets = Vec::new();
    for i in 0..n {
        let login: serde_json::Value = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({"username": format!("bench{i:04}"), "password": PASSWORD}))
            .send()
            .await?
            .json()
            .await?;
        let token = login["token"].as_str().expect("token").to_string();
        let case: serde_json::Value = client
            .post(format!("{base}/api/v1/cases"))
            .bearer_auth(&token)
            .json(
                &serde_json::json!({"hospital": "校医院", "reason": "bench", "visit_date": visit}),
            )
            .send()
            .await?
            .json()
            .await?;
        targets.push((token, case["id"].as_i64().expect("case id")));
    }

    let png = big_flat_png();
    println!(
        "photo: 7000x8500 PNG, {} bytes; {n} uploads at once",
        png.len()
    );
    let started = Instant::now();
    let uploads = targets.into_iter().map(|(token, case_id)| {
        let client = client.clone();
        let png = png.clone();
        let url = format!("{base}/api/v1/cases/{case_id}/records");
        tokio::spawn(async move {
            let part = reqwest::multipart::Part::bytes(png)
                .file_name("scan.png")
                .mime_str("image/png")
                .expect("mime");
            let form = reqwest::multipart::Form::new().part("file", part);
            match client
                .post(url)
                .bearer_auth(token)
                .multipart(form)
                .send()
                .await
            {
                Ok(r) => (r.status().as_u16(), r.headers().contains_key("retry-after")),
                Err(_) => (0, false),
            }
        })
    });
    let answers = futures_util::future::join_all(uploads).await;
    let elapsed = started.elapsed();
    let peak_kib = vm_hwm_kib(pid).unwrap_or(0);
    let _ = server.kill();
    let _ = server.wait();

    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    let mut busy_without_retry_after = 0;
    for (status, retry_after) in answers.into_iter().map(|a| a.unwrap_or((0, false))) {
        *by_status.entry(status).or_default() += 1;
        if matches!(status, 429 | 503) && !retry_after {
            busy_without_retry_after += 1;
        }
    }
    println!("answers by status (0 = no answer): {by_status:?}");
    println!("429/503 without Retry-After: {busy_without_retry_after}");
    println!("wall time: {:.1} s", elapsed.as_secs_f64());
    println!(
        "server peak RSS (VmHWM): idle {:.0} MiB, after the uploads {:.0} MiB",
        idle_kib as f64 / 1024.0,
        peak_kib as f64 / 1024.0
    );
    Ok(())
}
