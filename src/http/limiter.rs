//! The per-address sign-in limit: a generous burst guard, not the real defence. A campus NAT
//! puts thousands of students behind one address, so the bucket is large (`MEDCLAIM_LOGIN_BURST`,
//! 1,000 attempts) and refills quickly (`MEDCLAIM_LOGIN_PER_MINUTE`, 300 a minute); guessing one
//! account's password is stopped by that account's lock, kept in the database. The table of
//! addresses is bounded: idle addresses are forgotten, and at the cap the longest-idle one goes.
//! IPv6 addresses count by their /64, which one client usually holds whole.
//!
//! On PostgreSQL, where several instances may serve one campus, the sign-in buckets are rows of
//! `sign_in_limits`, so the limit holds across instances ([`SignInLimiter`]); on SQLite (one
//! instance) they stay in this process.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Addresses remembered at most (a few MB).
const MAX_ADDRESSES: usize = 100_000;

#[derive(Clone, Copy, Debug)]
pub struct LimiterSettings {
    pub per_minute: u32,
    pub burst: u32,
}

struct Bucket {
    tokens: f64,
    seen: Instant,
}

/// Token buckets by key (an address, an account), bounded in number.
pub struct KeyedLimiter<K> {
    settings: LimiterSettings,
    max_addresses: usize,
    buckets: Mutex<HashMap<K, Bucket>>,
}

/// Sign-in attempts by client address.
pub type AddressLimiter = KeyedLimiter<IpAddr>;

fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl KeyedLimiter<IpAddr> {
    /// Takes one attempt for `ip`; `false` when its bucket is empty.
    pub fn check(&self, ip: IpAddr) -> bool {
        self.check_at(ip, Instant::now())
    }

    /// [`check`](Self::check) at a given time (tests run ten minutes in a moment).
    pub fn check_at(&self, ip: IpAddr, now: Instant) -> bool {
        self.check_key_at(key(ip), now)
    }
}

impl<K: Hash + Eq + Copy> KeyedLimiter<K> {
    pub fn new(settings: LimiterSettings) -> KeyedLimiter<K> {
        KeyedLimiter::with_capacity(settings, MAX_ADDRESSES)
    }

    fn with_capacity(settings: LimiterSettings, max_addresses: usize) -> KeyedLimiter<K> {
        KeyedLimiter {
            settings: LimiterSettings {
                per_minute: settings.per_minute.max(1),
                burst: settings.burst.max(1),
            },
            max_addresses: max_addresses.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one from `key`'s bucket; `false` when it is empty.
    pub fn check_key(&self, key: K) -> bool {
        self.check_key_at(key, Instant::now())
    }

    pub fn check_key_at(&self, ip: K, now: Instant) -> bool {
        let burst = f64::from(self.settings.burst);
        let per_sec = f64::from(self.settings.per_minute) / 60.0;
        let refill = |b: &Bucket| {
            let secs = now.saturating_duration_since(b.seen).as_secs_f64();
            (b.tokens + secs * per_sec).min(burst)
        };
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if !buckets.contains_key(&ip) && buckets.len() >= self.max_addresses {
            // Forget the addresses whose bucket has refilled: they are as good as new.
            buckets.retain(|_, b| refill(b) < burst);
            if buckets.len() >= self.max_addresses
                && let Some(oldest) = buckets.iter().min_by_key(|(_, b)| b.seen).map(|(k, _)| *k)
            {
                buckets.remove(&oldest);
            }
        }
        let bucket = buckets.entry(ip).or_insert(Bucket {
            tokens: burst,
            seen: now,
        });
        let tokens = refill(bucket);
        bucket.seen = now;
        if tokens >= 1.0 {
            bucket.tokens = tokens - 1.0;
            true
        } else {
            bucket.tokens = tokens;
            false
        }
    }

    /// Addresses remembered now.
    pub fn len(&self) -> usize {
        self.buckets.lock().map(|b| b.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The sign-in limit per address: in the database on PostgreSQL (shared by every instance),
/// in this process on SQLite.
pub struct SignInLimiter {
    settings: LimiterSettings,
    local: AddressLimiter,
    shared: Option<crate::db::Db>,
}

impl SignInLimiter {
    pub fn new(settings: LimiterSettings, db: &crate::db::Db) -> SignInLimiter {
        let local = AddressLimiter::new(settings);
        SignInLimiter {
            settings: local.settings,
            local,
            shared: (db.backend == crate::db::Backend::Postgres).then(|| db.clone()),
        }
    }

    /// Takes one attempt for `ip`; `false` when its bucket is empty. When the database cannot
    /// be asked, this process's own bucket decides.
    pub async fn check(&self, ip: IpAddr) -> bool {
        let Some(db) = &self.shared else {
            return self.local.check(ip);
        };
        match self.check_shared(db, ip).await {
            Ok(allowed) => allowed,
            Err(e) => {
                tracing::warn!(error = %e, "shared sign-in limit unavailable; using this instance's");
                self.local.check(ip)
            }
        }
    }

    /// One upsert: the bucket refilled for the time since the last attempt (capped at the
    /// burst), less one attempt when it holds one. The row lock makes concurrent attempts from
    /// every instance queue, so the count is exact. PostgreSQL only (`LEAST`, `GREATEST`).
    async fn check_shared(&self, db: &crate::db::Db, ip: IpAddr) -> sqlx::Result<bool> {
        const REFILLED: &str = "LEAST($2, sign_in_limits.tokens_milli
            + GREATEST(0, $3 - sign_in_limits.seen_at) * $4 / 60000)";
        let burst = i64::from(self.settings.burst) * 1000;
        let allowed: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "INSERT INTO sign_in_limits (address, tokens_milli, seen_at, allowed)
             VALUES ($1, $2 - 1000, $3, 1)
             ON CONFLICT (address) DO UPDATE SET
               tokens_milli = CASE WHEN {REFILLED} >= 1000 THEN {REFILLED} - 1000 ELSE {REFILLED} END,
               allowed = CASE WHEN {REFILLED} >= 1000 THEN 1 ELSE 0 END,
               seen_at = $3
             RETURNING allowed"
        )))
        .bind(key(ip).to_string())
        .bind(burst)
        .bind(crate::db::now_ms())
        .bind(i64::from(self.settings.per_minute) * 1000)
        .fetch_one(&db.writer)
        .await?;
        Ok(allowed == 1)
    }

    /// Forgets the addresses whose bucket has refilled (they are as good as new); answers how
    /// many. Run now and then by the instance leading the background work.
    pub async fn forget_idle(&self) -> sqlx::Result<u64> {
        let Some(db) = &self.shared else {
            return Ok(0);
        };
        let refill_ms =
            i64::from(self.settings.burst) * 60_000 / i64::from(self.settings.per_minute.max(1));
        let done = sqlx::query("DELETE FROM sign_in_limits WHERE seen_at < $1")
            .bind(crate::db::now_ms() - refill_ms)
            .execute(&db.writer)
            .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn defaults() -> LimiterSettings {
        LimiterSettings {
            per_minute: 300,
            burst: 1000,
        }
    }

    #[test]
    fn a_dorm_nat_of_two_thousand_students_in_ten_minutes_is_let_through() {
        let limiter = AddressLimiter::new(defaults());
        let nat: IpAddr = "10.20.30.40".parse().unwrap();
        let start = Instant::now();
        // Everyone at once at the start of a class, then the rest over ten minutes: 1,000
        // in the first few seconds and 1,000 more spread over the next ten minutes.
        for i in 0..1000u64 {
            assert!(
                limiter.check_at(nat, start + Duration::from_millis(i * 3)),
                "attempt {i}"
            );
        }
        for i in 0..1000u64 {
            let at = start + Duration::from_secs(3) + Duration::from_millis(i * 597);
            assert!(limiter.check_at(nat, at), "attempt {}", 1000 + i);
        }
    }

    #[test]
    fn a_flood_from_one_address_is_cut_off_and_others_are_not() {
        let limiter = AddressLimiter::new(defaults());
        let bot: IpAddr = "203.0.113.9".parse().unwrap();
        let now = Instant::now();
        let allowed = (0..5000).filter(|_| limiter.check_at(bot, now)).count();
        assert_eq!(allowed, 1000);
        assert!(limiter.check_at("203.0.113.10".parse().unwrap(), now));
        // A minute later the bucket has 300 attempts again.
        let later = now + Duration::from_secs(60);
        let allowed = (0..5000).filter(|_| limiter.check_at(bot, later)).count();
        assert_eq!(allowed, 300);
    }

    #[test]
    fn memory_is_bounded_and_ipv6_counts_by_prefix() {
        let limiter = AddressLimiter::with_capacity(defaults(), 100);
        let now = Instant::now();
        for i in 0..10_000u32 {
            limiter.check_at(IpAddr::V4(i.into()), now);
        }
        assert!(limiter.len() <= 100, "{}", limiter.len());
        let limiter = AddressLimiter::new(LimiterSettings {
            per_minute: 1,
            burst: 1,
        });
        assert!(limiter.check_at("2001:db8::1".parse().unwrap(), now));
        assert!(!limiter.check_at("2001:db8::2".parse().unwrap(), now));
    }
}
