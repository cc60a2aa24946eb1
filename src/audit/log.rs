//! Reading the audit log: the filters the API and the auditor's page share (actor, case,
//! action, dates), keyset pages newest first, and the chain's verification status. What an
//! event shows is ids, usernames, verbs and codes — never medical content (see [`super::Event`]).

use serde::Serialize;
use utoipa::ToSchema;

use crate::db::Db;
use crate::http::{AppError, ErrorCode};
use chrono::{NaiveDate, TimeZone};

/// One event as the log shows it.
#[derive(Serialize, ToSchema, sqlx::FromRow)]
pub struct AuditEvent {
    pub seq: i64,
    /// RFC 3339.
    #[sqlx(skip)]
    pub at: String,
    #[serde(skip)]
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub summary: String,
    pub client_addr: Option<String>,
    pub hash: String,
}

/// Which events to list; every part is optional.
#[derive(Default)]
pub struct Filter {
    /// The actor's username (or a system actor's label), exactly.
    pub actor: Option<String>,
    /// Events on this case (`object_type = 'case'`).
    pub case_id: Option<i64>,
    /// A stable verb such as `case.submit`, exactly.
    pub action: Option<String>,
    /// From local midnight of the first day to local midnight after the last (the deployment's
    /// time zone), in Unix ms.
    pub range: Option<(i64, i64)>,
}

/// Unix ms of local midnight starting `day` in `tz`.
fn day_start_ms(day: NaiveDate, tz: chrono_tz::Tz) -> i64 {
    let midnight = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    tz.from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.timestamp_millis())
        .unwrap_or_else(|| midnight.and_utc().timestamp_millis())
}

fn parse_day(field: &'static str, value: Option<String>) -> Result<Option<NaiveDate>, AppError> {
    value
        .map(|v| {
            NaiveDate::parse_from_str(&v, "%Y-%m-%d")
                .ok()
                .filter(|_| v.len() == 10)
                .ok_or_else(|| {
                    ErrorCode::InvalidDate
                        .with_message("Dates are YYYY-MM-DD.")
                        .with_field(field, "not a YYYY-MM-DD date")
                })
        })
        .transpose()
}

fn non_empty(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl Filter {
    /// From the query's text values: 422 `invalid_input` for a case id that is not a number,
    /// `invalid_date` for a date that is not `YYYY-MM-DD` or a reversed range.
    pub fn parse(
        actor: Option<&str>,
        case_id: Option<&str>,
        action: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        tz: chrono_tz::Tz,
    ) -> Result<Filter, AppError> {
        let case_id = match non_empty(case_id) {
            None => None,
            Some(v) => Some(v.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
                ErrorCode::InvalidInput
                    .with_message("A case id is a positive number.")
                    .with_field("case_id", "not a case id")
            })?),
        };
        let from = parse_day("from", non_empty(from))?;
        let to = parse_day("to", non_empty(to))?;
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            return Err(ErrorCode::InvalidDate
                .with_message("`from` is after `to`.")
                .with_field("from", "after to"));
        }
        let range = (from.is_some() || to.is_some()).then(|| {
            (
                from.map(|d| day_start_ms(d, tz)).unwrap_or(i64::MIN),
                to.and_then(|d| d.succ_opt())
                    .map(|d| day_start_ms(d, tz))
                    .unwrap_or(i64::MAX),
            )
        });
        Ok(Filter {
            actor: non_empty(actor),
            case_id,
            action: non_empty(action),
            range,
        })
    }
}

/// One page of events matching `filter`, newest first, before sequence number `cursor`; and
/// the cursor of the next page when there is one.
pub async fn page(
    db: &Db,
    filter: &Filter,
    cursor: Option<i64>,
    limit: i64,
) -> Result<(Vec<AuditEvent>, Option<i64>), sqlx::Error> {
    // The log shows the chain: what was written up to now is sealed into it first.
    super::seal(db).await?;
    // Only the conditions asked for, so each search can use its index (migration 0012).
    let mut conditions = vec!["seq < $1".to_string()];
    let mut next = 2;
    let mut condition = |sql: &str| {
        conditions.push(sql.replace('?', &format!("${next}")));
        next += 1;
    };
    if filter.actor.is_some() {
        condition("actor = ?");
    }
    if filter.case_id.is_some() {
        condition("object_type = 'case' AND object_id = ?");
    }
    if filter.action.is_some() {
        condition("action = ?");
    }
    if filter.range.is_some() {
        condition("at >= ?");
        condition("at < ?");
    }
    let sql = format!(
        "SELECT seq, at AS at_ms, actor, action, object_type, object_id, summary, client_addr, hash
         FROM audit_events WHERE {} ORDER BY seq DESC LIMIT ${next}",
        conditions.join(" AND ")
    );
    // Only literal conditions and placeholder numbers above; every value is bound.
    let mut query =
        sqlx::query_as::<_, AuditEvent>(sqlx::AssertSqlSafe(sql)).bind(cursor.unwrap_or(i64::MAX));
    if let Some(actor) = &filter.actor {
        query = query.bind(actor.clone());
    }
    if let Some(case_id) = filter.case_id {
        query = query.bind(case_id.to_string());
    }
    if let Some(action) = &filter.action {
        query = query.bind(action.clone());
    }
    if let Some((start, end)) = filter.range {
        query = query.bind(start).bind(end);
    }
    let mut items = query.bind(limit + 1).fetch_all(&db.pool).await?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|e| e.seq)
    } else {
        None
    };
    for e in &mut items {
        e.at = crate::http::web::rfc3339(e.at_ms);
    }
    Ok((items, next_cursor))
}

/// The chain's verification status: `ok` with the number of events, or `broken` at the first
/// event (by sequence number) where it no longer holds.
#[derive(Serialize, ToSchema)]
pub struct ChainStatus {
    /// `ok` or `broken`.
    pub status: &'static str,
    /// Events checked (when `ok`).
    pub events: Option<i64>,
    /// The sequence number where the chain breaks (when `broken`).
    pub broken_at: Option<i64>,
    /// Why it breaks, in English (when `broken`).
    pub why: Option<String>,
    /// How long the verification took, in milliseconds.
    pub took_ms: i64,
}

/// Recomputes the whole chain ([`super::verify`]).
pub async fn chain_status(db: &Db) -> anyhow::Result<ChainStatus> {
    let started = std::time::Instant::now();
    let verdict = super::verify(db).await?;
    let took_ms = started.elapsed().as_millis() as i64;
    Ok(match verdict {
        super::Verdict::Intact { events } => ChainStatus {
            status: "ok",
            events: Some(events),
            broken_at: None,
            why: None,
            took_ms,
        },
        super::Verdict::Broken { seq, why, .. } => ChainStatus {
            status: "broken",
            events: None,
            broken_at: Some(seq),
            why: Some(why),
            took_ms,
        },
    })
}
