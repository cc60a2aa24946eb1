//! The delivery worker: runs beside the HTTP server (one per instance; several instances share
//! the work through row claims). Each tick it turns due reminders into notifications and
//! delivers due outbox rows. A crash at any point loses nothing: unclaimed rows stay pending,
//! claimed ones come back when their lease expires and are sent again with the same
//! idempotency key.

use std::sync::Arc;

use sqlx::Row;
use tokio::task::JoinHandle;

use super::channels::{Channels, SendError};
use super::outbox::{self, Claimed, Payload};
use super::{Clock, Message, NotifySettings, SystemClock};
use crate::booking::domain::slot_start_ms;
use crate::crypto::Keys;
use crate::db::Db;
use crate::http::AppState;
use crate::insurers::connector::{self, Connector, JobError};

const BATCH: i64 = 20;

pub struct Worker {
    db: Db,
    keys: Keys,
    settings: NotifySettings,
    time_zone: chrono_tz::Tz,
    clock: Arc<dyn Clock>,
    channels: Channels,
    insurers: Connector,
}

/// How long one call to an insurer may take before it counts as failed (and is retried).
const INSURER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// What one tick did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tick {
    pub reminders: usize,
    pub sent: usize,
    pub failed: usize,
}

/// Starts the worker for the server, unless turned off (`MEDCLAIM_OUTBOX_WORKER=0`).
pub fn spawn(state: &AppState) -> Option<JoinHandle<()>> {
    if !state.settings.notify.worker {
        return None;
    }
    match Worker::new(state, Arc::new(SystemClock)) {
        Ok(worker) => Some(tokio::spawn(worker.run())),
        Err(e) => {
            tracing::error!(
                error = format!("{e:#}"),
                "outbox worker not started: bad channel settings"
            );
            None
        }
    }
}

impl Worker {
    pub fn new(state: &AppState, clock: Arc<dyn Clock>) -> anyhow::Result<Worker> {
        Ok(Worker {
            db: state.db.clone(),
            keys: state.keys.clone(),
            settings: state.settings.notify.clone(),
            time_zone: state.settings.time_zone,
            clock,
            channels: Channels::from_settings(&state.settings.notify)?,
            insurers: Connector {
                db: state.db.clone(),
                keys: state.keys.clone(),
                time_zone: state.settings.time_zone,
                timeout: INSURER_TIMEOUT,
            },
        })
    }

    /// Ticks forever, pausing `poll_interval` when there was nothing to do.
    pub async fn run(self) {
        loop {
            match self.tick().await {
                Ok(t) if t.sent + t.failed + t.reminders > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = format!("{e:#}"), "outbox tick failed"),
            }
            tokio::time::sleep(self.settings.poll_interval).await;
        }
    }

    pub async fn tick(&self) -> anyhow::Result<Tick> {
        let reminders = self.send_due_reminders().await?;
        let (sent, failed) = self.deliver_due().await?;
        Ok(Tick {
            reminders,
            sent,
            failed,
        })
    }

    /// Due reminders become notifications, in one transaction with marking them, so each is
    /// sent once. A booking no longer active, or a slot already begun, gets none.
    pub async fn send_due_reminders(&self) -> anyhow::Result<usize> {
        let now = self.clock.now_ms();
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
            super::notify(&mut tx, booking.try_get("user_id")?, &message).await?;
            sent += 1;
        }
        tx.commit().await?;
        Ok(sent)
    }

    /// Claims due outbox rows and delivers them; answers (sent, failed).
    pub async fn deliver_due(&self) -> anyhow::Result<(usize, usize)> {
        let lease = self.settings.lease.as_millis() as i64;
        let rows = outbox::claim_due(&self.db, self.clock.now_ms(), lease, BATCH).await?;
        let (mut sent, mut failed) = (0, 0);
        for row in rows {
            let outcome = if row.channel == connector::CHANNEL {
                self.insurers.run(&row.payload).await.map(Some)
            } else {
                self.deliver(&row).await.map_err(|e| JobError::Retry(e.0))
            };
            let now = self.clock.now_ms();
            match outcome {
                Ok(Some(())) => {
                    outbox::mark_sent(&self.db, &row, now).await?;
                    sent += 1;
                }
                Ok(None) => {}
                Err(JobError::Retry(e)) => {
                    let status =
                        outbox::mark_failed(&self.db, &row, now, &e, &self.settings).await?;
                    tracing::warn!(outbox_id = row.id, channel = row.channel, attempts = row.attempts, status, error = %e, "delivery failed");
                    failed += 1;
                }
                Err(JobError::Fatal(e)) => {
                    outbox::mark_dead(&self.db, &row, now, &e).await?;
                    tracing::warn!(outbox_id = row.id, channel = row.channel, attempts = row.attempts, status = "dead", error = %e, "delivery refused");
                    failed += 1;
                }
            }
        }
        Ok((sent, failed))
    }

    /// `Ok(None)`: the row was parked as `not_configured`.
    async fn deliver(&self, row: &Claimed) -> Result<Option<()>, SendError> {
        let payload: Payload = serde_json::from_str(&row.payload)
            .map_err(|_| SendError("unreadable payload".into()))?;
        match row.channel.as_str() {
            "sms" => {
                let Some(gateway) = &self.channels.sms else {
                    return self.park(row, "SMS gateway not configured").await;
                };
                let phone = self
                    .phone_of(row.user_id, payload.to_phone_enc.as_deref())
                    .await?;
                gateway
                    .send(&phone, &payload.text, &row.idempotency_key)
                    .await
                    .map(Some)
            }
            "email" => {
                let Some(mailer) = &self.channels.mail else {
                    return self.park(row, "SMTP not configured").await;
                };
                let to = row
                    .recipient
                    .as_deref()
                    .ok_or_else(|| SendError("no recipient".into()))?;
                mailer
                    .send(to, &payload, &row.idempotency_key)
                    .await
                    .map(Some)
            }
            _ => Err(SendError(format!("unknown channel {}", row.channel))),
        }
    }

    async fn park(&self, row: &Claimed, note: &str) -> Result<Option<()>, SendError> {
        outbox::mark_not_configured(&self.db, row, note)
            .await
            .map_err(|_| SendError("database".into()))?;
        Ok(None)
    }

    /// The user's phone — or the sealed new number of a phone change — decrypted now (no plain
    /// number is ever copied into the outbox).
    async fn phone_of(
        &self,
        user_id: Option<i64>,
        sealed: Option<&str>,
    ) -> Result<String, SendError> {
        let user = match user_id {
            Some(id) => crate::accounts::store::find_by_id(&self.db.pool, id)
                .await
                .map_err(|_| SendError("database".into()))?,
            None => None,
        };
        let phone = match (user, sealed) {
            (Some(u), Some(sealed)) => self
                .keys
                .decrypt(&format!("users.phone|{}", u.username), sealed)
                .ok(),
            (Some(u), None) => crate::accounts::store::open_phone(&self.keys, &u),
            (None, _) => None,
        };
        phone.ok_or_else(|| SendError("the user has no phone number".into()))
    }
}
