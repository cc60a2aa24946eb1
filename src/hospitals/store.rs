//! The `designated_hospitals` table.

use serde::Serialize;
use sqlx::{Any, Executor};
use utoipa::ToSchema;

use super::domain::{alias_keys, name_key};
use crate::db::{Tx, now_ms};
use crate::policy::HospitalLevel;

/// The separator aliases are stored and shown with.
const ALIAS_SEPARATOR: &str = "、";

/// A designated hospital.
#[derive(Clone, Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct DesignatedHospital {
    pub id: i64,
    pub name: String,
    /// 0 unrated, 1–3 the grade (一级/二级/三级).
    pub level: HospitalLevel,
    /// Other names students write (北医三院 for 北京大学第三医院).
    pub aliases: Vec<String>,
    /// Retired entries are kept but no longer suggested nor matched.
    pub active: bool,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    name: String,
    level: HospitalLevel,
    aliases: String,
    active: i64,
}

impl From<Row> for DesignatedHospital {
    fn from(r: Row) -> DesignatedHospital {
        DesignatedHospital {
            id: r.id,
            name: r.name,
            level: r.level,
            aliases: r
                .aliases
                .split(ALIAS_SEPARATOR)
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect(),
            active: r.active == 1,
        }
    }
}

const COLUMNS: &str = "id, name, level, aliases, active";

/// Entries in name order: active ones (all with `all`), those whose name or an alias contains
/// `q` when given, at most `limit`.
pub async fn list<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    q: Option<&str>,
    all: bool,
    limit: i64,
) -> sqlx::Result<Vec<DesignatedHospital>> {
    let pattern = q
        .map(name_key)
        .filter(|k| !k.is_empty())
        .map(|k| format!("%{k}%"));
    let filter = if pattern.is_some() {
        "AND (name_key LIKE $3 OR alias_keys LIKE $3)"
    } else {
        ""
    };
    let query = format!(
        "SELECT {COLUMNS} FROM designated_hospitals WHERE (active = 1 OR $1 = 1) {filter}
         ORDER BY name_key, id LIMIT $2"
    );
    let mut query = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(query))
        .bind(i64::from(all))
        .bind(limit);
    if let Some(p) = pattern {
        query = query.bind(p);
    }
    let rows = query.fetch_all(ex).await?;
    Ok(rows.into_iter().map(DesignatedHospital::from).collect())
}

/// The active entry a typed name stands for (its name or one of its aliases), if any.
pub async fn find<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    typed: &str,
) -> sqlx::Result<Option<DesignatedHospital>> {
    let key = name_key(typed);
    if key.is_empty() {
        return Ok(None);
    }
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM designated_hospitals
         WHERE active = 1 AND (name_key = $1 OR alias_keys LIKE $2)
         ORDER BY CASE WHEN name_key = $1 THEN 0 ELSE 1 END, id LIMIT 1"
    )))
    .bind(&key)
    .bind(format!("%|{key}|%"))
    .fetch_optional(ex)
    .await?;
    Ok(row.map(DesignatedHospital::from))
}

/// True when the office keeps a list at all (one active entry is enough).
pub async fn in_use<'e, E: Executor<'e, Database = Any>>(ex: E) -> sqlx::Result<bool> {
    let n: Option<i64> =
        sqlx::query_scalar("SELECT id FROM designated_hospitals WHERE active = 1 LIMIT 1")
            .fetch_optional(ex)
            .await?;
    Ok(n.is_some())
}

pub async fn by_id(tx: &mut Tx, id: i64) -> sqlx::Result<Option<DesignatedHospital>> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM designated_hospitals WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(DesignatedHospital::from))
}

/// The entry whose name is `name` (normalised), active or not.
pub async fn by_name(tx: &mut Tx, name: &str) -> sqlx::Result<Option<DesignatedHospital>> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM designated_hospitals WHERE name_key = $1"
    )))
    .bind(name_key(name))
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(DesignatedHospital::from))
}

/// Another entry (not `except`) already known by one of `names`, as name or alias.
pub async fn clash(
    tx: &mut Tx,
    names: &[&str],
    except: Option<i64>,
) -> sqlx::Result<Option<String>> {
    for n in names {
        let key = name_key(n);
        let other: Option<String> = sqlx::query_scalar(
            "SELECT name FROM designated_hospitals
             WHERE (name_key = $1 OR alias_keys LIKE $2) AND id <> $3 LIMIT 1",
        )
        .bind(&key)
        .bind(format!("%|{key}|%"))
        .bind(except.unwrap_or(0))
        .fetch_optional(&mut **tx)
        .await?;
        if other.is_some() {
            return Ok(other);
        }
    }
    Ok(None)
}

/// What an entry holds besides its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fields {
    pub name: String,
    pub level: HospitalLevel,
    pub aliases: Vec<String>,
    pub active: bool,
}

pub async fn insert(tx: &mut Tx, f: &Fields) -> sqlx::Result<DesignatedHospital> {
    let now = now_ms();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO designated_hospitals (name, name_key, level, aliases, alias_keys, active, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
    )
    .bind(&f.name)
    .bind(name_key(&f.name))
    .bind(f.level)
    .bind(f.aliases.join(ALIAS_SEPARATOR))
    .bind(alias_keys(&f.aliases))
    .bind(i64::from(f.active))
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    Ok(DesignatedHospital {
        id,
        name: f.name.clone(),
        level: f.level,
        aliases: f.aliases.clone(),
        active: f.active,
    })
}

pub async fn update(tx: &mut Tx, id: i64, f: &Fields) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE designated_hospitals SET name = $1, name_key = $2, level = $3, aliases = $4,
           alias_keys = $5, active = $6, updated_at = $7 WHERE id = $8",
    )
    .bind(&f.name)
    .bind(name_key(&f.name))
    .bind(f.level)
    .bind(f.aliases.join(ALIAS_SEPARATOR))
    .bind(alias_keys(&f.aliases))
    .bind(i64::from(f.active))
    .bind(now_ms())
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl DesignatedHospital {
    pub fn fields(&self) -> Fields {
        Fields {
            name: self.name.clone(),
            level: self.level,
            aliases: self.aliases.clone(),
            active: self.active,
        }
    }
}
