//! SQL for the payout ledger.

use crate::money::Cents;
use std::collections::HashMap;

use chrono::NaiveDate;
use serde::Serialize;
use sqlx::{AnyPool, Row};
use utoipa::ToSchema;

use super::domain::{Approval, Paid};
use crate::db::{Tx, now_ms};
use crate::fhir::PaymentNotice;

#[derive(Debug, Serialize, ToSchema)]
pub struct EntryView {
    pub id: i64,
    pub case_id: Option<i64>,
    pub amount_cents: Cents,
    /// `YYYY-MM-DD`
    pub paid_date: String,
    /// `wallet | bank | unknown`
    pub destination_kind: String,
    /// e.g. `****1234` for a bank account; never the full number.
    pub destination_masked: Option<String>,
    /// This case had been paid before.
    pub paid_twice: bool,
}

pub struct RecordedPayment {
    pub entries: Vec<EntryView>,
    pub already_recorded: bool,
}

const ENTRY_COLUMNS: &str =
    "id, case_id, amount_cents, paid_date, destination_kind, destination_masked, duplicate_of";

fn entry(row: &sqlx::any::AnyRow) -> sqlx::Result<EntryView> {
    Ok(EntryView {
        id: row.try_get("id")?,
        case_id: row.try_get("case_id")?,
        amount_cents: row.try_get("amount_cents")?,
        paid_date: row.try_get("paid_date")?,
        destination_kind: row.try_get("destination_kind")?,
        destination_masked: row.try_get("destination_masked")?,
        paid_twice: row.try_get::<Option<i64>, _>("duplicate_of")?.is_some(),
    })
}

/// Records each detail of a payment notice; a notice with an identifier already recorded for
/// this insurer is a re-send and changes nothing. A payment for a case that was paid before
/// points at the earlier entry (`duplicate_of`).
pub async fn record_payment(
    tx: &mut Tx,
    insurer_id: i64,
    notice: &PaymentNotice,
) -> sqlx::Result<RecordedPayment> {
    let existing = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE insurer_id = $1 AND payment_identifier = $2 ORDER BY detail_no"
    )))
    .bind(insurer_id)
    .bind(&notice.identifier)
    .fetch_all(&mut **tx)
    .await?;
    if !existing.is_empty() {
        return Ok(RecordedPayment {
            entries: existing.iter().map(entry).collect::<sqlx::Result<_>>()?,
            already_recorded: true,
        });
    }
    let now = now_ms();
    let mut entries = Vec::new();
    for (i, d) in notice.details.iter().enumerate() {
        let earlier: Option<i64> = match d.case_id {
            Some(case_id) => {
                sqlx::query("SELECT MIN(id) AS id FROM ledger_entries WHERE case_id = $1")
                    .bind(case_id)
                    .fetch_one(&mut **tx)
                    .await?
                    .try_get("id")?
            }
            None => None,
        };
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO ledger_entries (insurer_id, case_id, payment_identifier, detail_no, amount_cents, paid_date,
             destination_kind, destination_masked, duplicate_of, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {ENTRY_COLUMNS}"
        )))
        .bind(insurer_id)
        .bind(d.case_id)
        .bind(&notice.identifier)
        .bind(i as i64 + 1)
        .bind(d.amount_cents)
        .bind(&d.date)
        .bind(d.destination.kind())
        .bind(d.destination.masked())
        .bind(earlier)
        .bind(now)
        .fetch_one(&mut **tx)
        .await?;
        entries.push(entry(&row)?);
    }
    Ok(RecordedPayment {
        entries,
        already_recorded: false,
    })
}

fn date(s: &str) -> sqlx::Result<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// Claims an insurer adjudicated with a payout (complete or partial).
pub async fn approvals(pool: &AnyPool, tz: chrono_tz::Tz) -> sqlx::Result<Vec<Approval>> {
    let rows = sqlx::query(
        "SELECT case_id, insurer_id, approved_cents, decided_at FROM insurer_claims
         WHERE status IN ('complete', 'partial') AND approved_cents IS NOT NULL AND decided_at IS NOT NULL",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let at: i64 = r.try_get("decided_at")?;
            let approved_on = chrono::DateTime::from_timestamp_millis(at)
                .unwrap_or_default()
                .with_timezone(&tz)
                .date_naive();
            Ok(Approval {
                case_id: r.try_get("case_id")?,
                insurer_id: r.try_get("insurer_id")?,
                approved_cents: r.try_get("approved_cents")?,
                approved_on,
            })
        })
        .collect()
}

/// Every ledger entry, oldest first.
pub async fn payments(pool: &AnyPool) -> sqlx::Result<Vec<Paid>> {
    let rows = sqlx::query(
        "SELECT id, case_id, insurer_id, amount_cents, paid_date FROM ledger_entries ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Paid {
                entry_id: r.try_get("id")?,
                case_id: r.try_get("case_id")?,
                insurer_id: r.try_get("insurer_id")?,
                amount_cents: r.try_get("amount_cents")?,
                paid_on: date(&r.try_get::<String, _>("paid_date")?)?,
            })
        })
        .collect()
}

/// Owed (approved) and paid per insurer.
#[derive(Debug, Serialize, ToSchema)]
pub struct InsurerBalance {
    pub insurer_id: i64,
    pub name: String,
    pub owed_cents: Cents,
    pub paid_cents: Cents,
}

pub async fn balances(pool: &AnyPool) -> sqlx::Result<Vec<InsurerBalance>> {
    let rows = sqlx::query(
        "SELECT i.id, i.name,
            (SELECT CAST(COALESCE(SUM(approved_cents), 0) AS BIGINT) FROM insurer_claims c
              WHERE c.insurer_id = i.id AND c.status IN ('complete', 'partial')) AS owed_cents,
            (SELECT CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT) FROM ledger_entries l
              WHERE l.insurer_id = i.id) AS paid_cents
         FROM insurers i ORDER BY i.id",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(InsurerBalance {
                insurer_id: r.try_get("id")?,
                name: r.try_get("name")?,
                owed_cents: r.try_get("owed_cents")?,
                paid_cents: r.try_get("paid_cents")?,
            })
        })
        .collect()
}

/// Owed and paid for one case by one insurer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseBalance {
    pub case_id: i64,
    /// The claimant's student id (login name); absent when a payment names an unknown case.
    pub student_id: Option<String>,
    pub insurer_id: i64,
    pub insurer_name: String,
    /// The insurer's claim status (`queued | complete | partial | error`); absent when this
    /// insurer paid a case it holds no claim for.
    pub claim_status: Option<String>,
    /// What the insurer approved (a complete or partial claim), else 0.
    pub owed_cents: Cents,
    /// Sum of this insurer's ledger entries for the case.
    pub paid_cents: Cents,
    /// How many ledger entries make up `paid_cents`.
    pub payments: i64,
    /// `YYYY-MM-DD` of the latest payment.
    pub last_paid_date: Option<String>,
    /// `owed_cents - paid_cents`: positive is still owed, negative is overpaid.
    pub balance_cents: Cents,
}

/// One page of per-case balances: the rows of up to `cases` cases after case `after` (every
/// insurer of a case on the same page), ordered by case then insurer; and whether more cases
/// follow.
pub async fn case_balances(
    pool: &AnyPool,
    insurer_id: Option<i64>,
    after: i64,
    cases: i64,
) -> sqlx::Result<(Vec<CaseBalance>, bool)> {
    let only_insurer = if insurer_id.is_some() {
        "AND insurer_id = $3"
    } else {
        ""
    };
    // A case is in the ledger once an insurer approved a payout for it or paid anything for it.
    let sql = format!(
        "WITH pairs AS (
            SELECT case_id, insurer_id FROM insurer_claims WHERE status IN ('complete', 'partial')
            UNION
            SELECT case_id, insurer_id FROM ledger_entries WHERE case_id IS NOT NULL
         ),
         shown AS (
            SELECT pairs.case_id, pairs.insurer_id FROM pairs
            WHERE pairs.case_id IN (
                SELECT DISTINCT case_id FROM pairs WHERE case_id > $1 {only_insurer}
                ORDER BY case_id LIMIT $2)
            {only_insurer}
         )
         SELECT s.case_id, s.insurer_id, i.name AS insurer_name, u.username, ic.status AS claim_status,
            CASE WHEN ic.status IN ('complete', 'partial') THEN ic.approved_cents END AS approved_cents,
            paid.paid_cents, paid.payments, paid.last_paid_date
         FROM shown s
         JOIN insurers i ON i.id = s.insurer_id
         LEFT JOIN insurer_claims ic ON ic.case_id = s.case_id AND ic.insurer_id = s.insurer_id
         LEFT JOIN cases c ON c.id = s.case_id
         LEFT JOIN users u ON u.id = c.student_id
         LEFT JOIN (
            SELECT case_id, insurer_id, CAST(SUM(amount_cents) AS BIGINT) AS paid_cents,
                CAST(COUNT(*) AS BIGINT) AS payments, MAX(paid_date) AS last_paid_date
            FROM ledger_entries WHERE case_id IN (SELECT case_id FROM shown)
            GROUP BY case_id, insurer_id
         ) paid ON paid.case_id = s.case_id AND paid.insurer_id = s.insurer_id
         ORDER BY s.case_id, s.insurer_id"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(after)
        .bind(cases + 1);
    if let Some(id) = insurer_id {
        query = query.bind(id);
    }
    let rows = query.fetch_all(pool).await?;
    let mut items = rows
        .iter()
        .map(|r| {
            let owed: Cents = r
                .try_get::<Option<Cents>, _>("approved_cents")?
                .unwrap_or_default();
            let paid: Cents = r
                .try_get::<Option<Cents>, _>("paid_cents")?
                .unwrap_or_default();
            Ok(CaseBalance {
                case_id: r.try_get("case_id")?,
                student_id: r.try_get("username")?,
                insurer_id: r.try_get("insurer_id")?,
                insurer_name: r.try_get("insurer_name")?,
                claim_status: r.try_get("claim_status")?,
                owed_cents: owed,
                paid_cents: paid,
                payments: r.try_get::<Option<i64>, _>("payments")?.unwrap_or(0),
                last_paid_date: r.try_get("last_paid_date")?,
                balance_cents: owed - paid,
            })
        })
        .collect::<sqlx::Result<Vec<_>>>()?;
    // One case more than asked for was read to learn whether there are more: leave it out.
    let mut case_ids: Vec<i64> = items.iter().map(|b| b.case_id).collect();
    case_ids.dedup();
    let more = case_ids.len() as i64 > cases;
    if more {
        let last = case_ids[cases as usize];
        items.retain(|b| b.case_id < last);
    }
    Ok((items, more))
}

/// Insurer names and the student id of every case the ledger knows, to name the rows of the
/// reconciliation.
pub struct Names {
    pub insurers: HashMap<i64, String>,
    pub students: HashMap<i64, String>,
}

pub async fn names(pool: &AnyPool) -> sqlx::Result<Names> {
    let insurers = sqlx::query("SELECT id, name FROM insurers")
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("name")?)))
        .collect::<sqlx::Result<_>>()?;
    let students = sqlx::query(
        "SELECT c.id, u.username FROM cases c JOIN users u ON u.id = c.student_id
         WHERE c.id IN (SELECT case_id FROM insurer_claims)
            OR c.id IN (SELECT case_id FROM ledger_entries WHERE case_id IS NOT NULL)",
    )
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| Ok((r.try_get("id")?, r.try_get("username")?)))
    .collect::<sqlx::Result<_>>()?;
    Ok(Names { insurers, students })
}
