//! SQL for slots, bookings and reminders. Seats are taken and freed only by conditional
//! updates, so `booked` never exceeds `capacity` and always equals the active bookings.

use crate::money::Cents;
use sqlx::{Any, Executor, FromRow};

use super::domain::SlotSpec;
use crate::db::{Tx, now_ms};

#[derive(Clone, Debug, FromRow)]
pub struct SlotRow {
    pub id: i64,
    pub slot_date: String,
    pub start_time: String,
    pub end_time: String,
    pub capacity: i64,
    pub booked: i64,
    /// Set when the office cancelled the slot (no longer listed for students or bookable).
    pub cancelled_at: Option<i64>,
    pub cancel_reason: Option<String>,
}

const SLOT_COLUMNS: &str =
    "id, slot_date, start_time, end_time, capacity, booked, cancelled_at, cancel_reason";

/// Inserts a slot; `None` when one already starts at that date and time.
pub async fn insert_slot(
    tx: &mut Tx,
    spec: &SlotSpec,
    created_by: Option<i64>,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "INSERT INTO slots (slot_date, start_time, end_time, capacity, booked, created_by, created_at)
         VALUES ($1, $2, $3, $4, 0, $5, $6) ON CONFLICT (slot_date, start_time) DO NOTHING RETURNING id",
    )
    .bind(spec.date_text())
    .bind(spec.start_text())
    .bind(spec.end_text())
    .bind(spec.capacity)
    .bind(created_by)
    .bind(now_ms())
    .fetch_optional(&mut **tx)
    .await
}

pub async fn find_slot<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: i64,
) -> sqlx::Result<Option<SlotRow>> {
    sqlx::query_as::<_, SlotRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {SLOT_COLUMNS} FROM slots WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(exec)
    .await
}

/// Slots on or after `from_date`, in time order, after the keyset `(date, start)` when given;
/// cancelled ones only for the console (`with_cancelled`).
pub async fn list_slots<'e>(
    exec: impl Executor<'e, Database = Any>,
    from_date: &str,
    after: Option<(&str, &str)>,
    limit: i64,
    with_cancelled: bool,
) -> sqlx::Result<Vec<SlotRow>> {
    let (after_date, after_start) = after.unwrap_or(("", ""));
    sqlx::query_as::<_, SlotRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {SLOT_COLUMNS} FROM slots WHERE slot_date >= $1
           AND (slot_date > $2 OR (slot_date = $2 AND start_time > $3))
           AND ($5 = 1 OR cancelled_at IS NULL)
         ORDER BY slot_date, start_time LIMIT $4"
    )))
    .bind(from_date)
    .bind(after_date)
    .bind(after_start)
    .bind(limit)
    .bind(crate::db::flag(with_cancelled))
    .fetch_all(exec)
    .await
}

/// Sets the capacity unless fewer seats than are booked would remain; false when refused.
pub async fn set_capacity(tx: &mut Tx, id: i64, capacity: i64) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE slots SET capacity = $1 WHERE id = $2 AND booked <= $1")
        .bind(capacity)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes a slot that never had a booking; false otherwise.
pub async fn delete_unbooked_slot(tx: &mut Tx, id: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "DELETE FROM slots WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM bookings WHERE slot_id = $1)",
    )
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Takes one seat if one is left and the slot is not cancelled: the single place where
/// capacity is enforced.
pub async fn take_seat(tx: &mut Tx, slot_id: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE slots SET booked = booked + 1 WHERE id = $1 AND booked < capacity AND cancelled_at IS NULL",
    )
    .bind(slot_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks a slot cancelled and gives back `freed` seats; false when it already was.
pub async fn mark_cancelled(
    tx: &mut Tx,
    slot_id: i64,
    reason: &str,
    freed: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE slots SET cancelled_at = $1, cancel_reason = $2, booked = booked - $3
         WHERE id = $4 AND cancelled_at IS NULL",
    )
    .bind(now_ms())
    .bind(reason)
    .bind(freed)
    .bind(slot_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn free_seat(tx: &mut Tx, slot_id: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE slots SET booked = booked - 1 WHERE id = $1 AND booked > 0")
        .bind(slot_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[derive(Clone, Debug, FromRow)]
pub struct CaseBrief {
    pub id: i64,
    pub status: crate::claims::CaseStatus,
    pub payout_cents: Option<Cents>,
    pub student_id: i64,
    /// An external insurer pays this case directly: there is no paper to hand in.
    pub insurer_id: Option<i64>,
}

/// The student's own case (another student's answers `None`, like a missing one).
pub async fn own_case<'e>(
    exec: impl Executor<'e, Database = Any>,
    case_id: i64,
    student_id: i64,
) -> sqlx::Result<Option<CaseBrief>> {
    sqlx::query_as::<_, CaseBrief>(
        "SELECT id, status, payout_cents, student_id, insurer_id FROM cases WHERE id = $1 AND student_id = $2",
    )
    .bind(case_id)
    .bind(student_id)
    .fetch_optional(exec)
    .await
}

pub async fn set_handed_in(tx: &mut Tx, case_id: i64, at: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE cases SET handed_in_at = $1 WHERE id = $2")
        .bind(at)
        .bind(case_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn insert_booking(
    tx: &mut Tx,
    slot_id: i64,
    case_id: i64,
    user_id: i64,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO bookings (slot_id, case_id, user_id, status, created_at) VALUES ($1, $2, $3, 'active', $4) RETURNING id",
    )
    .bind(slot_id)
    .bind(case_id)
    .bind(user_id)
    .bind(now_ms())
    .fetch_one(&mut **tx)
    .await
}

#[derive(Clone, Debug, FromRow)]
pub struct BookingRow {
    pub id: i64,
    pub slot_id: i64,
    pub case_id: i64,
    pub user_id: i64,
    pub status: String,
    pub created_at: i64,
    pub cancelled_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub slot_date: String,
    pub start_time: String,
    pub end_time: String,
}

const BOOKING_COLUMNS: &str = "b.id, b.slot_id, b.case_id, b.user_id, b.status, b.created_at, b.cancelled_at, \
                               b.completed_at, s.slot_date, s.start_time, s.end_time";

/// A booking, optionally only when it belongs to `owner`.
pub async fn find_booking<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: i64,
    owner: Option<i64>,
) -> sqlx::Result<Option<BookingRow>> {
    sqlx::query_as::<_, BookingRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {BOOKING_COLUMNS} FROM bookings b JOIN slots s ON s.id = b.slot_id
         WHERE b.id = $1 AND ($2 = 0 OR b.user_id = $2)"
    )))
    .bind(id)
    .bind(owner.unwrap_or(0))
    .fetch_optional(exec)
    .await
}

/// A student's bookings, newest slot first.
pub async fn bookings_of<'e>(
    exec: impl Executor<'e, Database = Any>,
    user_id: i64,
) -> sqlx::Result<Vec<BookingRow>> {
    sqlx::query_as::<_, BookingRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {BOOKING_COLUMNS} FROM bookings b JOIN slots s ON s.id = b.slot_id
         WHERE b.user_id = $1 ORDER BY s.slot_date DESC, s.start_time DESC, b.id DESC LIMIT 100"
    )))
    .bind(user_id)
    .fetch_all(exec)
    .await
}

/// The active bookings of a slot, in booking order.
pub async fn active_bookings_on(tx: &mut Tx, slot_id: i64) -> sqlx::Result<Vec<BookingRow>> {
    sqlx::query_as::<_, BookingRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {BOOKING_COLUMNS} FROM bookings b JOIN slots s ON s.id = b.slot_id
         WHERE b.slot_id = $1 AND b.status = 'active' ORDER BY b.id"
    )))
    .bind(slot_id)
    .fetch_all(&mut **tx)
    .await
}

/// Ends an active booking (`cancelled`, `completed` or `no_show`); false when it was not active.
pub async fn close_booking(tx: &mut Tx, id: i64, to: &str, at: i64) -> sqlx::Result<bool> {
    let column = if to == "cancelled" {
        "cancelled_at"
    } else {
        "completed_at"
    };
    let done = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE bookings SET status = $1, {column} = $2 WHERE id = $3 AND status = 'active'"
    )))
    .bind(to)
    .bind(at)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn schedule_reminder(tx: &mut Tx, booking_id: i64, due_at: i64) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO booking_reminders (booking_id, due_at, status, created_at) VALUES ($1, $2, 'pending', $3)")
        .bind(booking_id)
        .bind(due_at)
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn drop_reminder(tx: &mut Tx, booking_id: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE booking_reminders SET status = 'cancelled', done_at = $1 WHERE booking_id = $2 AND status = 'pending'")
        .bind(now_ms())
        .bind(booking_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[derive(Clone, Debug, FromRow)]
pub struct RosterRow {
    pub booking_id: i64,
    pub status: String,
    pub user_id: i64,
    pub username: String,
    pub name: String,
    pub phone_enc: Option<String>,
    pub case_id: i64,
    pub case_status: String,
    pub payout_cents: Option<Cents>,
}

/// Everyone booked on a slot (cancelled bookings left out), in booking order.
pub async fn roster<'e>(
    exec: impl Executor<'e, Database = Any>,
    slot_id: i64,
) -> sqlx::Result<Vec<RosterRow>> {
    sqlx::query_as::<_, RosterRow>(
        "SELECT b.id AS booking_id, b.status, u.id AS user_id, u.username, u.name, u.phone_enc,
                c.id AS case_id, c.status AS case_status, c.payout_cents
         FROM bookings b JOIN users u ON u.id = b.user_id JOIN cases c ON c.id = b.case_id
         WHERE b.slot_id = $1 AND b.status <> 'cancelled' ORDER BY b.id",
    )
    .bind(slot_id)
    .fetch_all(exec)
    .await
}

#[derive(Clone, Debug, FromRow)]
pub struct BookableCase {
    pub id: i64,
    pub hospital: String,
    pub visit_date: String,
    pub payout_cents: Option<Cents>,
}

/// The student's approved cases, which can be booked.
pub async fn bookable_cases<'e>(
    exec: impl Executor<'e, Database = Any>,
    user_id: i64,
) -> sqlx::Result<Vec<BookableCase>> {
    sqlx::query_as::<_, BookableCase>(
        "SELECT id, hospital, visit_date, payout_cents FROM cases WHERE student_id = $1 AND status = 'approved' ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(exec)
    .await
}

/// The booked student's login name and sealed phone (for the desk's step-up reveal); a
/// cancelled booking answers `None`.
pub async fn booked_student_phone<'e>(
    exec: impl Executor<'e, Database = Any>,
    booking_id: i64,
) -> sqlx::Result<Option<(String, Option<String>)>> {
    sqlx::query_as(
        "SELECT u.username, u.phone_enc FROM bookings b JOIN users u ON u.id = b.user_id
         WHERE b.id = $1 AND b.status <> 'cancelled'",
    )
    .bind(booking_id)
    .fetch_optional(exec)
    .await
}

/// Releases the case's active booking, if any (an admin undid the approval it was made for):
/// the booking is cancelled and its seat freed. Returns the slot it held.
/// Its reminder is dropped too.
pub async fn release_booking_of_case(tx: &mut Tx, case_id: i64) -> sqlx::Result<Option<i64>> {
    let held: Option<(i64, i64)> = sqlx::query_as(
        "UPDATE bookings SET status = 'cancelled', cancelled_at = $2
         WHERE case_id = $1 AND status = 'active' RETURNING id, slot_id",
    )
    .bind(case_id)
    .bind(crate::db::now_ms())
    .fetch_optional(&mut **tx)
    .await?;
    let Some((booking_id, slot_id)) = held else {
        return Ok(None);
    };
    drop_reminder(tx, booking_id).await?;
    free_seat(tx, slot_id).await?;
    Ok(Some(slot_id))
}

/// Records what the desk sent to a slot (`message` or `cancel`); answers its id.
pub async fn insert_slot_message(
    tx: &mut Tx,
    slot_id: i64,
    kind: &str,
    body: &str,
    sent_by: Option<i64>,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO slot_messages (slot_id, kind, body, sent_by, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(slot_id)
    .bind(kind)
    .bind(body)
    .bind(sent_by)
    .bind(now_ms())
    .fetch_one(&mut **tx)
    .await
}

/// One student told by a slot message: the inbox row and the outbox rows it queued.
pub async fn insert_recipient(
    tx: &mut Tx,
    message_id: i64,
    booking: &BookingRow,
    told: &crate::notify::Notified,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO slot_message_recipients (message_id, booking_id, user_id, notification_id, sms_outbox_id, email_outbox_id)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(message_id)
    .bind(booking.id)
    .bind(booking.user_id)
    .bind(told.notification_id)
    .bind(told.sms)
    .bind(told.email)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One delivery of a slot message, or a message or recipient without one (outer joins).
#[derive(Clone, Debug, FromRow)]
pub struct DeliveryRow {
    pub message_id: i64,
    pub slot_id: i64,
    pub kind: String,
    pub body: String,
    pub created_at: i64,
    pub booking_id: Option<i64>,
    pub case_id: Option<i64>,
    pub user_id: Option<i64>,
    pub username: Option<String>,
    pub name: Option<String>,
    pub notification_id: Option<i64>,
    pub outbox_id: Option<i64>,
    pub channel: Option<String>,
    pub outbox_status: Option<String>,
    pub attempts: Option<i64>,
    pub sent_at: Option<i64>,
}

/// The latest messages of a slot (or only `message_id`), newest first, each with its
/// recipients and their outbox rows as they stand now.
pub async fn slot_deliveries<'e>(
    exec: impl Executor<'e, Database = Any>,
    slot_id: i64,
    message_id: Option<i64>,
) -> sqlx::Result<Vec<DeliveryRow>> {
    sqlx::query_as::<_, DeliveryRow>(
        "SELECT m.id AS message_id, m.slot_id, m.kind, m.body, m.created_at,
                r.booking_id, b.case_id, r.user_id, u.username, u.name, r.notification_id,
                o.id AS outbox_id, o.channel, o.status AS outbox_status, o.attempts, o.sent_at
         FROM slot_messages m
         LEFT JOIN slot_message_recipients r ON r.message_id = m.id
         LEFT JOIN bookings b ON b.id = r.booking_id
         LEFT JOIN users u ON u.id = r.user_id
         LEFT JOIN outbox o ON o.id = r.sms_outbox_id OR o.id = r.email_outbox_id
         WHERE m.id IN (SELECT id FROM slot_messages WHERE slot_id = $1 AND ($2 = 0 OR id = $2)
                        ORDER BY id DESC LIMIT 20)
         ORDER BY m.id DESC, r.booking_id, o.id",
    )
    .bind(slot_id)
    .bind(message_id.unwrap_or(0))
    .fetch_all(exec)
    .await
}
