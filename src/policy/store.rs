//! The current policy and its versions.

use crate::money::Cents;
use sqlx::{Any, Executor, FromRow};

use super::domain::Policy;
use crate::db::{Tx, now_ms};

#[derive(FromRow)]
struct PolicyRow {
    version: i64,
    ratio_bp_0: i64,
    ratio_bp_1: i64,
    ratio_bp_2: i64,
    ratio_bp_3: i64,
    deductible_cents: Cents,
    annual_cap_cents: Cents,
}

impl From<PolicyRow> for Policy {
    fn from(r: PolicyRow) -> Policy {
        Policy {
            version: r.version,
            ratios_bp: [r.ratio_bp_0, r.ratio_bp_1, r.ratio_bp_2, r.ratio_bp_3],
            deductible_cents: r.deductible_cents,
            annual_cap_cents: r.annual_cap_cents,
        }
    }
}

const COLUMNS: &str =
    "version, ratio_bp_0, ratio_bp_1, ratio_bp_2, ratio_bp_3, deductible_cents, annual_cap_cents";

/// The newest version (the migration seeds version 1).
pub async fn current<'e>(exec: impl Executor<'e, Database = Any>) -> sqlx::Result<Policy> {
    sqlx::query_as::<_, PolicyRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM policies ORDER BY version DESC LIMIT 1"
    )))
    .fetch_one(exec)
    .await
    .map(Policy::from)
}

pub async fn by_version<'e>(
    exec: impl Executor<'e, Database = Any>,
    version: i64,
) -> sqlx::Result<Option<Policy>> {
    sqlx::query_as::<_, PolicyRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM policies WHERE version = $1"
    )))
    .bind(version)
    .fetch_optional(exec)
    .await
    .map(|r| r.map(Policy::from))
}

/// Stores `policy` as the next version; answers that version. Old versions stay.
pub async fn insert_version(
    tx: &mut Tx,
    policy: &Policy,
    created_by: Option<i64>,
) -> sqlx::Result<i64> {
    let next: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) + 1 FROM policies")
        .fetch_one(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO policies (version, ratio_bp_0, ratio_bp_1, ratio_bp_2, ratio_bp_3, deductible_cents, annual_cap_cents, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(next)
    .bind(policy.ratios_bp[0])
    .bind(policy.ratios_bp[1])
    .bind(policy.ratios_bp[2])
    .bind(policy.ratios_bp[3])
    .bind(policy.deductible_cents)
    .bind(policy.annual_cap_cents)
    .bind(created_by)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(next)
}
