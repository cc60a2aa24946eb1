//! SQL for pushed visits: one row per (hospital, visit id) with the newest revision, every
//! revision's bundle kept sealed, and the lookup by the patient's blind index.

use crate::money::Cents;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

use super::bundle::Visit;
use crate::crypto::Keys;
use crate::db::{Tx, now_ms};

/// What a push did.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    Created { visit_id: i64 },
    Unchanged { visit_id: i64 },
    Amended { visit_id: i64, revision: i64 },
}

/// Blind index of a national id number, the same as `users.id_number_bidx`.
pub fn patient_index(keys: &Keys, id_number: &str) -> String {
    keys.blind_index("id_number", id_number)
}

/// Stores a visit, or amends it when the hospital sends changed content for the same visit id.
pub async fn save(
    tx: &mut Tx,
    keys: &Keys,
    hospital_id: i64,
    visit: &Visit,
    raw_bundle: &[u8],
) -> sqlx::Result<Pushed> {
    let sha = visit.content_hash(keys);
    let existing = sqlx::query(
        "SELECT id, content_sha256, revision FROM visits WHERE hospital_id = $1 AND hospital_visit_id = $2",
    )
    .bind(hospital_id)
    .bind(&visit.hospital_visit_id)
    .fetch_optional(&mut **tx)
    .await?;
    let now = now_ms();
    let patient_enc = keys.encrypt(
        &format!(
            "visits.patient_id|{hospital_id}|{}",
            visit.hospital_visit_id
        ),
        &visit.patient_id,
    );
    let bidx = patient_index(keys, &visit.patient_id);
    let pushed = match existing {
        Some(row) => {
            let id: i64 = row.try_get("id")?;
            let stored: String = row.try_get("content_sha256")?;
            if stored == sha || stored == visit.content_sha256() {
                return Ok(Pushed::Unchanged { visit_id: id });
            }
            let revision = row.try_get::<i64, _>("revision")? + 1;
            sqlx::query(
                "UPDATE visits SET patient_id_enc = $1, patient_id_bidx = $2, visit_date = $3, diagnosis_code = $4,
                 diagnosis_text = $5, invoice_no = $6, total_cents = $7, content_sha256 = $8, revision = $9, updated_at = $10
                 WHERE id = $11",
            )
            .bind(&patient_enc)
            .bind(&bidx)
            .bind(&visit.visit_date)
            .bind(crate::seal::seal_with(keys, &visit.diagnosis_code))
            .bind(visit.diagnosis_text.as_deref().map(|t| crate::seal::seal_with(keys, t)))
            .bind(&visit.invoice_no)
            .bind(visit.total_cents)
            .bind(&sha)
            .bind(revision)
            .bind(now)
            .bind(id)
            .execute(&mut **tx)
            .await?;
            sqlx::query("DELETE FROM visit_fee_lines WHERE visit_id = $1")
                .bind(id)
                .execute(&mut **tx)
                .await?;
            Pushed::Amended {
                visit_id: id,
                revision,
            }
        }
        None => {
            let row = sqlx::query(
                "INSERT INTO visits (hospital_id, hospital_visit_id, patient_id_enc, patient_id_bidx, visit_date,
                 diagnosis_code, diagnosis_text, invoice_no, total_cents, content_sha256, revision, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $11) RETURNING id",
            )
            .bind(hospital_id)
            .bind(&visit.hospital_visit_id)
            .bind(&patient_enc)
            .bind(&bidx)
            .bind(&visit.visit_date)
            .bind(crate::seal::seal_with(keys, &visit.diagnosis_code))
            .bind(visit.diagnosis_text.as_deref().map(|t| crate::seal::seal_with(keys, t)))
            .bind(&visit.invoice_no)
            .bind(visit.total_cents)
            .bind(&sha)
            .bind(now)
            .fetch_one(&mut **tx)
            .await?;
            Pushed::Created {
                visit_id: row.try_get("id")?,
            }
        }
    };
    let (visit_id, revision) = match pushed {
        Pushed::Created { visit_id } => (visit_id, 1),
        Pushed::Amended { visit_id, revision } => (visit_id, revision),
        Pushed::Unchanged { .. } => unreachable!("returned above"),
    };
    let lines: Vec<SealedLine> = visit
        .fee_lines
        .iter()
        .map(|line| SealedLine {
            code: line
                .code
                .as_deref()
                .map(|c| crate::seal::seal_with(keys, c)),
            display: crate::seal::seal_with(keys, &line.display),
            amount_cents: line.amount_cents,
        })
        .collect();
    insert_fee_lines(tx, LinesOf::Visit(visit_id), &lines).await?;
    let bundle_text = String::from_utf8_lossy(raw_bundle);
    sqlx::query(
        "INSERT INTO visit_revisions (visit_id, revision, content_sha256, bundle_enc, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(visit_id)
    .bind(revision)
    .bind(&sha)
    .bind(keys.encrypt(&format!("visit_revisions.bundle|{visit_id}|{revision}"), &bundle_text))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(pushed)
}

/// A fee line as stored: its code and text sealed.
pub struct SealedLine {
    pub code: Option<String>,
    pub display: String,
    pub amount_cents: Cents,
}

/// Whose fee lines: a pushed visit's, or those of the case made from it.
#[derive(Clone, Copy)]
pub enum LinesOf {
    Visit(i64),
    Case(i64),
}

/// Rows per statement of [`insert_fee_lines`]: five values each, well under either database's
/// limit on bound values.
const LINES_PER_STATEMENT: usize = 200;

/// Inserts `lines`, numbered from 1, a few hundred to a statement (one round trip for a
/// visit's usual handful).
pub async fn insert_fee_lines(tx: &mut Tx, of: LinesOf, lines: &[SealedLine]) -> sqlx::Result<()> {
    let (table, owner_column, owner) = match of {
        LinesOf::Visit(id) => ("visit_fee_lines", "visit_id", id),
        LinesOf::Case(id) => ("case_fee_lines", "case_id", id),
    };
    for (chunk_no, chunk) in lines.chunks(LINES_PER_STATEMENT).enumerate() {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {table} ({owner_column}, line_no, code, display, amount_cents) VALUES {}",
            crate::db::row_placeholders(chunk.len(), 5)
        )));
        for (i, line) in chunk.iter().enumerate() {
            let line_no = (chunk_no * LINES_PER_STATEMENT + i) as i64 + 1;
            query = query
                .bind(owner)
                .bind(line_no)
                .bind(line.code.clone())
                .bind(line.display.clone())
                .bind(line.amount_cents);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// The invoice number of one visit of the patient with this blind index.
pub async fn invoice_no_of(
    conn: &mut AnyConnection,
    visit_id: i64,
    bidx: &str,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT invoice_no FROM visits WHERE id = $1 AND patient_id_bidx = $2")
        .bind(visit_id)
        .bind(bidx)
        .fetch_optional(conn)
        .await
}

/// A visit as its patient sees it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct VisitView {
    pub id: i64,
    pub hospital_id: i64,
    pub hospital: String,
    pub hospital_level: crate::policy::HospitalLevel,
    pub hospital_visit_id: String,
    pub visit_date: String,
    pub diagnosis_code: String,
    pub diagnosis_text: Option<String>,
    pub invoice_no: String,
    pub total_cents: Cents,
    pub revision: i64,
    pub fee_lines: Vec<FeeLineView>,
    pub source: &'static str,
    /// The live case already claimed from this visit, if any.
    pub case_id: Option<i64>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = VisitFeeLineView)]
pub struct FeeLineView {
    pub code: Option<String>,
    pub display: String,
    pub amount_cents: Cents,
}

const VISIT_SELECT: &str = "SELECT v.id, v.hospital_id, h.name AS hospital, h.level AS hospital_level, v.hospital_visit_id,
        v.visit_date, v.diagnosis_code, v.diagnosis_text, v.invoice_no, v.total_cents, v.revision,
        (SELECT MIN(c.id) FROM cases c WHERE c.visit_id = v.id AND c.status <> 'withdrawn') AS case_id
     FROM visits v JOIN hospitals h ON h.id = v.hospital_id";

/// The visits whose patient has this blind index, newest first, ids below `before`.
pub async fn visits_of_patient(
    pool: &AnyPool,
    bidx: &str,
    before: i64,
    limit: i64,
) -> sqlx::Result<Vec<VisitView>> {
    let mut conn = pool.acquire().await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{VISIT_SELECT} WHERE v.patient_id_bidx = $1 AND v.id < $2 ORDER BY v.id DESC LIMIT $3"
    )))
    .bind(bidx)
    .bind(before)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let mut visits = Vec::with_capacity(rows.len());
    for row in rows {
        visits.push(to_view(&mut conn, &row).await?);
    }
    Ok(visits)
}

/// One visit of the patient with this blind index (another patient's visit is not found).
pub async fn visit_of_patient(
    conn: &mut AnyConnection,
    visit_id: i64,
    bidx: &str,
) -> sqlx::Result<Option<VisitView>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{VISIT_SELECT} WHERE v.id = $1 AND v.patient_id_bidx = $2"
    )))
    .bind(visit_id)
    .bind(bidx)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => Ok(Some(to_view(conn, &row).await?)),
        None => Ok(None),
    }
}

async fn to_view(conn: &mut AnyConnection, row: &AnyRow) -> sqlx::Result<VisitView> {
    let id: i64 = row.try_get("id")?;
    let fee_lines = sqlx::query(
        "SELECT code, display, amount_cents FROM visit_fee_lines WHERE visit_id = $1 ORDER BY line_no",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|l| {
        Ok(FeeLineView {
            code: l.try_get::<crate::seal::SealedOpt, _>("code")?.into(),
            display: l.try_get::<crate::seal::Sealed, _>("display")?.into(),
            amount_cents: l.try_get("amount_cents")?,
        })
    })
    .collect::<sqlx::Result<Vec<_>>>()?;
    Ok(VisitView {
        id,
        hospital_id: row.try_get("hospital_id")?,
        hospital: row.try_get("hospital")?,
        hospital_level: row.try_get("hospital_level")?,
        hospital_visit_id: row.try_get("hospital_visit_id")?,
        visit_date: row.try_get("visit_date")?,
        diagnosis_code: row
            .try_get::<crate::seal::Sealed, _>("diagnosis_code")?
            .into(),
        diagnosis_text: row
            .try_get::<crate::seal::SealedOpt, _>("diagnosis_text")?
            .into(),
        invoice_no: row.try_get("invoice_no")?,
        total_cents: row.try_get("total_cents")?,
        revision: row.try_get("revision")?,
        fee_lines,
        source: "hospital",
        case_id: row.try_get("case_id")?,
    })
}
