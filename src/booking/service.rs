//! What admins, students and staff do with slots and bookings, each in one transaction with
//! its audit event and notification. The JSON API and the pages both call these.

use crate::ids::CaseId;
use crate::money::Cents;
use serde::Serialize;
use utoipa::ToSchema;

use super::domain::{self, BulkSpec, Invalid, SlotSpec};
use super::store::{self, BookingRow, SlotRow};
use crate::audit::{self, Actor, Event};
use crate::claims::CaseEvent;
use crate::claims::store::{advance, bump_version};
use crate::db::now_ms;
use crate::http::{AppError, AppResult, AppState, ErrorCode};
use crate::notify::{self, Message};

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SlotView {
    pub id: i64,
    /// `YYYY-MM-DD`, deployment time zone.
    pub date: String,
    /// `HH:MM`
    pub start: String,
    pub end: String,
    pub capacity: i64,
    pub booked: i64,
    pub remaining: i64,
    /// RFC 3339; set when the office cancelled the slot (then it is neither listed for
    /// students nor bookable).
    pub cancelled_at: Option<String>,
    /// What the students were told.
    pub cancel_reason: Option<String>,
}

impl From<SlotRow> for SlotView {
    fn from(s: SlotRow) -> SlotView {
        SlotView {
            id: s.id,
            remaining: if s.cancelled_at.is_some() {
                0
            } else {
                (s.capacity - s.booked).max(0)
            },
            cancelled_at: s.cancelled_at.map(crate::http::web::rfc3339),
            cancel_reason: s.cancel_reason,
            date: s.slot_date,
            start: s.start_time,
            end: s.end_time,
            capacity: s.capacity,
            booked: s.booked,
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BookingView {
    pub id: i64,
    pub slot_id: i64,
    pub case_id: i64,
    /// `active`, `cancelled`, `completed` or `no_show`.
    pub status: String,
    pub date: String,
    pub start: String,
    pub end: String,
    /// RFC 3339.
    pub created_at: String,
    pub cancelled_at: Option<String>,
    pub completed_at: Option<String>,
}

impl From<BookingRow> for BookingView {
    fn from(b: BookingRow) -> BookingView {
        use crate::http::web::rfc3339;
        BookingView {
            id: b.id,
            slot_id: b.slot_id,
            case_id: b.case_id,
            status: b.status,
            date: b.slot_date,
            start: b.start_time,
            end: b.end_time,
            created_at: rfc3339(b.created_at),
            cancelled_at: b.cancelled_at.map(rfc3339),
            completed_at: b.completed_at.map(rfc3339),
        }
    }
}

pub fn invalid(e: Invalid) -> AppError {
    e.code
        .with_message("The slot request is not valid.")
        .with_field(e.field, e.code.as_str())
}

pub(super) fn slot_gone() -> AppError {
    AppError::not_found()
}

pub(super) fn slot_cancelled() -> AppError {
    ErrorCode::SlotCancelled.with_message("The office cancelled this slot.")
}

pub async fn create_slot(state: &AppState, actor: &Actor, spec: SlotSpec) -> AppResult<SlotView> {
    let by = actor.id;
    let mut tx = state.db.begin().await?;
    let Some(id) = store::insert_slot(&mut tx, &spec, by).await? else {
        return Err(
            ErrorCode::SlotExists.with_message("A slot already starts at that date and time.")
        );
    };
    let summary = format!(
        "{} {}-{} capacity {}",
        spec.date_text(),
        spec.start_text(),
        spec.end_text(),
        spec.capacity
    );
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "slot.create",
            object_type: "slot",
            object_id: id.to_string(),
            summary,
        },
    )
    .await?;
    let slot = store::find_slot(&mut *tx, id)
        .await?
        .ok_or_else(slot_gone)?;
    tx.commit().await?;
    Ok(slot.into())
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BulkResult {
    /// Slots opened by this request.
    pub items: Vec<SlotView>,
    pub created: usize,
    /// Slots that already existed at one of the times (left as they were).
    pub skipped: usize,
}

pub async fn create_bulk(state: &AppState, actor: &Actor, bulk: BulkSpec) -> AppResult<BulkResult> {
    let by = actor.id;
    let mut tx = state.db.begin().await?;
    let mut ids = Vec::new();
    let mut skipped = 0;
    for spec in bulk.expand() {
        match store::insert_slot(&mut tx, &spec, by).await? {
            Some(id) => ids.push(id),
            None => skipped += 1,
        }
    }
    let summary = format!(
        "{}..{} weekdays {:?} {}-{} every {} min capacity {}: {} opened, {} skipped",
        bulk.from,
        bulk.to,
        bulk.weekdays,
        bulk.day_start.format("%H:%M"),
        bulk.day_end.format("%H:%M"),
        bulk.minutes,
        bulk.capacity,
        ids.len(),
        skipped
    );
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "slot.bulk_create",
            object_type: "slot",
            object_id: "bulk".into(),
            summary,
        },
    )
    .await?;
    let mut items = Vec::with_capacity(ids.len());
    for id in &ids {
        if let Some(s) = store::find_slot(&mut *tx, *id).await? {
            items.push(s.into());
        }
    }
    tx.commit().await?;
    Ok(BulkResult {
        created: items.len(),
        items,
        skipped,
    })
}

pub async fn set_capacity(
    state: &AppState,
    actor: &Actor,
    id: i64,
    capacity: i64,
) -> AppResult<SlotView> {
    let capacity = domain::parse_capacity(capacity).map_err(invalid)?;
    let mut tx = state.db.begin().await?;
    let before = store::find_slot(&mut *tx, id)
        .await?
        .ok_or_else(slot_gone)?;
    if before.cancelled_at.is_some() {
        return Err(slot_cancelled());
    }
    if !store::set_capacity(&mut tx, id, capacity).await? {
        return Err(ErrorCode::CapacityBelowBooked.with_message(format!(
            "{} seats are booked; the capacity cannot be lower.",
            before.booked
        )));
    }
    let summary = format!("capacity {} -> {capacity}", before.capacity);
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "slot.capacity",
            object_type: "slot",
            object_id: id.to_string(),
            summary,
        },
    )
    .await?;
    let slot = store::find_slot(&mut *tx, id)
        .await?
        .ok_or_else(slot_gone)?;
    tx.commit().await?;
    Ok(slot.into())
}

pub async fn delete_slot(state: &AppState, actor: &Actor, id: i64) -> AppResult<()> {
    let mut tx = state.db.begin().await?;
    let slot = store::find_slot(&mut *tx, id)
        .await?
        .ok_or_else(slot_gone)?;
    if !store::delete_unbooked_slot(&mut tx, id).await? {
        return Err(
            ErrorCode::SlotHasBookings.with_message("A slot with bookings cannot be deleted.")
        );
    }
    let summary = format!("{} {}", slot.slot_date, slot.start_time);
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "slot.delete",
            object_type: "slot",
            object_id: id.to_string(),
            summary,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

fn slot_full() -> AppError {
    ErrorCode::SlotFull.with_message("This slot is full; pick another one.")
}

/// Whether the case has paper to hand in at all.
fn may_book(case: &store::CaseBrief) -> AppResult<()> {
    if case.insurer_id.is_some() {
        return Err(ErrorCode::InsurerPays
            .with_message("The insurer pays this case directly; there is nothing to hand in."));
    }
    Ok(())
}

/// Whether the slot takes bookings: not cancelled, not begun.
fn bookable(tz: chrono_tz::Tz, slot: &SlotRow) -> AppResult<()> {
    if slot.cancelled_at.is_some() {
        return Err(slot_cancelled());
    }
    let starts = domain::slot_start_ms(tz, &slot.slot_date, &slot.start_time).unwrap_or(0);
    if starts <= now_ms() {
        return Err(ErrorCode::SlotInPast.with_message("This slot has already begun."));
    }
    Ok(())
}

/// Books `slot_id` for the student's approved case `case_id`.
pub async fn book(
    state: &AppState,
    student: &Actor,
    slot_id: i64,
    case_id: i64,
) -> AppResult<BookingView> {
    let user_id = student.id.ok_or_else(AppError::unauthenticated)?;
    let tz = state.settings.time_zone;
    // A slot that is already full is answered from reads alone, without queueing for the
    // write lock: in a storm on a popular slot almost every request comes after it filled.
    // The checks are the transaction's own, in its order, so the answer is the same.
    if let Some(slot) = store::find_slot(&state.db.pool, slot_id).await?
        && slot.booked >= slot.capacity
    {
        let case = store::own_case(&state.db.pool, case_id, user_id)
            .await?
            .ok_or_else(AppError::not_found)?;
        may_book(&case)?;
        case.status.apply(CaseEvent::Book)?;
        bookable(tz, &slot)?;
        return Err(slot_full());
    }
    let mut tx = state.db.begin().await?;
    // Lock order everywhere: case, then slot, then the audit head.
    let case = store::own_case(&mut *tx, case_id, user_id)
        .await?
        .ok_or_else(AppError::not_found)?;
    may_book(&case)?;
    advance(&mut tx, case.id, case.status, CaseEvent::Book).await??;
    let slot = store::find_slot(&mut *tx, slot_id)
        .await?
        .ok_or_else(slot_gone)?;
    bookable(tz, &slot)?;
    if !store::take_seat(&mut tx, slot.id).await? {
        // Cancelled by the office since it was read, or full.
        let now = store::find_slot(&mut *tx, slot.id).await?;
        if now.is_some_and(|s| s.cancelled_at.is_some()) {
            return Err(slot_cancelled());
        }
        return Err(slot_full());
    }
    let booking_id = match store::insert_booking(&mut tx, slot.id, case.id, user_id).await {
        Ok(id) => id,
        Err(e) if crate::db::is_unique_violation(&e) => {
            return Err(ErrorCode::AlreadyBooked.with_message("This case already has a booking."));
        }
        Err(e) => return Err(e.into()),
    };
    bump_version(&mut tx, CaseId::new(case.id)).await?;
    // Booked after the reminder time (the evening before, or later): the confirmation just
    // sent is the reminder.
    let due = domain::reminder_due_ms(tz, &slot.slot_date, state.settings.booking.reminder_hour);
    if let Some(due) = due.filter(|due| *due > now_ms()) {
        store::schedule_reminder(&mut tx, booking_id, due).await?;
    }
    let summary = format!("case {} slot {}", case.id, slot.id);
    audit::record(
        &mut tx,
        student,
        Event {
            action: "booking.create",
            object_type: "booking",
            object_id: booking_id.to_string(),
            summary,
        },
    )
    .await?;
    let message = Message::BookingConfirmed {
        case_id: case.id,
        slot_date: slot.slot_date.clone(),
        start: slot.start_time.clone(),
        end: slot.end_time.clone(),
    };
    notify::notify(&mut tx, user_id, &message).await?;
    let booking = store::find_booking(&mut *tx, booking_id, None)
        .await?
        .ok_or_else(AppError::not_found)?;
    tx.commit().await?;
    Ok(booking.into())
}

/// The student cancels their own booking, until the cut-off before the slot.
pub async fn cancel(state: &AppState, student: &Actor, booking_id: i64) -> AppResult<BookingView> {
    let user_id = student.id.ok_or_else(AppError::unauthenticated)?;
    let tz = state.settings.time_zone;
    let mut tx = state.db.begin().await?;
    let booking = store::find_booking(&mut *tx, booking_id, Some(user_id))
        .await?
        .ok_or_else(AppError::not_found)?;
    if booking.status != "active" {
        return Err(not_active());
    }
    let starts = domain::slot_start_ms(tz, &booking.slot_date, &booking.start_time).unwrap_or(0);
    let cutoff = state.settings.booking.cancel_cutoff.as_millis() as i64;
    if now_ms() > starts - cutoff {
        return Err(ErrorCode::CancelTooLate.with_message("It is too late to cancel this booking."));
    }
    if !store::close_booking(&mut tx, booking.id, "cancelled", now_ms()).await? {
        return Err(not_active());
    }
    move_booked_case(&mut tx, booking.case_id, CaseEvent::CancelBooking).await?;
    bump_version(&mut tx, CaseId::new(booking.case_id)).await?;
    store::free_seat(&mut tx, booking.slot_id).await?;
    store::drop_reminder(&mut tx, booking.id).await?;
    let summary = format!("case {} slot {}", booking.case_id, booking.slot_id);
    audit::record(
        &mut tx,
        student,
        Event {
            action: "booking.cancel",
            object_type: "booking",
            object_id: booking.id.to_string(),
            summary,
        },
    )
    .await?;
    let message = Message::BookingCancelled {
        case_id: booking.case_id,
        slot_date: booking.slot_date.clone(),
        start: booking.start_time.clone(),
    };
    notify::notify(&mut tx, user_id, &message).await?;
    let booking = store::find_booking(&mut *tx, booking.id, None)
        .await?
        .ok_or_else(AppError::not_found)?;
    tx.commit().await?;
    Ok(booking.into())
}

/// Closing an active booking moves its case on (an active booking's case is always `booked`).
pub(super) async fn move_booked_case(
    tx: &mut crate::db::Tx,
    case_id: i64,
    event: CaseEvent,
) -> AppResult<()> {
    let case = crate::claims::store::find_case(&mut **tx, CaseId::new(case_id), None)
        .await?
        .ok_or_else(AppError::not_found)?;
    advance(tx, case_id, case.status, event).await??;
    Ok(())
}

fn not_active() -> AppError {
    ErrorCode::BookingNotActive.with_message("This booking is no longer active.")
}

/// Staff confirm the hand-in: the booking is completed and the case `completed`.
pub async fn complete(state: &AppState, staff: &Actor, booking_id: i64) -> AppResult<BookingView> {
    let mut tx = state.db.begin().await?;
    let booking = store::find_booking(&mut *tx, booking_id, None)
        .await?
        .ok_or_else(AppError::not_found)?;
    let now = now_ms();
    if !store::close_booking(&mut tx, booking.id, "completed", now).await? {
        return Err(not_active());
    }
    move_booked_case(&mut tx, booking.case_id, CaseEvent::HandIn).await?;
    store::set_handed_in(&mut tx, booking.case_id, now).await?;
    bump_version(&mut tx, CaseId::new(booking.case_id)).await?;
    store::drop_reminder(&mut tx, booking.id).await?;
    let payout: Option<Cents> = sqlx::query_scalar("SELECT payout_cents FROM cases WHERE id = $1")
        .bind(booking.case_id)
        .fetch_one(&mut *tx)
        .await?;
    let summary = format!("case {} handed in", booking.case_id);
    audit::record(
        &mut tx,
        staff,
        Event {
            action: "booking.complete",
            object_type: "booking",
            object_id: booking.id.to_string(),
            summary,
        },
    )
    .await?;
    let message = Message::CaseCompleted {
        case_id: booking.case_id,
        payout_cents: payout.unwrap_or_default(),
    };
    notify::notify(&mut tx, booking.user_id, &message).await?;
    let booking = store::find_booking(&mut *tx, booking.id, None)
        .await?
        .ok_or_else(AppError::not_found)?;
    tx.commit().await?;
    Ok(booking.into())
}

/// Staff record that the student did not come: the seat stays used, the case is `approved`
/// again so the student can book another slot.
pub async fn no_show(state: &AppState, staff: &Actor, booking_id: i64) -> AppResult<BookingView> {
    let mut tx = state.db.begin().await?;
    let booking = store::find_booking(&mut *tx, booking_id, None)
        .await?
        .ok_or_else(AppError::not_found)?;
    if !store::close_booking(&mut tx, booking.id, "no_show", now_ms()).await? {
        return Err(not_active());
    }
    move_booked_case(&mut tx, booking.case_id, CaseEvent::NoShow).await?;
    bump_version(&mut tx, CaseId::new(booking.case_id)).await?;
    store::drop_reminder(&mut tx, booking.id).await?;
    let summary = format!("case {} slot {}", booking.case_id, booking.slot_id);
    audit::record(
        &mut tx,
        staff,
        Event {
            action: "booking.no_show",
            object_type: "booking",
            object_id: booking.id.to_string(),
            summary,
        },
    )
    .await?;
    let booking = store::find_booking(&mut *tx, booking.id, None)
        .await?
        .ok_or_else(AppError::not_found)?;
    tx.commit().await?;
    Ok(booking.into())
}
