//! Machine partners: hospitals (whose front servers push visits) and insurers (who adjudicate and
//! pay), each registered by an admin with a key id and a shared secret; and the one place where
//! their signed requests are verified (`signature`). The JSON API and the console page call the
//! same functions below.

pub mod api;
pub mod pages;
pub mod signature;
pub mod store;

pub use signature::{Hospital, Insurer, Signed, sign};
pub use store::{NewPartner, Partner, PartnerKind};

use crate::audit::{self, Actor, Event};
use crate::http::{AppError, AppResult, AppState, ErrorCode};

/// A partner's credentials; the secret exists in plain only in this value, shown once.
pub struct Credentials {
    pub id: i64,
    pub key_id: String,
    pub secret: String,
}

fn checked_name(name: &str) -> AppResult<&str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ErrorCode::InvalidInput
            .with_message("Give a name of 1–100 characters.")
            .with_field("name", "1–100 characters"));
    }
    Ok(name)
}

/// A hospital to register: a name and a level 0–3.
pub fn hospital(name: &str, level: i64) -> AppResult<NewPartner<'_>> {
    let name = checked_name(name)?;
    if crate::policy::HospitalLevel::new(level).is_none() {
        return Err(ErrorCode::InvalidInput
            .with_message("The level is 0, 1, 2 or 3.")
            .with_field("level", "0, 1, 2 or 3"));
    }
    Ok(NewPartner::Hospital { name, level })
}

pub use crate::config::UrlPolicy;

/// An insurer to register: a name and the base URL of its FHIR endpoint, checked against
/// `policy` (the host's addresses are resolved now, so a name pointing inside is refused too).
pub async fn insurer<'a>(
    policy: UrlPolicy,
    name: &'a str,
    fhir_base_url: &'a str,
) -> AppResult<NewPartner<'a>> {
    let name = checked_name(name)?;
    let url = fhir_base_url.trim().trim_end_matches('/');
    let refuse = |code: ErrorCode, message: &str| {
        code.with_message(message.to_string())
            .with_field("fhir_base_url", message.to_string())
    };
    let parsed = reqwest::Url::parse(url)
        .ok()
        .filter(|u| url.len() <= 500 && u.host_str().is_some() && u.username().is_empty())
        .ok_or_else(|| refuse(ErrorCode::InvalidInput, "an https:// URL"))?;
    match parsed.scheme() {
        "https" => {}
        "http" if policy.allow_http => {}
        _ => return Err(refuse(ErrorCode::PartnerUrlNotHttps, "an https:// URL")),
    }
    if !policy.allow_private {
        let port = parsed.port_or_known_default().unwrap_or(443);
        let host = parsed.host_str().unwrap_or("");
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<std::net::IpAddr> = match literal.parse::<std::net::IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => tokio::net::lookup_host((host, port))
                .await
                .map(|a| a.map(|s| s.ip()).collect())
                .unwrap_or_default(),
        };
        if addrs.is_empty() {
            return Err(refuse(
                ErrorCode::PartnerUrlUnresolvable,
                "a host name that resolves",
            ));
        }
        if addrs.iter().any(|ip| is_internal(*ip)) {
            return Err(refuse(
                ErrorCode::PartnerUrlPrivate,
                "a public address (not loopback, private or link-local)",
            ));
        }
    }
    Ok(NewPartner::Insurer {
        name,
        fhir_base_url: url,
    })
}

/// Resolves a partner's host name for an outgoing call and keeps only public addresses, so a
/// name that pointed outside when the partner was registered cannot later be turned to point
/// inside (DNS rebinding): the check at registration is repeated on every connection.
pub struct PublicAddressesOnly;

impl reqwest::dns::Resolve for PublicAddressesOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let public: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| !is_internal(addr.ip()))
                .collect();
            if public.is_empty() {
                let refused: Box<dyn std::error::Error + Send + Sync> = Box::new(
                    std::io::Error::other(format!("{host} resolves to no public address")),
                );
                return Err(refused);
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether an outgoing call to `url` is allowed by `policy` before any connection is made: the
/// scheme, and a literal address (a host name is checked as it resolves, by
/// [`PublicAddressesOnly`]).
pub fn outgoing_url_allowed(policy: UrlPolicy, url: &reqwest::Url) -> Result<(), String> {
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_http => {}
        other => return Err(format!("{other}:// is not allowed for partner calls")),
    }
    if !policy.allow_private {
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
            _ => None,
        };
        if literal.is_some_and(is_internal) {
            return Err("the partner URL names an internal address".into());
        }
    }
    Ok(())
}

/// Loopback, private, link-local, shared (CGNAT), unspecified or broadcast.
pub fn is_internal(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

fn event(action: &str, kind: PartnerKind, id: i64, summary: String) -> Event<'_> {
    Event {
        action,
        object_type: kind.as_str(),
        object_id: id.to_string(),
        summary,
    }
}

/// Registers a partner with a fresh key id and secret.
pub async fn register(
    state: &AppState,
    actor: &Actor,
    new: &NewPartner<'_>,
) -> AppResult<Credentials> {
    let mut tx = state.db.begin().await?;
    let (id, key_id, secret) = store::insert(&mut tx, &state.keys, new).await?;
    let summary = format!("key_id={key_id}");
    let e = event("partner.register", new.kind(), id, summary);
    audit::record(&mut tx, actor, e).await?;
    tx.commit().await?;
    Ok(Credentials { id, key_id, secret })
}

/// Deactivates a partner: its signed requests are refused from now on.
pub async fn deactivate(
    state: &AppState,
    actor: &Actor,
    kind: PartnerKind,
    id: i64,
) -> AppResult<()> {
    let mut tx = state.db.begin().await?;
    if !store::deactivate(&mut tx, kind, id).await? {
        return Err(AppError::not_found());
    }
    let e = event("partner.deactivate", kind, id, String::new());
    audit::record(&mut tx, actor, e).await?;
    tx.commit().await?;
    Ok(())
}

/// Gives a partner a new secret (same key id); the old secret stops working at once.
pub async fn rotate(
    state: &AppState,
    actor: &Actor,
    kind: PartnerKind,
    id: i64,
) -> AppResult<Credentials> {
    let mut tx = state.db.begin().await?;
    let (key_id, secret) = store::rotate_secret(&mut tx, &state.keys, kind, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let e = event(
        "partner.rotate_secret",
        kind,
        id,
        format!("key_id={key_id}"),
    );
    audit::record(&mut tx, actor, e).await?;
    tx.commit().await?;
    Ok(Credentials { id, key_id, secret })
}
