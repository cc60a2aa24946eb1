//! `GET /api/v1/reports/payouts.{xlsx,csv}` and `/reports/statistics.{xlsx,csv}` for finance
//! and admins. Rows stream from the database through a bounded channel to a blocking writer:
//! the CSV goes out chunk by chunk as rows arrive; the XLSX is written in constant-memory
//! mode to an anonymous temp file, which is then streamed.

use anyhow::Context;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::stream::{BoxStream, StreamExt};
use serde::Deserialize;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::domain::{CaseSums, DateRange, Lang, RangeError, Statistics, payout_headers};
use super::export::{self, CsvChunker, PayoutFormatter};
use super::store;
use crate::http::auth::FinanceReaders;
use crate::http::auth::RequireRole;
use crate::http::{AppResult, AppState, ErrorCode};

pub const XLSX_MIME: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
pub const CSV_MIME: &str = "text/csv; charset=utf-8";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(payouts_xlsx))
        .routes(routes!(payouts_csv))
        .routes(routes!(statistics_xlsx))
        .routes(routes!(statistics_csv))
        .merge(super::dashboard::router())
}

#[derive(Deserialize, IntoParams)]
pub struct ReportQuery {
    /// First approval date included, `YYYY-MM-DD` (deployment time zone); open when absent.
    pub from: Option<String>,
    /// Last approval date included, `YYYY-MM-DD`; open when absent.
    pub to: Option<String>,
    /// `zh-CN` or `en`; the user's own language when absent.
    pub lang: Option<String>,
}

/// The parsed filter and language, or 422 `invalid_date`.
pub fn filters(state: &AppState, lang: &str, q: &ReportQuery) -> AppResult<(DateRange, Lang)> {
    let range = DateRange::parse(q.from.as_deref(), q.to.as_deref(), state.settings.time_zone)
        .map_err(|e| match e {
            RangeError::BadDate(field) => ErrorCode::InvalidDate
                .with_message("Dates are YYYY-MM-DD.")
                .with_field(field, "not a YYYY-MM-DD date"),
            RangeError::Reversed => ErrorCode::InvalidDate
                .with_message("`from` is after `to`.")
                .with_field("from", "after to"),
        })?;
    let lang = Lang::from_code(q.lang.as_deref().unwrap_or(lang));
    Ok((range, lang))
}

/// Sends each item of `rows` into `tx` until the stream ends, fails (the error is sent on) or
/// the receiver is gone. The channel's bound is what keeps memory flat.
async fn pump<T: Send + 'static>(
    mut rows: BoxStream<'_, Result<T, sqlx::Error>>,
    tx: mpsc::Sender<anyhow::Result<T>>,
) {
    while let Some(item) = rows.next().await {
        let failed = item.is_err();
        if tx.send(item.context("reading export rows")).await.is_err() || failed {
            break;
        }
    }
}

/// A file download: its type, its name, never cached.
pub(crate) fn attachment(name: &str, mime: &'static str, body: Body, len: Option<u64>) -> Response {
    let mut response = (
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response();
    if let Some(len) = len {
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, len.into());
    }
    response
}

/// A finished file, streamed in 64 KiB reads.
pub fn file_body(file: std::fs::File) -> Body {
    let file = tokio::fs::File::from_std(file);
    let chunks = futures_util::stream::unfold(Some(file), |state| async move {
        let mut file = state?;
        let mut buf = vec![0u8; export::CSV_CHUNK];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    Body::from_stream(chunks)
}

pub(crate) fn xlsx_file_response(name: &str, file: std::fs::File) -> AppResult<Response> {
    let len = file.metadata().context("export file size")?.len();
    Ok(attachment(name, XLSX_MIME, file_body(file), Some(len)))
}

/// Payouts as XLSX: one row per approved invoice of every approved/booked/completed case
/// approved in the range; a totals row of formulas.
#[utoipa::path(get, path = "/api/v1/reports/payouts.xlsx", tag = "reports", params(ReportQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "XLSX workbook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
              (status = 403, body = crate::http::error::ErrorBodySchema),
              (status = 422, body = crate::http::error::ErrorBodySchema)))]
async fn payouts_xlsx(
    State(state): State<AppState>,
    user: RequireRole<FinanceReaders>,
    Query(q): Query<ReportQuery>,
) -> AppResult<Response> {
    let (range, lang) = filters(&state, &user.lang, &q)?;
    let org = crate::http::web::brand::load(&state.db.pool).await?.title();
    let fmt =
        PayoutFormatter::new(lang, state.settings.time_zone, state.keys.clone()).with_org(org);
    let (tx, mut rx) = mpsc::channel(1024);
    let writer = tokio::task::spawn_blocking(move || {
        export::payouts_xlsx(std::iter::from_fn(|| rx.blocking_recv()), fmt)
    });
    pump(store::payout_rows(&state.db.pool, &range), tx).await;
    let file = writer.await.context("export writer")??;
    tracing::info!(user_id = user.id, "payouts.xlsx exported");
    xlsx_file_response(&format!("payouts_{}.xlsx", range.file_part()), file)
}

/// Payouts as CSV (UTF-8 with BOM, yuan with two decimals), streamed as the rows come.
#[utoipa::path(get, path = "/api/v1/reports/payouts.csv", tag = "reports", params(ReportQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "CSV, UTF-8 with BOM", content_type = "text/csv"),
              (status = 403, body = crate::http::error::ErrorBodySchema),
              (status = 422, body = crate::http::error::ErrorBodySchema)))]
async fn payouts_csv(
    State(state): State<AppState>,
    user: RequireRole<FinanceReaders>,
    Query(q): Query<ReportQuery>,
) -> AppResult<Response> {
    let (range, lang) = filters(&state, &user.lang, &q)?;
    let mut fmt = PayoutFormatter::new(lang, state.settings.time_zone, state.keys.clone());
    let (rows_tx, mut rows_rx) = mpsc::channel(1024);
    let (chunks_tx, chunks_rx) = mpsc::channel::<std::io::Result<Bytes>>(8);
    let headers = payout_headers(lang);
    tokio::task::spawn_blocking(move || {
        let send = |chunk: std::io::Result<Vec<u8>>| {
            chunks_tx.blocking_send(chunk.map(Bytes::from)).is_ok()
        };
        let result = (|| -> anyhow::Result<()> {
            let mut csv = CsvChunker::new(&headers)?;
            while let Some(row) = rows_rx.blocking_recv() {
                csv.payout_row(&fmt.cells(&row?))?;
                if let Some(chunk) = csv.take_chunk()?
                    && !send(Ok(chunk))
                {
                    return Ok(()); // the client went away
                }
            }
            send(Ok(csv.finish()?));
            Ok(())
        })();
        if let Err(e) = result {
            tracing::error!(error = format!("{e:#}"), "payouts.csv failed mid-stream");
            send(Err(std::io::Error::other("export failed")));
        }
    });
    let db = state.db.clone();
    let stream_range = range.clone();
    tokio::spawn(async move { pump(store::payout_rows(&db.pool, &stream_range), rows_tx).await });
    tracing::info!(user_id = user.id, "payouts.csv export started");
    let body = futures_util::stream::unfold(chunks_rx, |mut rx| async move {
        rx.recv().await.map(|c| (c, rx))
    });
    Ok(attachment(
        &format!("payouts_{}.csv", range.file_part()),
        CSV_MIME,
        Body::from_stream(body),
        None,
    ))
}

/// Streams approved cases and adds them up (a few rows per hospital and month stay in memory).
async fn statistics(state: &AppState, range: &DateRange) -> AppResult<Statistics> {
    let tz = state.settings.time_zone;
    let mut stats = Statistics::default();
    let mut rows = store::case_sums(&state.db.pool, range);
    while let Some(row) = rows.next().await {
        let row = row?;
        stats.add(
            &CaseSums {
                hospital: row.hospital,
                level: row.hospital_level,
                approved_at: row.approved_at,
                invoices: row.invoices,
                total_cents: row.total_cents,
                covered_cents: row.total_cents - row.self_pay_cents,
                payout_cents: row.payout_cents.unwrap_or_default(),
            },
            tz,
        );
    }
    Ok(stats)
}

/// Statistics as XLSX: by hospital level, by hospital and by month of approval, one sheet each.
#[utoipa::path(get, path = "/api/v1/reports/statistics.xlsx", tag = "reports", params(ReportQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "XLSX workbook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
              (status = 403, body = crate::http::error::ErrorBodySchema),
              (status = 422, body = crate::http::error::ErrorBodySchema)))]
async fn statistics_xlsx(
    State(state): State<AppState>,
    user: RequireRole<FinanceReaders>,
    Query(q): Query<ReportQuery>,
) -> AppResult<Response> {
    let (range, lang) = filters(&state, &user.lang, &q)?;
    let stats = statistics(&state, &range).await?;
    let org = crate::http::web::brand::load(&state.db.pool).await?.title();
    let file =
        tokio::task::spawn_blocking(move || export::statistics_xlsx(&stats, lang, org.as_deref()))
            .await
            .context("statistics writer")??;
    xlsx_file_response(&format!("statistics_{}.xlsx", range.file_part()), file)
}

/// Statistics as one CSV with a section column (UTF-8 with BOM).
#[utoipa::path(get, path = "/api/v1/reports/statistics.csv", tag = "reports", params(ReportQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "CSV, UTF-8 with BOM", content_type = "text/csv"),
              (status = 403, body = crate::http::error::ErrorBodySchema),
              (status = 422, body = crate::http::error::ErrorBodySchema)))]
async fn statistics_csv(
    State(state): State<AppState>,
    user: RequireRole<FinanceReaders>,
    Query(q): Query<ReportQuery>,
) -> AppResult<Response> {
    let (range, lang) = filters(&state, &user.lang, &q)?;
    let stats = statistics(&state, &range).await?;
    let bytes = export::statistics_csv(&stats, lang)?;
    let len = bytes.len() as u64;
    Ok(attachment(
        &format!("statistics_{}.csv", range.file_part()),
        CSV_MIME,
        Body::from(bytes),
        Some(len),
    ))
}
