//! SQL for hospitals and insurers. Their shared secrets are stored encrypted (not hashed): an
//! HMAC must be recomputed with the secret to verify a signature, and to sign outbound calls.

use sqlx::{AnyPool, Row};

use crate::crypto::Keys;
use crate::db::{Tx, now_ms};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartnerKind {
    Hospital,
    Insurer,
}

impl PartnerKind {
    fn table(self) -> &'static str {
        match self {
            PartnerKind::Hospital => "hospitals",
            PartnerKind::Insurer => "insurers",
        }
    }
    fn key_prefix(self) -> &'static str {
        match self {
            PartnerKind::Hospital => "hsp_",
            PartnerKind::Insurer => "ins_",
        }
    }
    /// The columns only one kind has, spelled for both so one row type fits.
    fn extra_columns(self) -> &'static str {
        match self {
            PartnerKind::Hospital => "level, CAST(NULL AS TEXT) AS fhir_base_url",
            PartnerKind::Insurer => "CAST(NULL AS BIGINT) AS level, fhir_base_url",
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            PartnerKind::Hospital => "hospital",
            PartnerKind::Insurer => "insurer",
        }
    }
}

/// A registered hospital or insurer, secret decrypted.
#[derive(Clone)]
pub struct Partner {
    pub id: i64,
    pub kind: PartnerKind,
    pub name: String,
    pub level: Option<i64>,
    pub fhir_base_url: Option<String>,
    pub key_id: String,
    pub secret: String,
    pub active: bool,
    pub created_at: i64,
}

impl std::fmt::Debug for Partner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partner")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

fn secret_context(kind: PartnerKind, key_id: &str) -> String {
    format!("{}.secret|{key_id}", kind.table())
}

/// A new secret: 32 random bytes, hex. Shown to the admin once.
pub fn new_secret() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn select(kind: PartnerKind, filter: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!(
        "SELECT id, name, key_id, secret_enc, active, created_at, {} FROM {} {filter}",
        kind.extra_columns(),
        kind.table()
    ))
}

fn from_row(keys: &Keys, kind: PartnerKind, row: &sqlx::any::AnyRow) -> sqlx::Result<Partner> {
    let key_id: String = row.try_get("key_id")?;
    let sealed: String = row.try_get("secret_enc")?;
    let secret = keys
        .decrypt(&secret_context(kind, &key_id), &sealed)
        .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(Partner {
        id: row.try_get("id")?,
        kind,
        name: row.try_get("name")?,
        level: row.try_get("level")?,
        fhir_base_url: row.try_get("fhir_base_url")?,
        key_id,
        secret,
        active: row.try_get::<i64, _>("active")? == 1,
        created_at: row.try_get("created_at")?,
    })
}

pub async fn find_by_key(
    pool: &AnyPool,
    keys: &Keys,
    kind: PartnerKind,
    key_id: &str,
) -> sqlx::Result<Option<Partner>> {
    let row = sqlx::query(select(kind, "WHERE key_id = $1"))
        .bind(key_id)
        .fetch_optional(pool)
        .await?;
    row.map(|r| from_row(keys, kind, &r)).transpose()
}

pub async fn find_by_id(
    pool: &AnyPool,
    keys: &Keys,
    kind: PartnerKind,
    id: i64,
) -> sqlx::Result<Option<Partner>> {
    let row = sqlx::query(select(kind, "WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.map(|r| from_row(keys, kind, &r)).transpose()
}

pub async fn list(pool: &AnyPool, keys: &Keys, kind: PartnerKind) -> sqlx::Result<Vec<Partner>> {
    let rows = sqlx::query(select(kind, "ORDER BY id"))
        .fetch_all(pool)
        .await?;
    rows.iter().map(|r| from_row(keys, kind, r)).collect()
}

/// What a partner needs to fill in: hospitals a level, insurers an endpoint.
pub enum NewPartner<'a> {
    Hospital {
        name: &'a str,
        level: i64,
    },
    Insurer {
        name: &'a str,
        fhir_base_url: &'a str,
    },
}

impl NewPartner<'_> {
    pub fn kind(&self) -> PartnerKind {
        match self {
            NewPartner::Hospital { .. } => PartnerKind::Hospital,
            NewPartner::Insurer { .. } => PartnerKind::Insurer,
        }
    }
}

/// Inserts a partner with a fresh key id and secret; answers (id, key id, secret).
pub async fn insert(
    tx: &mut Tx,
    keys: &Keys,
    new: &NewPartner<'_>,
) -> sqlx::Result<(i64, String, String)> {
    let kind = new.kind();
    let key_id = format!(
        "{}{}",
        kind.key_prefix(),
        hex::encode(rand::random::<[u8; 8]>())
    );
    let secret = new_secret();
    let sealed = keys.encrypt(&secret_context(kind, &key_id), &secret);
    let row = match new {
        NewPartner::Hospital { name, level } => sqlx::query(
            "INSERT INTO hospitals (name, level, key_id, secret_enc, active, created_at)
             VALUES ($1, $2, $3, $4, 1, $5) RETURNING id",
        )
        .bind(*name)
        .bind(*level),
        NewPartner::Insurer {
            name,
            fhir_base_url,
        } => sqlx::query(
            "INSERT INTO insurers (name, fhir_base_url, key_id, secret_enc, active, created_at)
             VALUES ($1, $2, $3, $4, 1, $5) RETURNING id",
        )
        .bind(*name)
        .bind(*fhir_base_url),
    }
    .bind(&key_id)
    .bind(sealed)
    .bind(now_ms())
    .fetch_one(&mut **tx)
    .await?;
    Ok((row.try_get("id")?, key_id, secret))
}

/// Deactivates a partner; answers false when there is no such partner.
pub async fn deactivate(tx: &mut Tx, kind: PartnerKind, id: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {} SET active = 0 WHERE id = $1",
        kind.table()
    )))
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Replaces the secret (the key id stays); answers (key id, new secret), or None when absent.
pub async fn rotate_secret(
    tx: &mut Tx,
    keys: &Keys,
    kind: PartnerKind,
    id: i64,
) -> sqlx::Result<Option<(String, String)>> {
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT key_id FROM {} WHERE id = $1",
        kind.table()
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    else {
        return Ok(None);
    };
    let key_id: String = row.try_get("key_id")?;
    let secret = new_secret();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {} SET secret_enc = $1 WHERE id = $2",
        kind.table()
    )))
    .bind(keys.encrypt(&secret_context(kind, &key_id), &secret))
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(Some((key_id, secret)))
}
