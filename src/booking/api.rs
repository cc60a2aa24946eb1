//! JSON API for slots and bookings (SPEC §11).

use crate::money::Cents;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::contact::{self, SlotNotice, invalid_notice};
use super::domain::{self, BulkSpec, SlotNoticeText, SlotSpec};
use super::service::{self, BookingView, BulkResult, SlotView, invalid};
use super::store;
use crate::crypto::mask_phone;
use crate::db::now_ms;
use crate::http::auth::CurrentUser;
use crate::http::auth::{Admins, Desk, RequireRole, Staff, Students};
use crate::http::error::ErrorBodySchema;
use crate::http::{ApiJson, AppError, AppResult, AppState, ErrorCode};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_slot))
        .routes(routes!(create_bulk))
        .routes(routes!(update_slot, delete_slot))
        .routes(routes!(list_slots))
        .routes(routes!(create_booking, my_bookings))
        .routes(routes!(cancel_booking))
        .routes(routes!(roster))
        .routes(routes!(reveal_phone))
        .routes(routes!(complete_booking))
        .routes(routes!(no_show))
        .routes(routes!(message_slot))
        .routes(routes!(cancel_slot))
}

#[derive(Deserialize, ToSchema)]
pub struct NewSlot {
    /// `YYYY-MM-DD`
    #[schema(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub date: String,
    /// `HH:MM`
    #[schema(pattern = r"^[0-9]{1,2}:[0-9]{2}$")]
    pub start: String,
    #[schema(pattern = r"^[0-9]{1,2}:[0-9]{2}$")]
    pub end: String,
    #[schema(minimum = 0, maximum = 1000)]
    pub capacity: i64,
}

/// Open one slot.
#[utoipa::path(post, path = "/api/v1/admin/slots", tag = "booking", request_body = NewSlot, security(("bearer" = [])),
    responses((status = 201, body = SlotView), (status = 409, body = ErrorBodySchema), (status = 422, body = ErrorBodySchema)))]
async fn create_slot(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    ApiJson(body): ApiJson<NewSlot>,
) -> AppResult<(StatusCode, Json<SlotView>)> {
    let spec =
        SlotSpec::parse(&body.date, &body.start, &body.end, body.capacity).map_err(invalid)?;
    let slot = service::create_slot(&state, &admin.actor(), spec).await?;
    Ok((StatusCode::CREATED, Json(slot)))
}

#[derive(Deserialize, ToSchema)]
pub struct NewSlots {
    /// First date, `YYYY-MM-DD`.
    #[schema(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub from: String,
    /// Last date, inclusive.
    #[schema(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub to: String,
    /// ISO weekdays to open, 1 = Monday … 7 = Sunday.
    #[schema(min_items = 1, max_items = 7, inline)]
    pub weekdays: Vec<u32>,
    /// Daily opening hours, `HH:MM`.
    #[schema(pattern = r"^[0-9]{1,2}:[0-9]{2}$")]
    pub day_start: String,
    #[schema(pattern = r"^[0-9]{1,2}:[0-9]{2}$")]
    pub day_end: String,
    /// Length of each slot in minutes.
    #[schema(minimum = 5, maximum = 480)]
    pub slot_minutes: i64,
    #[schema(minimum = 0, maximum = 1000)]
    pub capacity: i64,
}

/// Open slots in bulk: every chosen weekday of a date range, cut into slots of equal length.
#[utoipa::path(post, path = "/api/v1/admin/slots/bulk", tag = "booking", request_body = NewSlots, security(("bearer" = [])),
    responses((status = 201, body = BulkResult), (status = 422, body = ErrorBodySchema)))]
async fn create_bulk(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    ApiJson(body): ApiJson<NewSlots>,
) -> AppResult<(StatusCode, Json<BulkResult>)> {
    let bulk = BulkSpec::parse(
        &body.from,
        &body.to,
        &body.weekdays,
        &body.day_start,
        &body.day_end,
        body.slot_minutes,
        body.capacity,
    )
    .map_err(invalid)?;
    let result = service::create_bulk(&state, &admin.actor(), bulk).await?;
    Ok((StatusCode::CREATED, Json(result)))
}

#[derive(Deserialize, ToSchema)]
pub struct SlotChange {
    #[schema(minimum = 0, maximum = 1000)]
    pub capacity: i64,
}

/// Raise or lower a slot's capacity (never below what is booked: `capacity_below_booked`).
#[utoipa::path(patch, path = "/api/v1/admin/slots/{id}", tag = "booking", request_body = SlotChange, security(("bearer" = [])),
    responses((status = 200, body = SlotView), (status = 404, body = ErrorBodySchema), (status = 409, body = ErrorBodySchema)))]
async fn update_slot(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<SlotChange>,
) -> AppResult<Json<SlotView>> {
    Ok(Json(
        service::set_capacity(&state, &admin.actor(), id, body.capacity).await?,
    ))
}

/// Delete a slot that has never been booked (`slot_has_bookings` otherwise).
#[utoipa::path(delete, path = "/api/v1/admin/slots/{id}", tag = "booking", security(("bearer" = [])),
    responses((status = 204), (status = 404, body = ErrorBodySchema), (status = 409, body = ErrorBodySchema)))]
async fn delete_slot(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    service::delete_slot(&state, &admin.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
pub struct SlotQuery {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct SlotPage {
    pub items: Vec<SlotView>,
    pub next_cursor: Option<String>,
}

/// Slots from today (deployment time zone) on, in time order, with the seats left; slots the
/// office cancelled are left out.
#[utoipa::path(get, path = "/api/v1/slots", tag = "booking", params(SlotQuery), security(("bearer" = [])),
    responses((status = 200, body = SlotPage), (status = 401, body = ErrorBodySchema)))]
async fn list_slots(
    State(state): State<AppState>,
    _user: CurrentUser,
    Query(q): Query<SlotQuery>,
) -> AppResult<Json<SlotPage>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let after = match q.cursor.as_deref() {
        Some(c) => Some(
            c.split_once('T')
                .ok_or_else(|| ErrorCode::InvalidCursor.with_message("Unknown cursor."))?,
        ),
        None => None,
    };
    let today = domain::today(state.settings.time_zone, now_ms());
    let rows = store::list_slots(&state.db.pool, &today, after, limit, false).await?;
    let next_cursor = (rows.len() as i64 == limit)
        .then(|| {
            rows.last()
                .map(|s| format!("{}T{}", s.slot_date, s.start_time))
        })
        .flatten();
    Ok(Json(SlotPage {
        items: rows.into_iter().map(SlotView::from).collect(),
        next_cursor,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct NewBooking {
    pub slot_id: i64,
    pub case_id: i64,
}

/// Book a hand-in slot for an approved case.
#[utoipa::path(post, path = "/api/v1/bookings", tag = "booking", request_body = NewBooking, security(("bearer" = [])),
    responses((status = 201, body = BookingView), (status = 404, body = ErrorBodySchema),
              (status = 409, description = "`slot_full`, `already_booked`, `no_approved_case`", body = ErrorBodySchema),
              (status = 422, description = "`slot_in_past`", body = ErrorBodySchema)))]
async fn create_booking(
    State(state): State<AppState>,
    student: RequireRole<Students>,
    ApiJson(body): ApiJson<NewBooking>,
) -> AppResult<(StatusCode, Json<BookingView>)> {
    let booking = service::book(&state, &student.actor(), body.slot_id, body.case_id).await?;
    Ok((StatusCode::CREATED, Json(booking)))
}

#[derive(Serialize, ToSchema)]
pub struct BookingPage {
    pub items: Vec<BookingView>,
    pub next_cursor: Option<String>,
}

/// My bookings, latest slot first.
#[utoipa::path(get, path = "/api/v1/bookings", tag = "booking", security(("bearer" = [])),
    responses((status = 200, body = BookingPage), (status = 403, body = crate::http::error::ErrorBodySchema)))]
async fn my_bookings(
    State(state): State<AppState>,
    student: RequireRole<Students>,
) -> AppResult<Json<BookingPage>> {
    let rows = store::bookings_of(&state.db.pool, student.id).await?;
    Ok(Json(BookingPage {
        items: rows.into_iter().map(BookingView::from).collect(),
        next_cursor: None,
    }))
}

/// Cancel my booking, until the configured cut-off before the slot (`cancel_too_late`).
#[utoipa::path(delete, path = "/api/v1/bookings/{id}", tag = "booking", security(("bearer" = [])),
    responses((status = 200, body = BookingView), (status = 404, body = ErrorBodySchema), (status = 409, body = ErrorBodySchema)))]
async fn cancel_booking(
    State(state): State<AppState>,
    student: RequireRole<Students>,
    Path(id): Path<i64>,
) -> AppResult<Json<BookingView>> {
    Ok(Json(service::cancel(&state, &student.actor(), id).await?))
}

#[derive(Serialize, ToSchema)]
pub struct RosterEntry {
    pub booking_id: i64,
    /// `active`, `completed` or `no_show`.
    pub status: String,
    pub user_id: i64,
    /// Login name (学号).
    pub student_id: String,
    pub name: String,
    /// e.g. `138****8000`.
    pub phone_masked: Option<String>,
    pub case_id: i64,
    pub case_status: String,
    pub payout_cents: Option<Cents>,
}

#[derive(Serialize, ToSchema)]
pub struct Roster {
    pub slot: SlotView,
    pub items: Vec<RosterEntry>,
    pub next_cursor: Option<String>,
}

pub async fn load_roster(state: &AppState, slot_id: i64) -> AppResult<Roster> {
    let slot = store::find_slot(&state.db.pool, slot_id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let rows = store::roster(&state.db.pool, slot_id).await?;
    let items = rows
        .into_iter()
        .map(|r| RosterEntry {
            phone_masked: r
                .phone_enc
                .as_deref()
                .and_then(|p| {
                    state
                        .keys
                        .decrypt(&format!("users.phone|{}", r.username), p)
                        .ok()
                })
                .map(|p| mask_phone(&p)),
            booking_id: r.booking_id,
            status: r.status,
            user_id: r.user_id,
            student_id: r.username,
            name: r.name,
            case_id: r.case_id,
            case_status: r.case_status,
            payout_cents: r.payout_cents,
        })
        .collect();
    Ok(Roster {
        slot: slot.into(),
        items,
        next_cursor: None,
    })
}

/// The roster of a slot: who comes, for which case, with what payout.
#[utoipa::path(get, path = "/api/v1/admin/slots/{id}/bookings", tag = "booking", security(("bearer" = [])),
    responses((status = 200, body = Roster), (status = 403, body = ErrorBodySchema), (status = 404, body = ErrorBodySchema)))]
async fn roster(
    State(state): State<AppState>,
    _staff: RequireRole<Staff>,
    Path(id): Path<i64>,
) -> AppResult<Json<Roster>> {
    Ok(Json(load_roster(&state, id).await?))
}

/// Hand-in confirmed (现场确认): the case is `completed` and the time recorded.
#[utoipa::path(post, path = "/api/v1/admin/bookings/{id}/complete", tag = "booking", security(("bearer" = [])),
    responses((status = 200, body = BookingView), (status = 404, body = ErrorBodySchema), (status = 409, body = ErrorBodySchema)))]
async fn complete_booking(
    State(state): State<AppState>,
    staff: RequireRole<Desk>,
    Path(id): Path<i64>,
) -> AppResult<Json<BookingView>> {
    Ok(Json(service::complete(&state, &staff.actor(), id).await?))
}

/// The student did not come: the case is `approved` again and may be booked anew.
#[utoipa::path(post, path = "/api/v1/admin/bookings/{id}/no-show", tag = "booking", security(("bearer" = [])),
    responses((status = 200, body = BookingView), (status = 404, body = ErrorBodySchema), (status = 409, body = ErrorBodySchema)))]
async fn no_show(
    State(state): State<AppState>,
    staff: RequireRole<Desk>,
    Path(id): Path<i64>,
) -> AppResult<Json<BookingView>> {
    Ok(Json(service::no_show(&state, &staff.actor(), id).await?))
}

#[derive(Serialize, ToSchema)]
pub struct RevealedPhone {
    /// The full number, e.g. `13800138000`.
    pub phone: String,
}

/// The desk calls a booked student: the full phone number. Needs a fresh authentication
/// (step-up, SPEC §9): 401 `reauth_required` otherwise. Every reveal is audited.
#[utoipa::path(get, path = "/api/v1/admin/bookings/{id}/phone", tag = "booking", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = RevealedPhone), (status = 400, body = ErrorBodySchema),
              (status = 401, body = ErrorBodySchema), (status = 403, body = ErrorBodySchema),
              (status = 404, body = ErrorBodySchema)))]
async fn reveal_phone(
    State(state): State<AppState>,
    desk: RequireRole<Desk>,
    Path(id): Path<i64>,
) -> AppResult<Json<RevealedPhone>> {
    desk.require_fresh_auth(&state)?;
    let (username, sealed) = store::booked_student_phone(&state.db.pool, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let phone = sealed
        .as_deref()
        .and_then(|p| {
            state
                .keys
                .decrypt(&format!("users.phone|{username}"), p)
                .ok()
        })
        .ok_or_else(|| ErrorCode::NotFound.with_message("No phone number on file."))?;
    let mut tx = state.db.begin().await?;
    crate::audit::record(
        &mut tx,
        &desk.actor(),
        crate::audit::Event {
            action: "personal.reveal",
            object_type: "booking",
            object_id: id.to_string(),
            summary: "full phone number shown to the desk".into(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Json(RevealedPhone { phone }))
}

#[derive(Deserialize, ToSchema)]
pub struct SlotMessageBody {
    /// 1–500 characters (trimmed), sent as written.
    #[schema(min_length = 1, max_length = 500)]
    pub text: String,
}

/// Write to everyone with an active booking on the slot (查询各受理时间预约人员并通知): each
/// gets an in-app notification, and an SMS and e-mail through the outbox. The answer lists each
/// recipient's deliveries (also shown on the slot's roster page).
#[utoipa::path(post, path = "/api/v1/admin/slots/{id}/message", tag = "booking", request_body = SlotMessageBody,
    security(("bearer" = [])), params(("id" = i64, Path, description = "The slot")),
    responses((status = 200, body = SlotNotice),
              (status = 401, description = "Not signed in (`unauthenticated`).", body = ErrorBodySchema),
              (status = 403, description = "Not the hand-in desk (`forbidden`).", body = ErrorBodySchema),
              (status = 404, description = "No such slot (`not_found`).", body = ErrorBodySchema),
              (status = 409, description = "The slot was cancelled (`slot_cancelled`).", body = ErrorBodySchema),
              (status = 422, description = "`text` empty or over 500 characters (`invalid_input`, `fields.text`).", body = ErrorBodySchema)))]
async fn message_slot(
    State(state): State<AppState>,
    desk: RequireRole<Desk>,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<SlotMessageBody>,
) -> AppResult<Json<SlotNotice>> {
    let text = SlotNoticeText::parse("text", &body.text).map_err(invalid_notice)?;
    Ok(Json(
        contact::message_slot(&state, &desk.actor(), id, text).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct SlotCancelBody {
    /// Why, told to every student booked: 1–500 characters (trimmed).
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

/// Cancel the slot: every active booking is released (`cancelled`), each case goes back to
/// `approved` so it can be booked in another slot, and every student is told the reason. The
/// slot is no longer listed for students nor bookable.
#[utoipa::path(post, path = "/api/v1/admin/slots/{id}/cancel", tag = "booking", request_body = SlotCancelBody,
    security(("bearer" = [])), params(("id" = i64, Path, description = "The slot")),
    responses((status = 200, body = SlotNotice),
              (status = 401, description = "Not signed in (`unauthenticated`).", body = ErrorBodySchema),
              (status = 403, description = "Not an administrator (`forbidden`).", body = ErrorBodySchema),
              (status = 404, description = "No such slot (`not_found`).", body = ErrorBodySchema),
              (status = 409, description = "Already cancelled (`slot_cancelled`).", body = ErrorBodySchema),
              (status = 422, description = "`reason` empty or over 500 characters (`invalid_input`, `fields.reason`).", body = ErrorBodySchema)))]
async fn cancel_slot(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<SlotCancelBody>,
) -> AppResult<Json<SlotNotice>> {
    let reason = SlotNoticeText::parse("reason", &body.reason).map_err(invalid_notice)?;
    Ok(Json(
        contact::cancel_slot(&state, &admin.actor(), id, reason).await?,
    ))
}
