//! Outbox and channel settings, from `MEDCLAIM_…` environment variables.

use std::time::Duration;

use super::env_u64;

#[derive(Clone, Debug)]
pub struct NotifySettings {
    /// `None`: SMS messages are kept with status `not_configured`.
    pub sms: Option<SmsSettings>,
    /// `None`: e-mails are kept with status `not_configured`.
    pub smtp: Option<SmtpSettings>,
    /// Run the delivery worker beside the HTTP server.
    pub worker: bool,
    pub poll_interval: Duration,
    /// After this many failed attempts a message is `dead` (an admin may retry it).
    pub max_attempts: i64,
    /// First retry delay; doubled on each attempt, capped by `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// How long a claimed message stays reserved; a worker that died while sending loses its
    /// claim after this and another one sends again (with the same idempotency key).
    pub lease: Duration,
    /// Timeout of one delivery attempt.
    pub send_timeout: Duration,
}

#[derive(Clone)]
pub struct SmsSettings {
    pub url: String,
    /// Header carrying the gateway credentials (default `Authorization`).
    pub auth_header: String,
    pub auth_value: Option<String>,
    /// JSON body with `{{phone}}`, `{{text}}` and `{{key}}` placeholders (filled JSON-escaped).
    pub body_template: String,
    /// Header carrying the message's idempotency key (default `Idempotency-Key`).
    pub idempotency_header: String,
}

impl std::fmt::Debug for SmsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsSettings")
            .field("url", &self.url)
            .field("auth_header", &self.auth_header)
            .field("auth_value", &self.auth_value.as_ref().map(|_| "…"))
            .finish_non_exhaustive()
    }
}

pub const DEFAULT_SMS_TEMPLATE: &str = r#"{"phone":"{{phone}}","text":"{{text}}"}"#;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain SMTP (a relay on the same host or network).
    None,
    StartTls,
    /// Implicit TLS (port 465).
    Tls,
}

#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub from: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub tls: SmtpTls,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl NotifySettings {
    pub fn from_env() -> NotifySettings {
        let sms = env("MEDCLAIM_SMS_URL").map(|url| SmsSettings {
            url,
            auth_header: env("MEDCLAIM_SMS_AUTH_HEADER").unwrap_or_else(|| "Authorization".into()),
            auth_value: env("MEDCLAIM_SMS_AUTH"),
            body_template: env("MEDCLAIM_SMS_BODY_TEMPLATE")
                .unwrap_or_else(|| DEFAULT_SMS_TEMPLATE.into()),
            idempotency_header: env("MEDCLAIM_SMS_IDEMPOTENCY_HEADER")
                .unwrap_or_else(|| "Idempotency-Key".into()),
        });
        let tls = match env("MEDCLAIM_SMTP_TLS").as_deref() {
            Some("none") => SmtpTls::None,
            Some("tls") => SmtpTls::Tls,
            _ => SmtpTls::StartTls,
        };
        let smtp = env("MEDCLAIM_SMTP_HOST").map(|host| SmtpSettings {
            host,
            port: env_u64(
                "MEDCLAIM_SMTP_PORT",
                if tls == SmtpTls::Tls { 465 } else { 587 },
            ) as u16,
            from: env("MEDCLAIM_SMTP_FROM")
                .unwrap_or_else(|| "medclaim <noreply@localhost>".into()),
            username: env("MEDCLAIM_SMTP_USERNAME"),
            password: env("MEDCLAIM_SMTP_PASSWORD"),
            tls,
        });
        NotifySettings {
            sms,
            smtp,
            worker: env("MEDCLAIM_OUTBOX_WORKER").is_none_or(|v| v != "0" && v != "false"),
            poll_interval: Duration::from_millis(env_u64("MEDCLAIM_OUTBOX_POLL_MS", 1000).max(50)),
            max_attempts: env_u64("MEDCLAIM_OUTBOX_MAX_ATTEMPTS", 8).max(1) as i64,
            backoff_base: Duration::from_secs(env_u64("MEDCLAIM_OUTBOX_BACKOFF_SECS", 30)),
            backoff_max: Duration::from_secs(6 * 3600),
            lease: Duration::from_secs(env_u64("MEDCLAIM_OUTBOX_LEASE_SECS", 120).max(1)),
            send_timeout: Duration::from_secs(30),
        }
    }

    /// Delay before attempt `attempts + 1`, after `attempts` failures: base·2^(attempts−1).
    pub fn backoff(&self, attempts: i64) -> Duration {
        let exp = attempts.clamp(1, 30) as u32 - 1;
        self.backoff_base
            .saturating_mul(2u32.saturating_pow(exp))
            .min(self.backoff_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let mut s = NotifySettings::from_env();
        s.backoff_base = Duration::from_secs(30);
        s.backoff_max = Duration::from_secs(3600);
        assert_eq!(s.backoff(1), Duration::from_secs(30));
        assert_eq!(s.backoff(2), Duration::from_secs(60));
        assert_eq!(s.backoff(4), Duration::from_secs(240));
        assert_eq!(s.backoff(8), Duration::from_secs(3600));
        assert_eq!(s.backoff(1000), Duration::from_secs(3600));
    }
}
