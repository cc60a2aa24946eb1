//! `GET /api/v1/search?q=` for staff: cases with their invoices, found by invoice number
//! (exact or prefix), student id (exact or prefix) or student name (its beginning, else any part
//! of it, e.g. a Chinese given name). Drafts are the student's own business and never shown.
//!
//! Which index serves which query (so it stays fast with a million invoices):
//! - invoice number, exact and prefix: a range `invoice_no >= q AND invoice_no < q⁺` (q with
//!   its last character incremented) on `invoices_no_idx (invoice_no)` — a btree range scan on
//!   SQLite (BINARY) and PostgreSQL (C collation, as created by the test and deploy scripts);
//!   a plain `LIKE 'q%'` would not use the index on either. Then `cases` by primary key.
//! - student id, exact and prefix: the same range on the UNIQUE index of `users (username)`,
//!   then `cases_student_idx (student_id, created_at)`.
//! - student name: names starting with q (a full name, a surname) by the same range on
//!   `users_name_idx (name)`; only when none does, the substring `LIKE '%q%'` (a given name
//!   alone), which cannot use a btree and scans `users` — one row per student, never the
//!   invoices. Either way the cases come through `cases_student_idx` and the invoices through
//!   `invoices_case_idx (case_id)`. Digits that found an invoice or a student id are not
//!   looked for among the names, and digits alone are never looked for *inside* names: a
//!   number that found nothing (an invoice of a draft, a mistyped id) must not cost a scan of
//!   every person (it did, 0.2–1 s at 1,300,000 people: the PostgreSQL tail of issue 19).

use crate::money::Cents;
use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::store;
use super::view::StudentRef;
use crate::claims::{CaseStatus, InvoiceStatus};
use crate::http::auth::RequireRole;
use crate::http::auth::Staff;
use crate::http::web::rfc3339;
use crate::http::{AppResult, AppState, ErrorCode};
use crate::ids::CaseId;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search))
}

/// At most this many cases per answer.
const MAX_CASES: usize = 50;

#[derive(Deserialize, IntoParams)]
pub struct SearchQuery {
    /// Invoice number (or its beginning), student id (or its beginning), or part of a name.
    pub q: String,
}

#[derive(Serialize, ToSchema)]
pub struct InvoiceHit {
    pub id: i64,
    pub invoice_no: String,
    pub total_cents: Cents,
    pub self_pay_cents: Cents,
    pub status: InvoiceStatus,
}

#[derive(Serialize, ToSchema)]
pub struct CaseHit {
    pub id: i64,
    pub status: CaseStatus,
    pub hospital: String,
    pub visit_date: String,
    pub submitted_at: Option<String>,
    pub payout_cents: Option<Cents>,
    pub student: StudentRef,
    pub invoices: Vec<InvoiceHit>,
    /// What matched: `invoice_no`, `student_id` or `student_name`.
    pub matched: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct SearchResult {
    pub items: Vec<CaseHit>,
    /// Search answers at most 50 cases; refine the query for more.
    pub next_cursor: Option<String>,
}

/// The exclusive upper bound of all strings starting with `prefix`.
fn prefix_end(prefix: &str) -> String {
    let mut chars: Vec<char> = prefix.chars().collect();
    match chars.pop().and_then(|c| char::from_u32(c as u32 + 1)) {
        Some(next) => {
            chars.push(next);
            chars.into_iter().collect()
        }
        None => format!("{prefix}\u{FFFF}"),
    }
}

fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// The case ids `sql` finds for a key in `[from, to)` (`$1`, `$2`), at most `limit` (`$3`).
async fn in_range(
    pool: &sqlx::AnyPool,
    sql: &'static str,
    (from, to, limit): (&str, &str, i64),
) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar(sql)
        .bind(from)
        .bind(to)
        .bind(limit)
        .fetch_all(pool)
        .await
}

pub async fn run(state: &AppState, q: &str) -> AppResult<Vec<CaseHit>> {
    let q = q.trim();
    if q.is_empty() || q.chars().count() > 64 {
        return Err(ErrorCode::InvalidInput
            .with_message("Type 1–64 characters.")
            .with_field("q", "1–64 characters"));
    }
    let pool = &state.db.pool;
    let hi = prefix_end(q);
    let limit = MAX_CASES as i64;
    let by_invoice = in_range(
        pool,
        "SELECT DISTINCT i.case_id FROM invoices i JOIN cases c ON c.id = i.case_id
         WHERE i.invoice_no >= $1 AND i.invoice_no < $2 AND c.status <> 'draft'
         ORDER BY i.case_id DESC LIMIT $3",
        (q, &hi, limit),
    )
    .await?;
    let by_student_id = in_range(
        pool,
        "SELECT c.id FROM users u JOIN cases c ON c.student_id = u.id
         WHERE u.username >= $1 AND u.username < $2 AND c.status <> 'draft'
         ORDER BY c.id DESC LIMIT $3",
        (q, &hi, limit),
    )
    .await?;
    // Digits alone are a number being looked up: when they found an invoice or a student id,
    // names (which a scan of every person would search) are not asked.
    let digits = q.bytes().all(|b| b.is_ascii_digit());
    let number_found = digits && !(by_invoice.is_empty() && by_student_id.is_empty());
    let by_name: Vec<i64> = if number_found {
        Vec::new()
    } else {
        // The people first, then their cases by the student index (not every case tested
        // against its student's name). Names starting with the query (a full name, a surname)
        // are read from the name index; only when none does is every name searched for the
        // query inside it (a given name alone), and never for digits alone.
        let starting = in_range(
            pool,
            "SELECT c.id FROM cases c
             WHERE c.student_id IN (SELECT u.id FROM users u WHERE u.name >= $1 AND u.name < $2)
               AND c.status <> 'draft'
             ORDER BY c.id DESC LIMIT $3",
            (q, &hi, limit),
        )
        .await?;
        if starting.is_empty() && !digits {
            sqlx::query_scalar(
                "SELECT c.id FROM cases c
                 WHERE c.student_id IN (SELECT u.id FROM users u WHERE u.name LIKE $1 ESCAPE '\\')
                   AND c.status <> 'draft'
                 ORDER BY c.id DESC LIMIT $2",
            )
            .bind(format!("%{}%", like_escape(q)))
            .bind(limit)
            .fetch_all(pool)
            .await?
        } else {
            starting
        }
    };
    let mut seen = std::collections::HashSet::new();
    let mut found = Vec::new();
    for (ids, matched) in [
        (by_invoice, "invoice_no"),
        (by_student_id, "student_id"),
        (by_name, "student_name"),
    ] {
        for id in ids {
            if found.len() < MAX_CASES && seen.insert(id) {
                found.push((CaseId::new(id), matched));
            }
        }
    }
    load_hits(state, found).await
}

/// The hits' cases, students and invoices: three queries for the whole answer.
async fn load_hits(
    state: &AppState,
    found: Vec<(CaseId, &'static str)>,
) -> AppResult<Vec<CaseHit>> {
    use std::collections::HashMap;
    let pool = &state.db.pool;
    let ids: Vec<CaseId> = found.iter().map(|(id, _)| *id).collect();
    let mut cases: HashMap<CaseId, _> = crate::claims::store::cases_by_ids(pool, &ids)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let mut students: Vec<i64> = cases.values().map(|c| c.student_id).collect();
    students.sort_unstable();
    students.dedup();
    let names = store::students_of(pool, &students).await?;
    let mut invoices: HashMap<CaseId, Vec<InvoiceHit>> = HashMap::new();
    for i in crate::claims::store::invoices_of_cases(pool, &ids).await? {
        let i = i.invoice;
        invoices.entry(i.case_id).or_default().push(InvoiceHit {
            id: i.id.get(),
            invoice_no: i.invoice_no.to_string(),
            total_cents: i.total_cents,
            self_pay_cents: i.self_pay_cents,
            status: i.status,
        });
    }
    let mut hits = Vec::with_capacity(found.len());
    for (id, matched) in found {
        let Some(case) = cases.remove(&id) else {
            continue;
        };
        let (username, name) = names.get(&case.student_id).cloned().unwrap_or_default();
        hits.push(CaseHit {
            id: id.get(),
            status: case.status,
            hospital: case.hospital,
            visit_date: case.visit_date,
            submitted_at: case.submitted_at.map(rfc3339),
            payout_cents: case.payout_cents,
            student: StudentRef {
                id: case.student_id,
                username,
                name,
            },
            invoices: invoices.remove(&id).unwrap_or_default(),
            matched,
        });
    }
    Ok(hits)
}

/// Cases matching an invoice number, a student id or part of a student's name.
#[utoipa::path(get, path = "/api/v1/search", tag = "review", params(SearchQuery), security(("bearer" = [])),
    responses((status = 200, body = SearchResult), (status = 403, body = crate::http::error::ErrorBodySchema),
              (status = 422, body = crate::http::error::ErrorBodySchema)))]
async fn search(
    State(state): State<AppState>,
    _staff: RequireRole<Staff>,
    Query(q): Query<SearchQuery>,
) -> AppResult<Json<SearchResult>> {
    Ok(Json(SearchResult {
        items: run(&state, &q.q).await?,
        next_cursor: None,
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefix_bounds() {
        assert_eq!(super::prefix_end("0123"), "0124");
        assert_eq!(super::prefix_end("A9"), "A:");
        assert!("0123999" < super::prefix_end("0123").as_str());
        assert_eq!(super::like_escape("5%_\\"), "5\\%\\_\\\\");
    }
}
