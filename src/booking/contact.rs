//! The office contacts a slot (issue 17 item 5, SPEC §13 "Office"): one message to everyone
//! booked, or the slot cancelled with a reason — bookings released, cases `approved` again,
//! everyone told. Each in one transaction with its audit event; every student is told through
//! `notify` (inbox now, SMS and e-mail through the outbox), and the rows it queued are kept with
//! the message so the roster shows each delivery.

use serde::Serialize;
use utoipa::ToSchema;

use super::domain::{Invalid, SlotNoticeText};
use super::service::{move_booked_case, slot_cancelled, slot_gone};
use super::store::{self, BookingRow, DeliveryRow, SlotRow};
use crate::audit::{self, Actor, Event};
use crate::claims::CaseEvent;
use crate::claims::store::bump_version;
use crate::db::Tx;
use crate::http::web::rfc3339;
use crate::http::{AppError, AppResult, AppState};
use crate::ids::CaseId;
use crate::notify::{self, Message};

/// 422 `invalid_input` naming the field of a message or reason out of bounds.
pub fn invalid_notice(e: Invalid) -> AppError {
    e.code
        .with_message(format!(
            "The {} must be 1 to {} characters.",
            e.field,
            super::domain::MAX_NOTICE_CHARS
        ))
        .with_field(e.field, "1–500 characters")
}

/// One outbox row queued for a recipient, as it stands now.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SlotDelivery {
    /// The outbox row (`GET /api/v1/admin/outbox`).
    pub outbox_id: i64,
    /// `sms` or `email`.
    pub channel: String,
    /// `pending`, `sending`, `sent`, `dead` or `not_configured`.
    pub status: String,
    pub attempts: i64,
    /// RFC 3339.
    pub sent_at: Option<String>,
}

/// A student told: their in-app notification and the SMS / e-mail deliveries.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SlotRecipient {
    pub booking_id: i64,
    pub case_id: i64,
    pub user_id: i64,
    /// Login name (学号).
    pub student_id: String,
    pub name: String,
    /// The in-app inbox row (always written).
    pub notification_id: i64,
    pub deliveries: Vec<SlotDelivery>,
}

/// What the office sent to a slot and to whom.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SlotNotice {
    /// The message's id.
    pub id: i64,
    pub slot_id: i64,
    /// `message` or `cancel`.
    pub kind: String,
    /// The text sent, or the cancellation reason.
    pub text: String,
    /// RFC 3339.
    pub sent_at: String,
    /// How many students were told (everyone with an active booking at the time).
    pub recipients: usize,
    pub items: Vec<SlotRecipient>,
}

/// Groups the joined rows (newest message first) into notices.
fn notices(rows: Vec<DeliveryRow>) -> Vec<SlotNotice> {
    let mut out: Vec<SlotNotice> = Vec::new();
    for r in rows {
        if out.last().is_none_or(|n| n.id != r.message_id) {
            out.push(SlotNotice {
                id: r.message_id,
                slot_id: r.slot_id,
                kind: r.kind.clone(),
                text: r.body.clone(),
                sent_at: rfc3339(r.created_at),
                recipients: 0,
                items: Vec::new(),
            });
        }
        let notice = out.last_mut().expect("pushed above");
        let (Some(booking_id), Some(user_id), Some(notification_id)) =
            (r.booking_id, r.user_id, r.notification_id)
        else {
            continue;
        };
        if notice
            .items
            .last()
            .is_none_or(|i| i.booking_id != booking_id)
        {
            notice.items.push(SlotRecipient {
                booking_id,
                case_id: r.case_id.unwrap_or_default(),
                user_id,
                student_id: r.username.clone().unwrap_or_default(),
                name: r.name.clone().unwrap_or_default(),
                notification_id,
                deliveries: Vec::new(),
            });
            notice.recipients += 1;
        }
        if let (Some(outbox_id), Some(channel), Some(status)) =
            (r.outbox_id, r.channel, r.outbox_status)
        {
            let item = notice.items.last_mut().expect("pushed above");
            item.deliveries.push(SlotDelivery {
                outbox_id,
                channel,
                status,
                attempts: r.attempts.unwrap_or_default(),
                sent_at: r.sent_at.map(rfc3339),
            });
        }
    }
    out
}

/// The latest messages sent to a slot, newest first, with their deliveries as they stand now.
pub async fn sent_to_slot(state: &AppState, slot_id: i64) -> AppResult<Vec<SlotNotice>> {
    let rows = store::slot_deliveries(&state.db.pool, slot_id, None).await?;
    Ok(notices(rows))
}

async fn one_notice(tx: &mut Tx, slot_id: i64, message_id: i64) -> AppResult<SlotNotice> {
    let rows = store::slot_deliveries(&mut **tx, slot_id, Some(message_id)).await?;
    notices(rows)
        .into_iter()
        .next()
        .ok_or_else(AppError::not_found)
}

/// The slot, refused when unknown (404) or cancelled (409 `slot_cancelled`).
async fn open_slot(tx: &mut Tx, slot_id: i64) -> AppResult<SlotRow> {
    let slot = store::find_slot(&mut **tx, slot_id)
        .await?
        .ok_or_else(slot_gone)?;
    if slot.cancelled_at.is_some() {
        return Err(slot_cancelled());
    }
    Ok(slot)
}

/// The desk writes to everyone with an active booking on the slot.
pub async fn message_slot(
    state: &AppState,
    desk: &Actor,
    slot_id: i64,
    text: SlotNoticeText,
) -> AppResult<SlotNotice> {
    let mut tx = state.db.begin().await?;
    let slot = open_slot(&mut tx, slot_id).await?;
    let bookings = store::active_bookings_on(&mut tx, slot.id).await?;
    let message_id =
        store::insert_slot_message(&mut tx, slot.id, "message", text.as_str(), desk.id).await?;
    for booking in &bookings {
        let message = Message::SlotMessage {
            case_id: booking.case_id,
            slot_date: slot.slot_date.clone(),
            start: slot.start_time.clone(),
            text: text.as_str().to_string(),
        };
        let told = notify::notify(&mut tx, booking.user_id, &message).await?;
        store::insert_recipient(&mut tx, message_id, booking, &told).await?;
    }
    audit::record(
        &mut tx,
        desk,
        Event {
            action: "slot.message",
            object_type: "slot",
            object_id: slot.id.to_string(),
            summary: format!(
                "{} {}: message {message_id} to {} booked",
                slot.slot_date,
                slot.start_time,
                bookings.len()
            ),
        },
    )
    .await?;
    let notice = one_notice(&mut tx, slot.id, message_id).await?;
    tx.commit().await?;
    Ok(notice)
}

/// Releases one active booking of a cancelled slot: booking `cancelled`, case `approved`
/// again, no reminder, the student told why. False when it was no longer active.
async fn release(
    tx: &mut Tx,
    slot: &SlotRow,
    booking: &BookingRow,
    message_id: i64,
    reason: &SlotNoticeText,
) -> AppResult<bool> {
    let now = crate::db::now_ms();
    if !store::close_booking(tx, booking.id, "cancelled", now).await? {
        return Ok(false);
    }
    move_booked_case(tx, booking.case_id, CaseEvent::CancelBooking).await?;
    bump_version(tx, CaseId::new(booking.case_id)).await?;
    store::drop_reminder(tx, booking.id).await?;
    let message = Message::SlotCancelled {
        case_id: booking.case_id,
        slot_date: slot.slot_date.clone(),
        start: slot.start_time.clone(),
        reason: reason.as_str().to_string(),
    };
    let told = notify::notify(tx, booking.user_id, &message).await?;
    store::insert_recipient(tx, message_id, booking, &told).await?;
    Ok(true)
}

/// An admin cancels the slot: every active booking released, every case `approved` again so
/// it can be booked elsewhere, every student told the reason; the slot is no longer listed or
/// bookable.
///
/// Locks follow the booking order used everywhere (booking, then case, then slot): the
/// bookings are released first and the slot is marked last. A booking that slipped in before
/// the mark (its seat update held the slot) is released in a second pass.
pub async fn cancel_slot(
    state: &AppState,
    admin: &Actor,
    slot_id: i64,
    reason: SlotNoticeText,
) -> AppResult<SlotNotice> {
    let mut tx = state.db.begin().await?;
    let slot = open_slot(&mut tx, slot_id).await?;
    let message_id =
        store::insert_slot_message(&mut tx, slot.id, "cancel", reason.as_str(), admin.id).await?;
    let mut freed = 0;
    for booking in store::active_bookings_on(&mut tx, slot.id).await? {
        if release(&mut tx, &slot, &booking, message_id, &reason).await? {
            freed += 1;
        }
    }
    if !store::mark_cancelled(&mut tx, slot.id, reason.as_str(), freed).await? {
        return Err(slot_cancelled());
    }
    for booking in store::active_bookings_on(&mut tx, slot.id).await? {
        if release(&mut tx, &slot, &booking, message_id, &reason).await? {
            store::free_seat(&mut tx, slot.id).await?;
            freed += 1;
        }
    }
    audit::record(
        &mut tx,
        admin,
        Event {
            action: "slot.cancel",
            object_type: "slot",
            object_id: slot.id.to_string(),
            summary: format!(
                "{} {}: cancelled, {freed} bookings released",
                slot.slot_date, slot.start_time
            ),
        },
    )
    .await?;
    let notice = one_notice(&mut tx, slot.id, message_id).await?;
    tx.commit().await?;
    Ok(notice)
}
