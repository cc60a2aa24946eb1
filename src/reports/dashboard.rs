//! The staff dashboard: claims per week, payout by hospital level this year, the review backlog
//! and the age of its oldest case per level, and bookings per day for the next two weeks.
//! `GET /api/v1/dashboard` answers the numbers; `/console/dashboard` draws them as SVG bars
//! rendered on the server, each chart with its table.

use crate::money::Cents;
use axum::Json;
use axum::extract::State;
use chrono::{Datelike, Duration, NaiveDate};
use serde::Serialize;
use sqlx::AnyPool;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::domain::{Lang, day_start_ms, level_label};
use crate::db::now_ms;
use crate::http::auth::RequireRole;
use crate::http::auth::Staff;
use crate::http::{AppResult, AppState};

pub const WEEKS: i64 = 12;
pub const BOOKING_DAYS: i64 = 14;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(dashboard))
}

#[derive(Serialize, ToSchema, Clone)]
pub struct WeekClaims {
    /// Monday the week starts on (local).
    pub week_start: String,
    /// Cases first submitted that week.
    pub claims: i64,
}

#[derive(Serialize, ToSchema, Clone)]
pub struct LevelPayout {
    /// 0–3; `null` when not set.
    pub level: Option<i64>,
    pub cases: i64,
    pub payout_cents: Cents,
}

#[derive(Serialize, ToSchema, Clone)]
pub struct Backlog {
    /// Review level 1 (`submitted`) or 2 (`level2`).
    pub level: i64,
    pub cases: i64,
    /// When the longest-waiting case was (re)submitted, RFC 3339.
    pub oldest_submitted_at: Option<String>,
    /// Its age in whole hours.
    pub oldest_age_hours: Option<i64>,
}

#[derive(Serialize, ToSchema, Clone)]
pub struct DayBookings {
    pub date: String,
    pub booked: i64,
    pub capacity: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Dashboard {
    pub claims_per_week: Vec<WeekClaims>,
    /// Cases approved since 1 January (local) by hospital level.
    pub payout_by_level: Vec<LevelPayout>,
    pub backlog: Vec<Backlog>,
    pub bookings_per_day: Vec<DayBookings>,
}

/// The dashboard numbers for staff.
#[utoipa::path(get, path = "/api/v1/dashboard", tag = "reports", security(("bearer" = [])),
    responses((status = 200, body = Dashboard), (status = 403, body = crate::http::error::ErrorBodySchema)))]
async fn dashboard(
    State(state): State<AppState>,
    _staff: RequireRole<Staff>,
) -> AppResult<Json<Dashboard>> {
    Ok(Json(load(&state).await?))
}

pub async fn load(state: &AppState) -> Result<Dashboard, sqlx::Error> {
    let tz = state.settings.time_zone;
    let now = now_ms();
    let today = chrono::Utc::now().with_timezone(&tz).date_naive();
    let pool = &state.db.pool;
    Ok(Dashboard {
        claims_per_week: claims_per_week(pool, today, tz).await?,
        payout_by_level: payout_by_level(pool, today, tz).await?,
        backlog: backlog(pool, now).await?,
        bookings_per_day: bookings_per_day(pool, today).await?,
    })
}

async fn claims_per_week(
    pool: &AnyPool,
    today: NaiveDate,
    tz: chrono_tz::Tz,
) -> Result<Vec<WeekClaims>, sqlx::Error> {
    let this_monday = today - Duration::days(today.weekday().num_days_from_monday() as i64);
    let first_monday = this_monday - Duration::weeks(WEEKS - 1);
    let origin = day_start_ms(first_monday, tz);
    // Whole weeks of milliseconds from the first Monday (exact where the zone has no DST).
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT w, COUNT(*) FROM
            (SELECT (first_submitted_at - $1) / 604800000 AS w FROM cases WHERE first_submitted_at >= $1) t
         GROUP BY w",
    )
    .bind(origin)
    .fetch_all(pool)
    .await?;
    Ok((0..WEEKS)
        .map(|w| WeekClaims {
            week_start: (first_monday + Duration::weeks(w)).to_string(),
            claims: rows.iter().find(|r| r.0 == w).map(|r| r.1).unwrap_or(0),
        })
        .collect())
}

async fn payout_by_level(
    pool: &AnyPool,
    today: NaiveDate,
    tz: chrono_tz::Tz,
) -> Result<Vec<LevelPayout>, sqlx::Error> {
    let jan1 = NaiveDate::from_ymd_opt(today.year(), 1, 1).expect("1 January");
    let rows: Vec<(Option<i64>, i64, Cents)> = sqlx::query_as(
        "SELECT hospital_level, COUNT(*), CAST(COALESCE(SUM(payout_cents), 0) AS BIGINT)
         FROM cases WHERE status IN ('approved', 'booked', 'completed', 'paid') AND approved_at >= $1
         GROUP BY hospital_level",
    )
    .bind(day_start_ms(jan1, tz))
    .fetch_all(pool)
    .await?;
    let mut out: Vec<LevelPayout> = [1, 2, 3, 0]
        .into_iter()
        .map(|l| {
            let row = rows.iter().find(|r| r.0 == Some(l));
            LevelPayout {
                level: Some(l),
                cases: row.map(|r| r.1).unwrap_or(0),
                payout_cents: row.map(|r| r.2).unwrap_or_default(),
            }
        })
        .collect();
    if let Some(unset) = rows.iter().find(|r| r.0.is_none()) {
        out.push(LevelPayout {
            level: None,
            cases: unset.1,
            payout_cents: unset.2,
        });
    }
    Ok(out)
}

async fn backlog(pool: &AnyPool, now: i64) -> Result<Vec<Backlog>, sqlx::Error> {
    let rows: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT status, COUNT(*), MIN(COALESCE(submitted_at, updated_at)) FROM cases
         WHERE status IN ('submitted', 'level2') AND insurer_id IS NULL GROUP BY status",
    )
    .fetch_all(pool)
    .await?;
    Ok([(1, "submitted"), (2, "level2")]
        .into_iter()
        .map(|(level, status)| {
            let row = rows.iter().find(|r| r.0 == status);
            let oldest = row.and_then(|r| r.2);
            Backlog {
                level,
                cases: row.map(|r| r.1).unwrap_or(0),
                oldest_submitted_at: oldest.map(crate::http::web::rfc3339),
                oldest_age_hours: oldest.map(|t| (now - t).max(0) / 3_600_000),
            }
        })
        .collect())
}

async fn bookings_per_day(
    pool: &AnyPool,
    today: NaiveDate,
) -> Result<Vec<DayBookings>, sqlx::Error> {
    let last = today + Duration::days(BOOKING_DAYS - 1);
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT slot_date, CAST(SUM(booked) AS BIGINT), CAST(SUM(capacity) AS BIGINT) FROM slots
         WHERE slot_date >= $1 AND slot_date <= $2 GROUP BY slot_date",
    )
    .bind(today.to_string())
    .bind(last.to_string())
    .fetch_all(pool)
    .await?;
    Ok((0..BOOKING_DAYS)
        .map(|d| {
            let date = (today + Duration::days(d)).to_string();
            let row = rows.iter().find(|r| r.0 == date);
            DayBookings {
                booked: row.map(|r| r.1).unwrap_or(0),
                capacity: row.map(|r| r.2).unwrap_or(0),
                date,
            }
        })
        .collect())
}

/// A bar chart laid out for the SVG template: coordinates in a 640×220 view box.
pub struct Chart {
    pub bars: Vec<Bar>,
    pub max_label: String,
}

pub struct Bar {
    pub x: i64,
    pub y: i64,
    pub width: i64,
    pub height: i64,
    pub label: String,
    pub label_x: i64,
    pub value: String,
}

pub const CHART_BASE: i64 = 190;
const CHART_TOP: i64 = 20;
const CHART_LEFT: i64 = 40;
const CHART_WIDTH: i64 = 590;

/// Lays out `(label, value, value shown)` as bars scaled to the largest value.
pub fn chart(points: &[(String, i64, String)]) -> Chart {
    let max = points.iter().map(|p| p.1).max().unwrap_or(0).max(1);
    let slot = CHART_WIDTH / (points.len().max(1) as i64);
    let width = (slot * 7 / 10).max(2);
    let bars = points
        .iter()
        .enumerate()
        .map(|(i, (label, value, shown))| {
            let height = (value.max(&0) * (CHART_BASE - CHART_TOP)) / max;
            let x = CHART_LEFT + i as i64 * slot + (slot - width) / 2;
            Bar {
                x,
                y: CHART_BASE - height,
                width,
                height,
                label: label.clone(),
                label_x: x + width / 2,
                value: shown.clone(),
            }
        })
        .collect();
    let max_shown = points
        .iter()
        .find(|p| p.1 == max)
        .map(|p| p.2.clone())
        .unwrap_or_else(|| "0".into());
    Chart {
        bars,
        max_label: max_shown,
    }
}

impl Dashboard {
    pub fn claims_chart(&self) -> Chart {
        chart(
            &self
                .claims_per_week
                .iter()
                .map(|w| {
                    (
                        w.week_start[5..].to_string(),
                        w.claims,
                        w.claims.to_string(),
                    )
                })
                .collect::<Vec<_>>(),
        )
    }
    pub fn payout_chart(&self, lang: &Lang) -> Chart {
        chart(
            &self
                .payout_by_level
                .iter()
                .map(|l| {
                    (
                        level_label(l.level, *lang).to_string(),
                        l.payout_cents.get(),
                        l.payout_cents.to_string(),
                    )
                })
                .collect::<Vec<_>>(),
        )
    }
    pub fn bookings_chart(&self) -> Chart {
        chart(
            &self
                .bookings_per_day
                .iter()
                .map(|d| (d.date[5..].to_string(), d.booked, d.booked.to_string()))
                .collect::<Vec<_>>(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_value() {
        let c = chart(&[
            ("a".into(), 0, "0".into()),
            ("b".into(), 5, "5".into()),
            ("c".into(), 10, "10".into()),
        ]);
        assert_eq!(c.bars[0].height, 0);
        assert_eq!(c.bars[2].height, CHART_BASE - CHART_TOP);
        assert_eq!(c.bars[1].height * 2, c.bars[2].height);
        assert_eq!(c.bars[2].y + c.bars[2].height, CHART_BASE);
        assert_eq!(c.max_label, "10");
    }
}
