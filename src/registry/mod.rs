//! Machine partners: hospitals (whose front servers push visits) and insurers (who adjudicate and
//! pay), each registered by an admin with a key id and a shared secret; and the one place where
//! their signed requests are verified (`signature`). The JSON API and the console page call the
//! same functions below.

pub mod api;
pub mod pages;
pub mod signature;
pub mod store;

pub use signature::{Signed, sign};
pub use store::{NewPartner, Partner, PartnerKind};

use crate::audit::{self, Actor, Event};
use crate::http::{AppError, AppResult, AppState};

/// A partner's credentials; the secret exists in plain only in this value, shown once.
pub struct Credentials {
    pub id: i64,
    pub key_id: String,
    pub secret: String,
}

fn checked_name(name: &str) -> AppResult<&str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(
            AppError::invalid("invalid_input", "Give a name of 1–100 characters.")
                .with_field("name", "1–100 characters"),
        );
    }
    Ok(name)
}

/// A hospital to register: a name and a level 0–3.
pub fn hospital(name: &str, level: i64) -> AppResult<NewPartner<'_>> {
    let name = checked_name(name)?;
    if crate::claims::domain::parse_hospital_level(level).is_none() {
        return Err(
            AppError::invalid("invalid_input", "The level is 0, 1, 2 or 3.")
                .with_field("level", "0, 1, 2 or 3"),
        );
    }
    Ok(NewPartner::Hospital { name, level })
}

/// An insurer to register: a name and the http(s) base URL of its FHIR endpoint.
pub fn insurer<'a>(name: &'a str, fhir_base_url: &'a str) -> AppResult<NewPartner<'a>> {
    let name = checked_name(name)?;
    let url = fhir_base_url.trim().trim_end_matches('/');
    if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 500 {
        return Err(
            AppError::invalid("invalid_input", "The FHIR base URL must be http(s).")
                .with_field("fhir_base_url", "an http:// or https:// URL"),
        );
    }
    Ok(NewPartner::Insurer {
        name,
        fhir_base_url: url,
    })
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
