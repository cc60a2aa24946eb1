//! `/console/ledger` (finance and admins): balances per insurer, owed vs paid per case (paged),
//! and the reconciliation for a period with a link to the same as a workbook.

use crate::money::Cents;
use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::api::{self, CasesQuery, Reconciled, ReconciliationQuery};
use super::domain::Mismatch;
use super::export::kind_label;
use super::store::{self, Names};
use crate::http::auth::CurrentUser;
use crate::http::web::{ConsoleFrame, PageUser, Tr, render};
use crate::http::{AppError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/console/ledger", get(page))
}

/// The form's fields as typed: an empty field is "not given", not an error.
#[derive(Deserialize, Default)]
struct LedgerQuery {
    from: Option<String>,
    to: Option<String>,
    unpaid_after_days: Option<String>,
    cursor: Option<i64>,
    /// Only this insurer's cases in the per-case table.
    insurer_id: Option<i64>,
}

struct BalanceRow {
    insurer_id: Option<i64>,
    insurer: String,
    owed: String,
    paid: String,
    difference: String,
}

struct CaseRow {
    case_id: i64,
    student_id: String,
    insurer: String,
    status: String,
    owed: String,
    paid: String,
    payments: i64,
    last_paid: String,
    balance: String,
    settled: bool,
}

struct MismatchRow {
    kind: String,
    kind_code: &'static str,
    case_id: Option<i64>,
    student_id: String,
    insurer: String,
    approved: String,
    paid: String,
}

#[derive(Template)]
#[template(path = "ledger/console.html")]
struct LedgerPage<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    frame: ConsoleFrame,
    balances: Vec<BalanceRow>,
    totals: BalanceRow,
    cases: Vec<CaseRow>,
    /// The insurer the per-case table is limited to, by name.
    insurer_filter: Option<String>,
    next_cases: Option<String>,
    from: String,
    to: String,
    days: String,
    /// The reconciliation, when the filter was understood.
    mismatches: Option<Vec<MismatchRow>>,
    download: String,
}

fn money(cents: Cents) -> String {
    format!("¥{cents}")
}

fn maybe_money(cents: Option<Cents>) -> String {
    cents.map(money).unwrap_or_else(|| "—".into())
}

fn mismatch_row(tr: Tr, m: &Mismatch, names: &Names) -> MismatchRow {
    MismatchRow {
        kind: kind_label(tr, m.kind),
        kind_code: m.kind.as_str(),
        case_id: m.case_id,
        student_id: m
            .case_id
            .and_then(|c| names.students.get(&c).cloned())
            .unwrap_or_default(),
        insurer: names
            .insurers
            .get(&m.insurer_id)
            .cloned()
            .unwrap_or_else(|| format!("#{}", m.insurer_id)),
        approved: maybe_money(m.approved_cents),
        paid: maybe_money(m.paid_cents),
    }
}

/// The query string of a reconciliation as understood (parsed values only, so nothing needs
/// escaping).
fn filter_query(rec: &Reconciled) -> String {
    let day = |d: Option<chrono::NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    format!(
        "from={}&to={}&unpaid_after_days={}",
        day(rec.window.from),
        day(rec.window.to),
        rec.unpaid_after_days
    )
}

async fn page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    frame: ConsoleFrame,
    Query(q): Query<LedgerQuery>,
) -> Response {
    let blank = |s: &Option<String>| s.as_deref().map(str::trim).unwrap_or("").to_string();
    let (from, to, days) = (blank(&q.from), blank(&q.to), blank(&q.unpaid_after_days));
    let days_parsed = match days.as_str() {
        "" => Ok(None),
        d => d.parse::<i64>().map(Some),
    };
    let filter = days_parsed.map(|unpaid_after_days| ReconciliationQuery {
        from: q.from.clone(),
        to: q.to.clone(),
        unpaid_after_days,
    });
    let reconciled = match filter {
        Ok(f) => match api::reconcile_ledger(&state, &f).await {
            Ok(r) => Ok(r),
            Err(e) if e.status.is_client_error() => Err(tr.t("ledger.invalid_filter")),
            Err(e) => return e.into_response(),
        },
        Err(_) => Err(tr.t("ledger.invalid_filter")),
    };
    let cases_query = CasesQuery {
        insurer_id: q.insurer_id,
        cursor: q.cursor,
        limit: Some(50),
    };
    let loaded = async {
        let balances = store::balances(&state.db.pool).await?;
        let names = store::names(&state.db.pool).await?;
        let cases = api::case_page(&state, &cases_query).await?;
        Ok::<_, AppError>((balances, names, cases))
    };
    let (balances, names, cases) = match loaded.await {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let (owed, paid) = balances
        .iter()
        .fold((Cents::ZERO, Cents::ZERO), |(o, p), b| {
            (o + b.owed_cents, p + b.paid_cents)
        });
    let (mismatches, download, error) = match &reconciled {
        Ok(rec) => (
            Some(
                rec.items
                    .iter()
                    .map(|m| mismatch_row(tr, m, &names))
                    .collect(),
            ),
            format!(
                "/api/v1/admin/reconciliation.xlsx?{}&lang={}",
                filter_query(rec),
                tr.lang
            ),
            None,
        ),
        Err(msg) => (None, String::new(), Some(msg.clone())),
    };
    let only = q
        .insurer_id
        .map_or(String::new(), |i| format!("&insurer_id={i}"));
    let next_cases = cases.next_cursor.map(|c| match &reconciled {
        Ok(rec) => format!("/console/ledger?{}&cursor={c}{only}", filter_query(rec)),
        Err(_) => format!("/console/ledger?cursor={c}{only}"),
    });
    let insurer_filter = q.insurer_id.map(|i| {
        balances
            .iter()
            .find(|b| b.insurer_id == i)
            .map_or_else(|| format!("#{i}"), |b| b.name.clone())
    });
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = LedgerPage {
        tr,
        user: &user,
        frame: frame.with_error(error),
        balances: balances
            .iter()
            .map(|b| BalanceRow {
                insurer_id: Some(b.insurer_id),
                insurer: b.name.clone(),
                owed: money(b.owed_cents),
                paid: money(b.paid_cents),
                difference: money(b.owed_cents - b.paid_cents),
            })
            .collect(),
        totals: BalanceRow {
            insurer_id: None,
            insurer: tr.t("ledger.total"),
            owed: money(owed),
            paid: money(paid),
            difference: money(owed - paid),
        },
        cases: cases
            .items
            .iter()
            .map(|c| CaseRow {
                case_id: c.case_id,
                student_id: c.student_id.clone().unwrap_or_default(),
                insurer: c.insurer_name.clone(),
                status: tr.t(&format!(
                    "ledger.claim_status.{}",
                    c.claim_status.as_deref().unwrap_or("none")
                )),
                owed: money(c.owed_cents),
                paid: money(c.paid_cents),
                payments: c.payments,
                last_paid: c.last_paid_date.clone().unwrap_or_default(),
                balance: money(c.balance_cents),
                settled: c.balance_cents == Cents::ZERO,
            })
            .collect(),
        insurer_filter,
        next_cases,
        from,
        to,
        days: if days.is_empty() { "30".into() } else { days },
        mismatches,
        download,
    };
    (status, render(&page)).into_response()
}
