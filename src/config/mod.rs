//! Settings: from the command line and environment, with defaults that run out of the box.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

mod booking;
mod notify;
mod sso;
mod storage;

pub use crate::db::{S3Settings, StorageSettings};
pub use booking::BookingSettings;
pub use notify::{DEFAULT_SMS_TEMPLATE, NotifySettings, SmsSettings, SmtpSettings, SmtpTls};
pub use sso::{CasSettings, OidcSettings, SsoSettings, WechatSettings};

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
    /// Login attempts per client address: refilled per minute, and the burst allowed at once.
    pub login_per_minute: u32,
    pub login_burst: u32,
    /// Activation codes by SMS per client address (SPEC §13, first sign-in): refilled per minute,
    /// and the burst allowed at once (`MEDCLAIM_ACTIVATION_PER_MINUTE`, `MEDCLAIM_ACTIVATION_BURST`).
    /// Only a real match spends one, so a campus NAT is not starved by guessers.
    pub activation_per_minute: u32,
    pub activation_burst: u32,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`MEDCLAIM_TRUSTED_PROXIES`,
    /// comma-separated CIDR blocks or addresses). Empty: the connection's peer is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub max_json_bytes: usize,
    /// Set `Secure` on cookies (serving over TLS or behind a TLS proxy).
    pub secure_cookies: bool,
    pub time_zone: chrono_tz::Tz,
    /// Largest accepted upload (a phone photo or PDF), bytes.
    pub max_upload_bytes: usize,
    /// How old a visit may be when its claim is created, days.
    pub claim_window_days: i64,
    /// Booking: cancellation cut-off and reminder hour.
    pub booking: BookingSettings,
    /// The notification outbox: SMS gateway, SMTP, retries.
    pub notify: NotifySettings,
    /// Sign-on: CAS, OpenID Connect, WeChat.
    pub sso: SsoSettings,
    /// Which insurer URLs an admin may register (`https` and public addresses by default).
    pub partner_urls: UrlPolicy,
    /// Photo and PDF uploads per account: refilled per minute, and the burst allowed at once
    /// (`MEDCLAIM_UPLOADS_PER_MINUTE` 20, `MEDCLAIM_UPLOAD_BURST` 40).
    pub uploads_per_minute: u32,
    pub upload_burst: u32,
    /// Invoice QR scans per account (`POST /api/v1/invoices/scan`, which stores nothing): a
    /// bucket of their own, so the wizard's prefill scan does not spend the upload allowance
    /// the same photo needs a moment later (`MEDCLAIM_SCANS_PER_MINUTE` 20,
    /// `MEDCLAIM_SCAN_BURST` 40). Each scan still waits for its share of the decode budget.
    pub scans_per_minute: u32,
    pub scan_burst: u32,
    /// Stored bytes allowed per case and per account (`MEDCLAIM_CASE_QUOTA_MB` 200,
    /// `MEDCLAIM_ACCOUNT_QUOTA_MB` 1000).
    pub case_quota_bytes: i64,
    pub account_quota_bytes: i64,
    /// How far the review queue counts its waiting cases (`MEDCLAIM_QUEUE_COUNT_LIMIT`
    /// 10,000): beyond it the queue says "10,000+", so the page costs the same at any length.
    pub queue_count_limit: i64,
    /// Bearer token `/metrics` requires (`MEDCLAIM_METRICS_TOKEN`); unset: no `/metrics`.
    pub metrics_token: Option<String>,
    /// Image decoding: how many at once and how much memory together.
    pub image_decodes: DecodeSettings,
    /// Where uploads are stored (`MEDCLAIM_STORAGE_URL` and the `MEDCLAIM_S3_*` connection).
    pub storage: StorageSettings,
    /// Staff who have a passkey must sign in with it (`MEDCLAIM_STAFF_PASSKEY_REQUIRED`).
    pub staff_passkey_required: bool,
    /// Step-up: how long a password or passkey proof counts as fresh for revealing full
    /// personal data, changing the policy and the like (`MEDCLAIM_REAUTH_WINDOW_SECS`, 300).
    pub reauth_window: Duration,
}

/// Where an admin may point an insurer's FHIR endpoint: `https` only, and never at a loopback,
/// private or link-local address (the server would otherwise call into its own network on an
/// admin's say-so), unless the configuration allows it (`MEDCLAIM_PARTNER_ALLOW_HTTP`,
/// `MEDCLAIM_PARTNER_ALLOW_PRIVATE`; development and tests).
#[derive(Clone, Copy, Debug, Default)]
pub struct UrlPolicy {
    pub allow_http: bool,
    pub allow_private: bool,
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
            login_per_minute: env_u64("MEDCLAIM_LOGIN_PER_MINUTE", 300) as u32,
            login_burst: env_u64("MEDCLAIM_LOGIN_BURST", 1000) as u32,
            activation_per_minute: env_u64("MEDCLAIM_ACTIVATION_PER_MINUTE", 20) as u32,
            activation_burst: env_u64("MEDCLAIM_ACTIVATION_BURST", 60) as u32,
            trusted_proxies: std::env::var("MEDCLAIM_TRUSTED_PROXIES")
                .map(|v| parse_networks(&v))
                .unwrap_or_default(),
            max_json_bytes: 1024 * 1024,
            secure_cookies: std::env::var("MEDCLAIM_SECURE_COOKIES")
                .is_ok_and(|v| v == "1" || v == "true"),
            time_zone: std::env::var("MEDCLAIM_TIME_ZONE")
                .ok()
                .and_then(|z| z.parse().ok())
                .unwrap_or(chrono_tz::Asia::Shanghai),
            max_upload_bytes: env_u64("MEDCLAIM_MAX_UPLOAD_BYTES", 25 * 1024 * 1024) as usize,
            claim_window_days: env_u64("MEDCLAIM_CLAIM_WINDOW_DAYS", 365) as i64,
            booking: BookingSettings::from_env(),
            notify: NotifySettings::from_env(),
            sso: SsoSettings::from_env(),
            partner_urls: UrlPolicy {
                allow_http: env_flag("MEDCLAIM_PARTNER_ALLOW_HTTP"),
                allow_private: env_flag("MEDCLAIM_PARTNER_ALLOW_PRIVATE"),
            },
            image_decodes: DecodeSettings::from_env(),
            storage: StorageSettings::from_env(),
            uploads_per_minute: env_u64("MEDCLAIM_UPLOADS_PER_MINUTE", 20) as u32,
            upload_burst: env_u64("MEDCLAIM_UPLOAD_BURST", 40) as u32,
            scans_per_minute: env_u64("MEDCLAIM_SCANS_PER_MINUTE", 20) as u32,
            scan_burst: env_u64("MEDCLAIM_SCAN_BURST", 40) as u32,
            case_quota_bytes: env_u64("MEDCLAIM_CASE_QUOTA_MB", 200).saturating_mul(1024 * 1024)
                as i64,
            account_quota_bytes: env_u64("MEDCLAIM_ACCOUNT_QUOTA_MB", 1000)
                .saturating_mul(1024 * 1024) as i64,
            queue_count_limit: env_u64("MEDCLAIM_QUEUE_COUNT_LIMIT", 10_000).clamp(1, 1 << 40)
                as i64,
            staff_passkey_required: env_flag("MEDCLAIM_STAFF_PASSKEY_REQUIRED"),
            reauth_window: Duration::from_secs(env_u64("MEDCLAIM_REAUTH_WINDOW_SECS", 300)),
            metrics_token: std::env::var("MEDCLAIM_METRICS_TOKEN")
                .ok()
                .filter(|t| !t.trim().is_empty()),
        }
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| Db::sqlite_url(&self.data_dir))
    }

    /// The upload store these settings name (see [`StorageSettings`]).
    pub fn file_store(&self) -> anyhow::Result<crate::db::FileStore> {
        crate::db::FileStore::open(&self.storage, &self.data_dir)
    }

    /// Creates the data directory, connects, migrates and loads the keys: what every command
    /// that touches data needs first (followed by `seal::migrate::seal_existing`, which the
    /// application and the command line run: see `Application::build`).
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

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1" || v == "true")
}

pub(crate) fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CIDR blocks or single addresses, comma- or space-separated; what does not parse is
/// reported and skipped (a typo must not make every peer trusted).
pub fn parse_networks(list: &str) -> Vec<ipnet::IpNet> {
    list.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .filter_map(|s| {
            let net = s
                .parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
            if net.is_err() {
                eprintln!(
                    "MEDCLAIM_TRUSTED_PROXIES: ignoring {s:?} (not an address or CIDR block)"
                );
            }
            net.ok()
        })
        .collect()
}

/// Image decoding under a memory budget (see `http::budget`).
#[derive(Clone, Copy, Debug)]
pub struct DecodeSettings {
    /// Decodes running at once (`MEDCLAIM_IMAGE_DECODES`, default: the number of cores).
    pub concurrent: usize,
    /// Memory all running decodes may hold together, MiB (`MEDCLAIM_IMAGE_MEMORY_MB`, 512).
    pub memory_mib: u32,
    /// How long an upload waits for its turn before it is answered `busy`
    /// (`MEDCLAIM_IMAGE_WAIT_SECS`, 30).
    pub wait: Duration,
}

impl DecodeSettings {
    pub fn from_env() -> DecodeSettings {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        DecodeSettings {
            concurrent: env_u64("MEDCLAIM_IMAGE_DECODES", cores as u64).max(1) as usize,
            memory_mib: env_u64("MEDCLAIM_IMAGE_MEMORY_MB", 512).clamp(64, 1 << 20) as u32,
            wait: Duration::from_secs(env_u64("MEDCLAIM_IMAGE_WAIT_SECS", 30)),
        }
    }
}
