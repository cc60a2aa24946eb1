//! Leadership for background work that must run once per cluster (the booking reminders, the
//! sweeper of orphaned stored files) when several instances share one PostgreSQL database.
//!
//! The leader holds a session-level advisory lock (`pg_try_advisory_lock`) on a connection of
//! its own, taken out of the pool for as long as it leads. No table, no expiry to tune: when the
//! leader stops, crashes or loses its connection, PostgreSQL ends the session and releases the
//! lock, and the next instance to ask takes it over (within one worker tick). The leader checks
//! each time that its session still holds the lock, so a dropped connection ends its leadership
//! too. On SQLite there is one instance (the database is a local file): it always leads.

use prometheus_client::metrics::gauge::Gauge;
use sqlx::{AnyConnection, Connection};
use tokio::sync::Mutex;

use super::{Backend, Db};

/// The advisory lock key of the background leader. Keys in use: 4242001 the migrations,
/// 4242002 staff administration, (4242003, n) claim numbers, 4242017 payout batches; this one
/// must differ from all.
pub const LEADER_LOCK: i64 = 4_242_010;

/// This instance's claim to lead the background work; cheap to clone, one per process.
#[derive(Clone)]
pub struct Leadership {
    db: Db,
    /// The session holding the lock, while this instance leads.
    held: std::sync::Arc<Mutex<Option<AnyConnection>>>,
    /// 1 while this instance leads (`medclaim_background_leader`).
    gauge: Gauge,
}

impl Leadership {
    pub fn new(db: Db, gauge: Gauge) -> Leadership {
        Leadership {
            db,
            held: Default::default(),
            gauge,
        }
    }

    /// Whether this instance leads now: keeps the lock it holds, or tries to take it.
    pub async fn lead(&self) -> bool {
        let leads = match self.db.backend {
            Backend::Sqlite => true,
            Backend::Postgres => self.lead_postgres().await,
        };
        self.gauge.set(i64::from(leads));
        leads
    }

    async fn lead_postgres(&self) -> bool {
        let mut held = self.held.lock().await;
        if let Some(conn) = held.as_mut() {
            let still: Result<Option<i32>, _> = sqlx::query_scalar(
                "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
                   AND pid = pg_backend_pid() AND ((classid::BIGINT << 32) | objid::BIGINT) = $1",
            )
            .bind(LEADER_LOCK)
            .fetch_optional(&mut *conn)
            .await;
            if matches!(still, Ok(Some(_))) {
                return true;
            }
            tracing::warn!("background leadership lost");
            if let Some(conn) = held.take() {
                let _ = conn.close().await;
            }
        }
        let Ok(mut conn) = self.db.pool.acquire().await else {
            return false;
        };
        let got: Result<bool, _> = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LEADER_LOCK)
            .fetch_one(&mut *conn)
            .await;
        if matches!(got, Ok(true)) {
            // The lock belongs to this session: it leaves the pool and stays open.
            tracing::info!("this instance now leads the background work");
            *held = Some(conn.detach());
            true
        } else {
            false
        }
    }

    /// Gives the lock up (on shutdown), so another instance takes over at once.
    pub async fn resign(&self) {
        if let Some(conn) = self.held.lock().await.take() {
            let _ = conn.close().await;
        }
        self.gauge.set(0);
    }
}
