//! Settings: from the command line and environment, with defaults that run out of the box.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::crypto::Keys;
use crate::db::Db;

#[derive(Clone, Debug)]
pub struct Settings {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    /// `None`: the SQLite file in the data directory.
    pub database_url: Option<String>,
    pub session_idle: Duration,
    pub session_absolute: Duration,
    pub max_failed_logins: i64,
    pub lockout: Duration,
    /// Login attempts allowed per client address per minute.
    pub login_per_minute: u32,
    pub max_json_bytes: usize,
    /// Set `Secure` on cookies (serving over TLS or behind a TLS proxy).
    pub secure_cookies: bool,
    pub time_zone: chrono_tz::Tz,
    /// Largest accepted upload (a phone photo or PDF), bytes.
    pub max_upload_bytes: usize,
    /// How old a visit may be when its claim is created, days.
    pub claim_window_days: i64,
    /// Booking: cancellation cut-off and reminder hour.
    pub booking: crate::booking::BookingSettings,
    /// The notification outbox: SMS gateway, SMTP, retries.
    pub notify: crate::notify::NotifySettings,
}

impl Settings {
    pub fn new(data_dir: PathBuf) -> Settings {
        Settings {
            bind: "127.0.0.1:8080".parse().expect("valid default address"),
            data_dir,
            database_url: std::env::var("DATABASE_URL").ok().filter(|s| !s.is_empty()),
            session_idle: Duration::from_secs(env_u64("MEDCLAIM_SESSION_IDLE_SECS", 2 * 3600)),
            session_absolute: Duration::from_secs(env_u64("MEDCLAIM_SESSION_MAX_SECS", 12 * 3600)),
            max_failed_logins: 5,
            lockout: Duration::from_secs(env_u64("MEDCLAIM_LOCKOUT_SECS", 15 * 60)),
            login_per_minute: env_u64("MEDCLAIM_LOGIN_PER_MINUTE", 30) as u32,
            max_json_bytes: 1024 * 1024,
            secure_cookies: std::env::var("MEDCLAIM_SECURE_COOKIES")
                .is_ok_and(|v| v == "1" || v == "true"),
            time_zone: std::env::var("MEDCLAIM_TIME_ZONE")
                .ok()
                .and_then(|z| z.parse().ok())
                .unwrap_or(chrono_tz::Asia::Shanghai),
            max_upload_bytes: env_u64("MEDCLAIM_MAX_UPLOAD_BYTES", 25 * 1024 * 1024) as usize,
            claim_window_days: env_u64("MEDCLAIM_CLAIM_WINDOW_DAYS", 365) as i64,
            booking: crate::booking::BookingSettings::from_env(),
            notify: crate::notify::NotifySettings::from_env(),
        }
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| Db::sqlite_url(&self.data_dir))
    }

    /// Creates the data directory, connects, migrates and loads the keys: what every command
    /// that touches data needs first.
    pub async fn open(&self) -> anyhow::Result<(Db, Keys)> {
        std::fs::create_dir_all(&self.data_dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create data directory {}: {e}",
                self.data_dir.display()
            )
        })?;
        let db = Db::connect(&self.database_url()).await?;
        crate::db::migrate(&db).await?;
        let keys = Keys::load_or_create(&self.data_dir)?;
        Ok((db, keys))
    }
}

pub(crate) fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
