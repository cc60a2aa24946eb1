//! SQL of payout accounts, batches and their items.

use crate::db::Tx;
use crate::money::Cents;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AccountRow {
    pub bank_name: String,
    pub account_no_enc: String,
    pub holder_name: String,
    pub updated_at: i64,
}

pub async fn find_account<'e>(
    exec: impl sqlx::Executor<'e, Database = sqlx::Any>,
    user_id: i64,
) -> sqlx::Result<Option<AccountRow>> {
    sqlx::query_as(
        "SELECT bank_name, account_no_enc, holder_name, updated_at FROM payout_accounts WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(exec)
    .await
}

/// Creates or replaces the student's account. `updated_at` only goes up, so a returned
/// transfer's case is batched again only after a change that came after the return.
pub async fn save_account(
    tx: &mut Tx,
    user_id: i64,
    bank_name: &str,
    account_no_enc: &str,
    holder_name: &str,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO payout_accounts (user_id, bank_name, account_no_enc, holder_name, updated_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (user_id) DO UPDATE SET bank_name = excluded.bank_name,
             account_no_enc = excluded.account_no_enc, holder_name = excluded.holder_name,
             updated_at = CASE WHEN excluded.updated_at > payout_accounts.updated_at
                               THEN excluded.updated_at ELSE payout_accounts.updated_at + 1 END",
    )
    .bind(user_id)
    .bind(bank_name)
    .bind(account_no_enc)
    .bind(holder_name)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A completed, university-funded case that waits for its transfer, with its student's
/// account (if any) and when a transfer of it last came back.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct WaitingRow {
    pub case_id: i64,
    pub student_id: i64,
    pub username: String,
    pub student_name: String,
    pub payout_cents: Cents,
    pub handed_in_at: i64,
    pub bank_name: Option<String>,
    pub account_no_enc: Option<String>,
    pub holder_name: Option<String>,
    pub account_updated_at: Option<i64>,
    pub last_returned_at: Option<i64>,
}

/// Cases handed in before `before_ms` (the end of the "through" day), completed, not routed
/// to an insurer, with something to pay, and in no batch that was not returned; oldest
/// hand-in first.
pub async fn waiting_cases<'e>(
    exec: impl sqlx::Executor<'e, Database = sqlx::Any>,
    before_ms: i64,
) -> sqlx::Result<Vec<WaitingRow>> {
    sqlx::query_as(
        "SELECT c.id AS case_id, c.student_id, u.username, u.name AS student_name, c.payout_cents,
                c.handed_in_at, a.bank_name, a.account_no_enc, a.holder_name,
                a.updated_at AS account_updated_at,
                (SELECT MAX(r.returned_at) FROM payout_items r
                  WHERE r.case_id = c.id AND r.status = 'returned') AS last_returned_at
         FROM cases c
         JOIN users u ON u.id = c.student_id
         LEFT JOIN payout_accounts a ON a.user_id = c.student_id
         WHERE c.status = 'completed' AND c.insurer_id IS NULL
           AND c.handed_in_at IS NOT NULL AND c.handed_in_at < $1 AND c.payout_cents > 0
           AND NOT EXISTS (SELECT 1 FROM payout_items p WHERE p.case_id = c.id AND p.status <> 'returned')
         ORDER BY c.handed_in_at, c.id",
    )
    .bind(before_ms)
    .fetch_all(exec)
    .await
}

pub async fn insert_batch(
    tx: &mut Tx,
    through: &str,
    count: i64,
    total: Cents,
    created_by: i64,
    now: i64,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO payout_batches (through_date, status, case_count, total_cents, created_by, created_at)
         VALUES ($1, 'open', $2, $3, $4, $5) RETURNING id",
    )
    .bind(through)
    .bind(count)
    .bind(total)
    .bind(created_by)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
}

pub struct NewItem<'a> {
    pub batch_id: i64,
    pub case_id: i64,
    pub student_id: i64,
    pub amount: Cents,
    pub bank_name: &'a str,
    pub account_no_enc: &'a str,
    pub holder_name: &'a str,
}

pub async fn insert_item(tx: &mut Tx, item: &NewItem<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO payout_items (batch_id, case_id, student_id, amount_cents, bank_name, account_no_enc, holder_name, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending')",
    )
    .bind(item.batch_id)
    .bind(item.case_id)
    .bind(item.student_id)
    .bind(item.amount)
    .bind(item.bank_name)
    .bind(item.account_no_enc)
    .bind(item.holder_name)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct BatchRow {
    pub id: i64,
    pub through_date: String,
    /// `open` or `paid`.
    pub status: String,
    pub case_count: i64,
    pub total_cents: Cents,
    pub created_at: i64,
    pub paid_at: Option<i64>,
    pub returned_count: i64,
    pub returned_cents: Cents,
}

const BATCH_COLUMNS: &str = "b.id, b.through_date, b.status, b.case_count, b.total_cents, b.created_at, b.paid_at,
     (SELECT COUNT(*) FROM payout_items r WHERE r.batch_id = b.id AND r.status = 'returned') AS returned_count,
     (SELECT CAST(COALESCE(SUM(r.amount_cents), 0) AS BIGINT) FROM payout_items r
       WHERE r.batch_id = b.id AND r.status = 'returned') AS returned_cents";

pub async fn find_batch<'e>(
    exec: impl sqlx::Executor<'e, Database = sqlx::Any>,
    id: i64,
) -> sqlx::Result<Option<BatchRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {BATCH_COLUMNS} FROM payout_batches b WHERE b.id = $1"
    )))
    .bind(id)
    .fetch_optional(exec)
    .await
}

/// Batches newest first, before the id `before`.
pub async fn list_batches<'e>(
    exec: impl sqlx::Executor<'e, Database = sqlx::Any>,
    before: i64,
    limit: i64,
) -> sqlx::Result<Vec<BatchRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {BATCH_COLUMNS} FROM payout_batches b WHERE b.id < $1 ORDER BY b.id DESC LIMIT $2"
    )))
    .bind(before)
    .bind(limit)
    .fetch_all(exec)
    .await
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ItemRow {
    pub batch_id: i64,
    pub case_id: i64,
    pub student_id: i64,
    pub username: String,
    pub student_name: String,
    pub amount_cents: Cents,
    pub bank_name: String,
    pub account_no_enc: String,
    pub holder_name: String,
    /// `pending`, `paid` or `returned`.
    pub status: String,
    pub returned_at: Option<i64>,
}

/// A batch's cases in the order they were batched.
pub async fn items_of<'e>(
    exec: impl sqlx::Executor<'e, Database = sqlx::Any>,
    batch_id: i64,
) -> sqlx::Result<Vec<ItemRow>> {
    sqlx::query_as(
        "SELECT p.batch_id, p.case_id, p.student_id, u.username, u.name AS student_name, p.amount_cents,
                p.bank_name, p.account_no_enc, p.holder_name, p.status, p.returned_at
         FROM payout_items p JOIN users u ON u.id = p.student_id
         WHERE p.batch_id = $1 ORDER BY p.id",
    )
    .bind(batch_id)
    .fetch_all(exec)
    .await
}

/// Marks an open batch paid; `false` when it is not open (any more).
pub async fn mark_batch_paid(tx: &mut Tx, id: i64, by: i64, now: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE payout_batches SET status = 'paid', paid_by = $1, paid_at = $2 WHERE id = $3 AND status = 'open'",
    )
    .bind(by)
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn mark_items_paid(tx: &mut Tx, batch_id: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE payout_items SET status = 'paid' WHERE batch_id = $1 AND status = 'pending'",
    )
    .bind(batch_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A paid item of the batch becomes returned; `false` when the case is not a paid item of it.
pub async fn return_item(
    tx: &mut Tx,
    batch_id: i64,
    case_id: i64,
    by: i64,
    now: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE payout_items SET status = 'returned', returned_by = $1, returned_at = $2
         WHERE batch_id = $3 AND case_id = $4 AND status = 'paid'",
    )
    .bind(by)
    .bind(now)
    .bind(batch_id)
    .bind(case_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// When the case was paid (`None`: not paid, e.g. after a returned transfer).
pub async fn set_case_paid_at(tx: &mut Tx, case_id: i64, at: Option<i64>) -> sqlx::Result<()> {
    sqlx::query("UPDATE cases SET paid_at = $1 WHERE id = $2")
        .bind(at)
        .bind(case_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
