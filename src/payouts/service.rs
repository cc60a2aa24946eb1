//! What finance and students do with payouts, each in one transaction with its audit event
//! and notifications.

use super::domain::{self, PayoutAccount, SkipReason};
use super::store::{self, BatchRow, ItemRow, NewItem, WaitingRow};
use crate::audit::{self, Event};
use crate::claims::CaseStatus;
use crate::claims::lifecycle::CaseEvent;
use crate::claims::store::{advance, bump_version};
use crate::db::{Backend, now_ms};
use crate::http::auth::CurrentUser;
use crate::http::{AppError, AppResult, AppState, ErrorCode};
use crate::ids::CaseId;
use crate::money::Cents;
use crate::notify::{self, Message};

/// The student's account with the number opened (callers mask it).
pub struct OpenAccount {
    pub bank_name: String,
    pub account_no: String,
    pub holder_name: String,
    pub updated_at: i64,
}

fn open_account_no(state: &AppState, user_id: i64, sealed: &str) -> AppResult<String> {
    state
        .keys
        .decrypt(&domain::account_context(user_id), sealed)
        .map_err(|_| AppError::internal(anyhow::anyhow!("payout account does not open")))
}

pub async fn account_of(state: &AppState, user_id: i64) -> AppResult<Option<OpenAccount>> {
    let Some(row) = store::find_account(&state.db.pool, user_id).await? else {
        return Ok(None);
    };
    Ok(Some(OpenAccount {
        account_no: open_account_no(state, user_id, &row.account_no_enc)?,
        bank_name: row.bank_name,
        holder_name: row.holder_name,
        updated_at: row.updated_at,
    }))
}

/// Sets the student's payout account. Needs a fresh authentication (401 `reauth_required`),
/// as revealing a phone does: whoever holds a stolen session must not redirect the money.
pub async fn save_account(
    state: &AppState,
    user: &CurrentUser,
    account: &PayoutAccount,
) -> AppResult<OpenAccount> {
    user.require_fresh_auth(state)?;
    let sealed = state.keys.encrypt(
        &domain::account_context(user.id),
        account.account_no.as_str(),
    );
    let mut tx = state.db.begin().await?;
    let had = store::find_account(&mut *tx, user.id).await?.is_some();
    store::save_account(
        &mut tx,
        user.id,
        &account.bank_name,
        &sealed,
        &account.holder_name,
        now_ms(),
    )
    .await?;
    audit::record(
        &mut tx,
        &user.actor(),
        Event {
            action: "payout_account.update",
            object_type: "user",
            object_id: user.id.to_string(),
            summary: if had { "changed" } else { "added" }.to_string(),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(user_id = user.id, "payout account saved");
    account_of(state, user.id)
        .await?
        .ok_or_else(AppError::not_found)
}

/// A batch with its cases, and (when just built) the cases left out.
pub struct BatchDetail {
    pub batch: BatchRow,
    pub items: Vec<ItemRow>,
    pub skipped: Vec<(WaitingRow, SkipReason)>,
}

pub async fn batch(state: &AppState, id: i64) -> AppResult<BatchDetail> {
    let batch = store::find_batch(&state.db.pool, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let items = store::items_of(&state.db.pool, id).await?;
    Ok(BatchDetail {
        batch,
        items,
        skipped: Vec::new(),
    })
}

/// Puts every completed, university-funded case handed in up to `through` (a local date,
/// inclusive) that is in no live batch into a new batch, with the account each student has
/// now. Cases whose student has no account (or has not fixed it after a returned transfer) are
/// left out and listed. Two builds at once never share a case: PostgreSQL queues them on an
/// advisory lock (SQLite has one writer), and a unique index backs that up.
pub async fn build_batch(
    state: &AppState,
    user: &CurrentUser,
    through: &str,
) -> AppResult<BatchDetail> {
    let range =
        crate::reports::domain::DateRange::parse(None, Some(through), state.settings.time_zone)
            .ok()
            .filter(|r| r.to.is_some())
            .ok_or_else(|| {
                ErrorCode::InvalidDate
                    .with_message("`through` is a date YYYY-MM-DD.")
                    .with_field("through", "not a YYYY-MM-DD date")
            })?;
    let through = range.to.map(|d| d.to_string()).unwrap_or_default();
    let mut tx = state.db.begin().await?;
    if state.db.backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock(4242017)")
            .execute(&mut *tx)
            .await?;
    }
    let waiting = store::waiting_cases(&mut *tx, range.end_ms).await?;
    let (ready, skipped): (Vec<_>, Vec<_>) = waiting
        .into_iter()
        .map(|w| {
            let why = domain::skip_reason(w.account_updated_at, w.last_returned_at);
            (w, why)
        })
        .partition(|(_, why)| why.is_none());
    let skipped: Vec<(WaitingRow, SkipReason)> = skipped
        .into_iter()
        .filter_map(|(w, why)| why.map(|why| (w, why)))
        .collect();
    if ready.is_empty() {
        return Err(ErrorCode::NothingToPay.with_message(format!(
            "No completed case handed in up to {through} waits for a transfer to a known account ({} without a usable account).",
            skipped.len()
        )));
    }
    let total = Cents::checked_sum(ready.iter().map(|(w, _)| w.payout_cents))
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("batch total overflows")))?;
    let now = now_ms();
    let batch_id =
        store::insert_batch(&mut tx, &through, ready.len() as i64, total, user.id, now).await?;
    for (w, _) in &ready {
        let (Some(bank), Some(sealed), Some(holder)) =
            (&w.bank_name, &w.account_no_enc, &w.holder_name)
        else {
            continue; // an account is what `skip_reason` checked
        };
        let number = open_account_no(state, w.student_id, sealed)?;
        let copy = state
            .keys
            .encrypt(&domain::item_context(batch_id, w.case_id), &number);
        store::insert_item(
            &mut tx,
            &NewItem {
                batch_id,
                case_id: w.case_id,
                student_id: w.student_id,
                amount: w.payout_cents,
                bank_name: bank,
                account_no_enc: &copy,
                holder_name: holder,
            },
        )
        .await
        .map_err(|e| {
            if crate::db::is_unique_violation(&e) {
                ErrorCode::Conflict.with_message("A case was batched meanwhile; build again.")
            } else {
                e.into()
            }
        })?;
    }
    audit::record(
        &mut tx,
        &user.actor(),
        Event {
            action: "payout_batch.create",
            object_type: "payout_batch",
            object_id: batch_id.to_string(),
            summary: format!(
                "through {through}: {} cases, {total} yuan; {} skipped",
                ready.len(),
                skipped.len()
            ),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(
        user_id = user.id,
        batch_id,
        cases = ready.len(),
        "payout batch built"
    );
    let mut detail = batch(state, batch_id).await?;
    detail.skipped = skipped;
    Ok(detail)
}

/// Cases waiting for payment that no batch can take yet (no account, or not fixed after a
/// returned transfer), oldest hand-in first: the office chases these students.
pub async fn unpayable(state: &AppState) -> AppResult<Vec<(WaitingRow, SkipReason)>> {
    let waiting = store::waiting_cases(&state.db.pool, i64::MAX).await?;
    Ok(waiting
        .into_iter()
        .filter_map(|w| {
            let why = domain::skip_reason(w.account_updated_at, w.last_returned_at)?;
            Some((w, why))
        })
        .collect())
}

/// The bank's transfer file was sent: the batch is paid, every case in it `paid`, and each
/// student told (inbox and SMS). 409 `batch_already_paid` the second time.
pub async fn mark_paid(state: &AppState, user: &CurrentUser, id: i64) -> AppResult<BatchDetail> {
    let mut tx = state.db.begin().await?;
    let now = now_ms();
    if !store::mark_batch_paid(&mut tx, id, user.id, now).await? {
        return Err(match store::find_batch(&mut *tx, id).await? {
            None => AppError::not_found(),
            Some(_) => {
                ErrorCode::BatchAlreadyPaid.with_message("This batch was already marked paid.")
            }
        });
    }
    let items = store::items_of(&mut *tx, id).await?;
    for item in items.iter().filter(|i| i.status == "pending") {
        advance(
            &mut tx,
            item.case_id,
            CaseStatus::Completed,
            CaseEvent::PayOut,
        )
        .await?
        .map_err(|e| {
            AppError::from(e).with_field(
                "case_ids",
                format!("case {} is no longer completed", item.case_id),
            )
        })?;
        store::set_case_paid_at(&mut tx, item.case_id, Some(now)).await?;
        bump_version(&mut tx, CaseId::new(item.case_id)).await?;
        let destination = domain::mask_account_no(&open_item_no(state, item)?);
        notify::notify(
            &mut tx,
            item.student_id,
            &Message::PayoutSent {
                case_id: item.case_id,
                amount_cents: item.amount_cents,
                destination: format!("{} {destination}", item.bank_name),
            },
        )
        .await?;
    }
    store::mark_items_paid(&mut tx, id).await?;
    audit::record(
        &mut tx,
        &user.actor(),
        Event {
            action: "payout_batch.paid",
            object_type: "payout_batch",
            object_id: id.to_string(),
            summary: format!("{} cases paid", items.len()),
        },
    )
    .await?;
    tx.commit().await?;
    batch(state, id).await
}

/// The bank returned these cases' transfers: each goes back to `completed` (unpaid), its
/// student is asked to fix the account, and it is batched again once the account changed.
/// 409 `batch_not_paid` before the batch is paid; 422 when a case is not a paid case of it.
pub async fn mark_returned(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    case_ids: &[i64],
) -> AppResult<BatchDetail> {
    if case_ids.is_empty() || case_ids.len() > 1000 {
        return Err(ErrorCode::InvalidInput
            .with_message("Name the returned cases (1–1000).")
            .with_field("case_ids", "1 to 1000 case ids"));
    }
    let mut tx = state.db.begin().await?;
    let batch = store::find_batch(&mut *tx, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    if batch.status != "paid" {
        return Err(ErrorCode::BatchNotPaid
            .with_message("Mark the batch paid before recording returned transfers."));
    }
    let items = store::items_of(&mut *tx, id).await?;
    let now = now_ms();
    for case_id in case_ids {
        let not_in = || {
            ErrorCode::InvalidInput
                .with_message(format!("Case {case_id} is not a paid case of this batch."))
                .with_field(
                    "case_ids",
                    format!("case {case_id} is not a paid case of this batch"),
                )
        };
        let item = items
            .iter()
            .find(|i| i.case_id == *case_id)
            .ok_or_else(not_in)?;
        if !store::return_item(&mut tx, id, *case_id, user.id, now).await? {
            return Err(not_in());
        }
        advance(
            &mut tx,
            *case_id,
            CaseStatus::Paid,
            CaseEvent::PayoutReturned,
        )
        .await??;
        store::set_case_paid_at(&mut tx, *case_id, None).await?;
        bump_version(&mut tx, CaseId::new(*case_id)).await?;
        notify::notify(
            &mut tx,
            item.student_id,
            &Message::PayoutReturned {
                case_id: *case_id,
                amount_cents: item.amount_cents,
            },
        )
        .await?;
    }
    let ids: Vec<String> = case_ids.iter().map(i64::to_string).collect();
    audit::record(
        &mut tx,
        &user.actor(),
        Event {
            action: "payout_batch.returned",
            object_type: "payout_batch",
            object_id: id.to_string(),
            summary: format!("returned cases {}", ids.join(",")),
        },
    )
    .await?;
    tx.commit().await?;
    self::batch(state, id).await
}

/// The full account number kept with a batch item.
pub fn open_item_no(state: &AppState, item: &ItemRow) -> AppResult<String> {
    state
        .keys
        .decrypt(
            &domain::item_context(item.batch_id, item.case_id),
            &item.account_no_enc,
        )
        .map_err(|_| AppError::internal(anyhow::anyhow!("payout item account does not open")))
}

/// Downloading the bank file reveals full account numbers: it needs a fresh authentication
/// and is audited like revealing a phone.
pub async fn reveal_for_export(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    format: &str,
) -> AppResult<BatchDetail> {
    let detail = batch(state, id).await?;
    user.require_fresh_auth(state)?;
    let mut tx = state.db.begin().await?;
    audit::record(
        &mut tx,
        &user.actor(),
        Event {
            action: "payout_batch.export",
            object_type: "payout_batch",
            object_id: id.to_string(),
            summary: format!("{format} with full account numbers"),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(detail)
}
