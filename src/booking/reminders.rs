//! The day-before reminder (SPEC §5): a periodic task of the notification worker that turns
//! due reminders into notifications.

use futures_util::future::BoxFuture;
use sqlx::Row;

use super::domain::slot_start_ms;
use crate::db::Db;
use crate::notify::worker::PeriodicTask;
use crate::notify::{Message, notify};

const BATCH: i64 = 20;

pub struct Reminders {
    pub db: Db,
    pub time_zone: chrono_tz::Tz,
}

impl PeriodicTask for Reminders {
    fn run(&self, now_ms: i64) -> BoxFuture<'_, anyhow::Result<usize>> {
        Box::pin(self.send_due(now_ms))
    }
}

impl Reminders {
    /// Due reminders become notifications, in one transaction with marking them, so each is
    /// sent once. A booking no longer active, or a slot already begun, gets none.
    pub async fn send_due(&self, now: i64) -> anyhow::Result<usize> {
        let mut tx = self.db.begin().await?;
        let claimed = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE booking_reminders SET status = 'sent', done_at = $1
             WHERE id IN (SELECT id FROM booking_reminders WHERE status = 'pending' AND due_at <= $1
                          ORDER BY due_at, id LIMIT $2{})
             RETURNING id, booking_id",
            self.db.skip_locked()
        )))
        .bind(now)
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        let mut sent = 0;
        for row in claimed {
            let reminder_id: i64 = row.try_get("id")?;
            let booking_id: i64 = row.try_get("booking_id")?;
            let booking = sqlx::query(
                "SELECT b.status, b.user_id, b.case_id, s.slot_date, s.start_time, s.end_time
                 FROM bookings b JOIN slots s ON s.id = b.slot_id WHERE b.id = $1",
            )
            .bind(booking_id)
            .fetch_one(&mut *tx)
            .await?;
            let status: String = booking.try_get("status")?;
            let slot_date: String = booking.try_get("slot_date")?;
            let start: String = booking.try_get("start_time")?;
            let begun = slot_start_ms(self.time_zone, &slot_date, &start).is_none_or(|s| s <= now);
            if status != "active" || begun {
                sqlx::query("UPDATE booking_reminders SET status = 'skipped' WHERE id = $1")
                    .bind(reminder_id)
                    .execute(&mut *tx)
                    .await?;
                continue;
            }
            let message = Message::BookingReminder {
                case_id: booking.try_get("case_id")?,
                slot_date,
                start,
                end: booking.try_get("end_time")?,
            };
            notify(&mut tx, booking.try_get("user_id")?, &message).await?;
            sent += 1;
        }
        tx.commit().await?;
        Ok(sent)
    }
}
