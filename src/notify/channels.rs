//! The outbound channels: an HTTP SMS gateway and SMTP e-mail. Errors carry status codes and
//! error kinds only, never the phone number, address or message text (they end up in
//! `outbox.last_error` and logs).

use askama::Template;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::outbox::Payload;
use super::{NotifySettings, SmsSettings, SmtpSettings, SmtpTls};

/// A delivery that did not happen; the text is safe to store and log.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SendError(pub String);

pub struct SmsGateway {
    client: reqwest::Client,
    settings: SmsSettings,
}

/// Fills `{{name}}` placeholders with JSON-escaped values (the template puts the quotes).
pub fn fill_template(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (name, value) in values {
        let quoted = serde_json::to_string(value).expect("a string serialises");
        out = out.replace(&format!("{{{{{name}}}}}"), &quoted[1..quoted.len() - 1]);
    }
    out
}

impl SmsGateway {
    pub fn new(settings: SmsSettings, timeout: std::time::Duration) -> anyhow::Result<SmsGateway> {
        let client = reqwest::Client::builder().timeout(timeout).build()?;
        Ok(SmsGateway { client, settings })
    }

    pub async fn send(&self, phone: &str, text: &str, key: &str) -> Result<(), SendError> {
        let body = fill_template(
            &self.settings.body_template,
            &[("phone", phone), ("text", text), ("key", key)],
        );
        if serde_json::from_str::<serde_json::Value>(&body).is_err() {
            return Err(SendError(
                "the SMS body template does not make valid JSON".into(),
            ));
        }
        let mut request = self
            .client
            .post(&self.settings.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(self.settings.idempotency_header.as_str(), key)
            .body(body);
        if let Some(auth) = &self.settings.auth_value {
            request = request.header(self.settings.auth_header.as_str(), auth);
        }
        let response = request.send().await.map_err(|e| {
            let kind = if e.is_timeout() {
                "timeout"
            } else if e.is_connect() {
                "connection failed"
            } else {
                "request failed"
            };
            SendError(format!("SMS gateway: {kind}"))
        })?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(SendError(format!(
                "SMS gateway answered HTTP {}",
                status.as_u16()
            )))
        }
    }
}

#[derive(Template)]
#[template(path = "email/notification.html")]
struct EmailHtml<'a> {
    lang: &'a str,
    subject: &'a str,
    text: &'a str,
    footer: &'a str,
}

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn new(settings: &SmtpSettings, timeout: std::time::Duration) -> anyhow::Result<Mailer> {
        let builder = match settings.tls {
            SmtpTls::None => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            }
            SmtpTls::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.host)?
            }
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&settings.host)?,
        };
        let mut builder = builder.port(settings.port).timeout(Some(timeout));
        if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|_| anyhow::anyhow!("MEDCLAIM_SMTP_FROM is not a valid address"))?;
        Ok(Mailer {
            transport: builder.build(),
            from,
        })
    }

    /// Sends text + HTML. The Message-ID is derived from the idempotency key, so a message sent
    /// again after a crash carries the same id and receivers can drop the copy.
    pub async fn send(&self, to: &str, payload: &Payload, key: &str) -> Result<(), SendError> {
        let to: Mailbox = to
            .parse()
            .map_err(|_| SendError("invalid recipient address".into()))?;
        let footer = if payload.lang == "en" {
            "medclaim — this message was sent automatically."
        } else {
            "medclaim 医保报销平台 — 本邮件由系统自动发送。"
        };
        let html = EmailHtml {
            lang: &payload.lang,
            subject: &payload.subject,
            text: &payload.text,
            footer,
        }
        .render()
        .map_err(|_| SendError("e-mail template failed".into()))?;
        let message = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(payload.subject.clone())
            .message_id(Some(format!("<{key}@medclaim>")))
            .multipart(MultiPart::alternative_plain_html(
                format!("{}\n\n{footer}\n", payload.text),
                html,
            ))
            .map_err(|_| SendError("e-mail could not be built".into()))?;
        self.transport.send(message).await.map(|_| ()).map_err(|e| {
            let what = if e.is_permanent() {
                "rejected permanently"
            } else if e.is_transient() {
                "rejected for now"
            } else if e.is_timeout() {
                "timeout"
            } else {
                "connection or TLS failed"
            };
            SendError(format!("SMTP: {what}"))
        })
    }
}

/// The configured channels; `None` where a channel is not set up.
pub struct Channels {
    pub sms: Option<SmsGateway>,
    pub mail: Option<Mailer>,
}

impl Channels {
    pub fn from_settings(settings: &NotifySettings) -> anyhow::Result<Channels> {
        Ok(Channels {
            sms: settings
                .sms
                .clone()
                .map(|s| SmsGateway::new(s, settings.send_timeout))
                .transpose()?,
            mail: settings
                .smtp
                .as_ref()
                .map(|s| Mailer::new(s, settings.send_timeout))
                .transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn template_values_are_json_escaped() {
        let body = super::fill_template(
            crate::config::DEFAULT_SMS_TEMPLATE,
            &[("phone", "13800138000"), ("text", "病历 \"#1\"\n通过")],
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["phone"], "13800138000");
        assert_eq!(v["text"], "病历 \"#1\"\n通过");
    }
}
