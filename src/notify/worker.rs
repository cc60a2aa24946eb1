//! The delivery worker: runs beside the HTTP server (one per instance; several instances share
//! the deliveries through row claims). Each tick it runs the registered periodic tasks (e.g. the
//! booking reminders) when this instance leads the background work (see
//! [`crate::db::lease`]), and delivers due outbox rows: SMS and e-mail itself, other channels
//! through the job handler registered for them (e.g. the insurer connector). Higher contexts
//! register their work here; this module imports none of them. A crash at any point loses nothing: unclaimed rows stay pending,
//! claimed ones come back when their lease expires and are sent again with the same
//! idempotency key.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::task::JoinHandle;

use super::channels::{Channels, SendError};
use super::outbox::{self, Claimed, Payload};
use super::{Clock, NotifySettings};
use crate::crypto::Keys;
use crate::db::Db;
use crate::db::lease::Leadership;
use crate::http::AppState;

const BATCH: i64 = 20;

/// Why a job did not finish.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Try again later (network, timeout, 5xx, 429, our database).
    #[error("{0}")]
    Retry(String),
    /// Retrying the same request cannot help (4xx, unreadable answer, inactive insurer): the
    /// job is parked as `dead` for an administrator, who can retry it from the outbox page.
    #[error("{0}")]
    Fatal(String),
}

impl From<sqlx::Error> for JobError {
    fn from(e: sqlx::Error) -> Self {
        JobError::Retry(format!("database: {e}"))
    }
}

/// A kind of outbox job that a higher context runs (the insurer connector): the worker claims
/// the row and hands over its payload, and records the outcome.
pub trait JobHandler: Send + Sync {
    /// The outbox channel whose rows this handler runs.
    fn channel(&self) -> &'static str;
    fn run<'a>(&'a self, payload: &'a str) -> BoxFuture<'a, Result<(), JobError>>;
}

/// Work done at the start of every tick (the booking reminders); answers how many things it did.
pub trait PeriodicTask: Send + Sync {
    fn run(&self, now_ms: i64) -> BoxFuture<'_, anyhow::Result<usize>>;
}

pub struct Worker {
    db: Db,
    keys: Keys,
    settings: NotifySettings,
    clock: Arc<dyn Clock>,
    channels: Channels,
    jobs: Vec<Arc<dyn JobHandler>>,
    tasks: Vec<Arc<dyn PeriodicTask>>,
    leadership: Leadership,
}

/// A worker running in the background.
pub struct Running {
    stop: tokio::sync::watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Running {
    /// Lets the tick in progress finish (so nothing it delivered is delivered again by another
    /// instance when the claim's lease runs out), at most `grace`, then stops the worker.
    pub async fn stop(self, grace: std::time::Duration) {
        let _ = self.stop.send(true);
        let abort = self.task.abort_handle();
        if tokio::time::timeout(grace, self.task).await.is_err() {
            tracing::warn!("outbox worker stopped in the middle of a tick");
            abort.abort();
        }
    }
}

/// What one tick did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tick {
    /// What the periodic tasks did (reminders sent).
    pub reminders: usize,
    pub sent: usize,
    pub failed: usize,
}

impl Worker {
    /// A worker that delivers SMS and e-mail; register other jobs and tasks with
    /// [`Worker::with_job`] and [`Worker::with_task`].
    pub fn new(state: &AppState, clock: Arc<dyn Clock>) -> anyhow::Result<Worker> {
        Ok(Worker {
            db: state.db.clone(),
            keys: state.keys.clone(),
            settings: state.settings.notify.clone(),
            clock,
            channels: Channels::from_settings(&state.settings.notify)?,
            jobs: Vec::new(),
            tasks: Vec::new(),
            leadership: state.leadership.clone(),
        })
    }

    pub fn with_job(mut self, handler: Arc<dyn JobHandler>) -> Worker {
        self.jobs.push(handler);
        self
    }

    pub fn with_task(mut self, task: Arc<dyn PeriodicTask>) -> Worker {
        self.tasks.push(task);
        self
    }

    /// Runs in the background until [`Running::stop`].
    pub fn spawn(self) -> Running {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        Running {
            stop,
            task: tokio::spawn(self.run(stopped)),
        }
    }

    /// Ticks until told to stop, pausing `poll_interval` when there was nothing to do; a tick
    /// begun is finished.
    async fn run(self, mut stopped: tokio::sync::watch::Receiver<bool>) {
        while !*stopped.borrow() {
            match self.tick().await {
                Ok(t) if t.sent + t.failed + t.reminders > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = format!("{e:#}"), "outbox tick failed"),
            }
            tokio::select! {
                () = tokio::time::sleep(self.settings.poll_interval) => {}
                _ = stopped.changed() => {}
            }
        }
    }

    pub async fn tick(&self) -> anyhow::Result<Tick> {
        let mut reminders = 0;
        if !self.tasks.is_empty() && self.leadership.lead().await {
            for task in &self.tasks {
                reminders += task.run(self.clock.now_ms()).await?;
            }
        }
        let (sent, failed) = self.deliver_due().await?;
        Ok(Tick {
            reminders,
            sent,
            failed,
        })
    }

    /// Claims due outbox rows and delivers them; answers (sent, failed).
    pub async fn deliver_due(&self) -> anyhow::Result<(usize, usize)> {
        let lease = self.settings.lease.as_millis() as i64;
        let rows = outbox::claim_due(&self.db, self.clock.now_ms(), lease, BATCH).await?;
        let (mut sent, mut failed) = (0, 0);
        for row in rows {
            let outcome = match self.jobs.iter().find(|j| j.channel() == row.channel) {
                Some(job) => job.run(&row.payload).await.map(Some),
                None => self.deliver(&row).await.map_err(|e| JobError::Retry(e.0)),
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
