//! SQL shared by everything that changes a case.

use crate::db::{Tx, now_ms};

/// Every change to a case or any of its invoices bumps the case's `version` (SPEC §4 rule 8),
/// so a reviewer deciding on a stale view is refused. Call it in the changing transaction.
pub async fn bump_version(tx: &mut Tx, case_id: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "UPDATE cases SET version = version + 1, updated_at = $1 WHERE id = $2 RETURNING version",
    )
    .bind(now_ms())
    .bind(case_id)
    .fetch_one(&mut **tx)
    .await
}

/// Bumps the version only when it still is `expected`; `None` means someone changed the case
/// in between (answer 409 `stale`).
pub async fn bump_version_if(
    tx: &mut Tx,
    case_id: i64,
    expected: i64,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("UPDATE cases SET version = version + 1, updated_at = $1 WHERE id = $2 AND version = $3 RETURNING version")
        .bind(now_ms())
        .bind(case_id)
        .bind(expected)
        .fetch_optional(&mut **tx)
        .await
}
