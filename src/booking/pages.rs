//! Pages: the student's booking page (mobile) and the console's slots, bulk form and roster
//! (desktop). Forms post back and redirect with a flash code, so the pages work without
//! JavaScript; every form carries the session's CSRF token.

use crate::money::Cents;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::api::{Roster, load_roster};
use super::contact::{self, SlotNotice, invalid_notice};
use super::domain::{self, BulkSpec, SlotNoticeText, SlotSpec};
use super::service::{self, BookingView, SlotView};
use super::store::{self, BookableCase};
use crate::db::now_ms;
use crate::http::auth::CsrfForm;
use crate::http::auth::{CurrentUser, Role};
use crate::http::web::{ConsoleFrame, Flash, NoFields, PageUser, Tr, back, render};
use crate::http::{AppError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/app/booking", get(student_page).post(student_book))
        .route("/app/booking/{id}/cancel", post(student_cancel))
        .route("/console/slots", get(slots_page).post(create_slot))
        .route("/console/slots/bulk", post(create_bulk))
        .route("/console/slots/{id}", get(roster_page))
        .route("/console/slots/{id}/capacity", post(change_capacity))
        .route("/console/slots/{id}/delete", post(delete_slot))
        .route("/console/slots/{id}/message", post(message_slot))
        .route("/console/slots/{id}/cancel", post(cancel_slot))
        .route("/console/bookings/{id}/complete", post(complete))
        .route("/console/bookings/{id}/no-show", post(no_show))
}

const DESK: [Role; 3] = [Role::Reviewer1, Role::Reviewer2, Role::Admin];

pub fn yuan(cents: &Option<Cents>) -> String {
    cents.map(|c| format!("¥{c}")).unwrap_or_else(|| "—".into())
}

// ---------- student ----------

#[derive(Template)]
#[template(path = "booking/student.html")]
struct StudentPage<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    ok: Option<String>,
    error: Option<String>,
    cases: Vec<BookableCase>,
    slots: Vec<SlotView>,
    bookings: Vec<BookingView>,
    /// Where to hand in and when the office is open.
    brand: crate::http::web::Branding,
}

async fn student_page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    Query(flash): Query<Flash>,
) -> Response {
    let load = async {
        let today = domain::today(state.settings.time_zone, now_ms());
        let tz = state.settings.time_zone;
        let now = now_ms();
        let mut slots = store::list_slots(&state.db.pool, &today, None, 300, false).await?;
        // Only slots that have not begun can be booked.
        slots.retain(|s| {
            domain::slot_start_ms(tz, &s.slot_date, &s.start_time).is_some_and(|t| t > now)
        });
        let cases = store::bookable_cases(&state.db.pool, user.id).await?;
        let bookings = store::bookings_of(&state.db.pool, user.id).await?;
        Ok::<_, sqlx::Error>((slots, cases, bookings))
    };
    let (slots, cases, bookings) = match load.await {
        Ok(v) => v,
        Err(e) => return AppError::from(e).into_response(),
    };
    let (ok, error) = flash.message(&tr, "booking");
    render(&StudentPage {
        tr,
        user: &user,
        ok,
        error,
        cases,
        slots: slots.into_iter().map(SlotView::from).collect(),
        bookings: bookings.into_iter().map(BookingView::from).collect(),
        brand: crate::http::web::brand::load(&state.db.pool)
            .await
            .unwrap_or_default(),
    })
}

#[derive(Deserialize)]
struct BookForm {
    slot_id: i64,
    case_id: i64,
}

async fn student_book(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<BookForm>,
) -> Response {
    let result = service::book(&state, &user.actor(), form.slot_id, form.case_id).await;
    back("/app/booking", result.map(|_| "booked_ok"))
}

/// A form with nothing but its CSRF token.
async fn student_cancel(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, .. }: CsrfForm<NoFields>,
) -> Response {
    let result = service::cancel(&state, &user.actor(), id).await;
    back("/app/booking", result.map(|_| "cancelled_ok"))
}

// ---------- console: slots ----------

#[derive(Template)]
#[template(path = "booking/console_slots.html")]
struct SlotsPage<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    frame: ConsoleFrame,
    is_admin: bool,
    slots: Vec<SlotView>,
    weekdays: [u32; 7],
}

async fn slots_page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    frame: ConsoleFrame,
    Query(flash): Query<Flash>,
) -> Response {
    let today = domain::today(state.settings.time_zone, now_ms());
    let slots = match store::list_slots(&state.db.pool, &today, None, 500, true).await {
        Ok(s) => s,
        Err(e) => return AppError::from(e).into_response(),
    };
    let (ok, error) = flash.message(&tr, "console");
    render(&SlotsPage {
        tr,
        user: &user,
        frame: frame.with_ok(ok).with_error(error),
        is_admin: user.has(Role::Admin),
        slots: slots.into_iter().map(SlotView::from).collect(),
        weekdays: [1, 2, 3, 4, 5, 6, 7],
    })
}

#[derive(Deserialize)]
struct SlotForm {
    date: String,
    start: String,
    end: String,
    capacity: i64,
}

async fn create_slot(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<SlotForm>,
) -> Response {
    let result = match SlotSpec::parse(&form.date, &form.start, &form.end, form.capacity) {
        Ok(spec) => service::create_slot(&state, &user.actor(), spec)
            .await
            .map(|_| "saved"),
        Err(e) => Err(service::invalid(e)),
    };
    back("/console/slots", result)
}

#[derive(Deserialize)]
struct BulkForm {
    from: String,
    to: String,
    day_start: String,
    day_end: String,
    slot_minutes: i64,
    capacity: i64,
    wd1: Option<String>,
    wd2: Option<String>,
    wd3: Option<String>,
    wd4: Option<String>,
    wd5: Option<String>,
    wd6: Option<String>,
    wd7: Option<String>,
}

async fn create_bulk(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<BulkForm>,
) -> Response {
    let days = [
        &form.wd1, &form.wd2, &form.wd3, &form.wd4, &form.wd5, &form.wd6, &form.wd7,
    ];
    let weekdays: Vec<u32> = (1..=7)
        .filter(|d| days[(*d - 1) as usize].is_some())
        .collect();
    let parsed = BulkSpec::parse(
        &form.from,
        &form.to,
        &weekdays,
        &form.day_start,
        &form.day_end,
        form.slot_minutes,
        form.capacity,
    );
    let result = match parsed {
        Ok(bulk) => service::create_bulk(&state, &user.actor(), bulk)
            .await
            .map(|_| "saved"),
        Err(e) => Err(service::invalid(e)),
    };
    back("/console/slots", result)
}

#[derive(Deserialize)]
struct CapacityForm {
    capacity: i64,
}

async fn change_capacity(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form }: CsrfForm<CapacityForm>,
) -> Response {
    back(
        "/console/slots",
        service::set_capacity(&state, &user.actor(), id, form.capacity)
            .await
            .map(|_| "saved"),
    )
}

async fn delete_slot(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, .. }: CsrfForm<NoFields>,
) -> Response {
    back(
        "/console/slots",
        service::delete_slot(&state, &user.actor(), id)
            .await
            .map(|_| "saved"),
    )
}

// ---------- console: roster ----------

#[derive(Template)]
#[template(path = "booking/console_roster.html")]
struct RosterPage<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    frame: ConsoleFrame,
    can_confirm: bool,
    is_admin: bool,
    roster: Roster,
    /// What the office sent to this slot, newest first, with each delivery.
    sent: Vec<SlotNotice>,
}

async fn roster_page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    frame: ConsoleFrame,
    Path(id): Path<i64>,
    Query(flash): Query<Flash>,
) -> Response {
    let roster = match load_roster(&state, id).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let sent = match contact::sent_to_slot(&state, id).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let (ok, error) = flash.message(&tr, "console");
    render(&RosterPage {
        tr,
        user: &user,
        frame: frame.with_ok(ok).with_error(error),
        can_confirm: DESK.iter().any(|r| user.has(*r)),
        is_admin: user.has(Role::Admin),
        roster,
        sent,
    })
}

#[derive(Deserialize)]
struct MessageForm {
    #[serde(default)]
    text: String,
}

async fn message_slot(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form }: CsrfForm<MessageForm>,
) -> Response {
    let result = match SlotNoticeText::parse("text", &form.text) {
        Ok(text) => contact::message_slot(&state, &user.actor(), id, text)
            .await
            .map(|_| "message_sent"),
        Err(e) => Err(invalid_notice(e)),
    };
    back(&format!("/console/slots/{id}"), result)
}

#[derive(Deserialize)]
struct CancelForm {
    #[serde(default)]
    reason: String,
    /// The "yes, cancel it" checkbox: without it nothing happens.
    confirm: Option<String>,
}

async fn cancel_slot(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form }: CsrfForm<CancelForm>,
) -> Response {
    let result = match SlotNoticeText::parse("reason", &form.reason) {
        Ok(_) if form.confirm.is_none() => Err(crate::http::ErrorCode::InvalidInput
            .with_field("confirm", "tick to confirm the cancellation")),
        Ok(reason) => contact::cancel_slot(&state, &user.actor(), id, reason)
            .await
            .map(|_| "slot_cancelled"),
        Err(e) => Err(invalid_notice(e)),
    };
    back(&format!("/console/slots/{id}"), result)
}

async fn complete(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, .. }: CsrfForm<NoFields>,
) -> Response {
    desk_action(&state, &user, id, true).await
}

async fn no_show(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, .. }: CsrfForm<NoFields>,
) -> Response {
    desk_action(&state, &user, id, false).await
}

async fn desk_action(state: &AppState, user: &CurrentUser, id: i64, completed: bool) -> Response {
    let slot_id = match store::find_booking(&state.db.pool, id, None).await {
        Ok(Some(b)) => b.slot_id,
        Ok(None) => return AppError::not_found().into_response(),
        Err(e) => return AppError::from(e).into_response(),
    };
    let result = if completed {
        service::complete(state, &user.actor(), id).await
    } else {
        service::no_show(state, &user.actor(), id).await
    };
    back(
        &format!("/console/slots/{slot_id}"),
        result.map(|_| "saved"),
    )
}
