//! Booking settings: the cancellation cut-off and the reminder hour.

use std::time::Duration;

use super::env_u64;

#[derive(Clone, Debug)]
pub struct BookingSettings {
    /// A booking can be cancelled until this long before its slot starts.
    pub cancel_cutoff: Duration,
    /// Local hour (0–23) of the day before the slot when the reminder goes out.
    pub reminder_hour: u32,
}

impl BookingSettings {
    /// `MEDCLAIM_CANCEL_CUTOFF_MINUTES` (default 120), `MEDCLAIM_REMINDER_HOUR` (default 18).
    pub fn from_env() -> BookingSettings {
        BookingSettings {
            cancel_cutoff: Duration::from_secs(60 * env_u64("MEDCLAIM_CANCEL_CUTOFF_MINUTES", 120)),
            reminder_hour: env_u64("MEDCLAIM_REMINDER_HOUR", 18).min(23) as u32,
        }
    }
}
