//! Image work under a memory budget. Decoding a photo allocates its full bitmap (a 7000×8500
//! PNG of 189 KB becomes 178 MB of pixels), so the number of decodes at once and the memory
//! they may hold together are both bounded; a request that cannot get its share in time is
//! answered 503 `busy` with `Retry-After` instead of growing the process without limit.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::config::DecodeSettings;
use crate::http::{AppError, ErrorCode};

/// The process-wide budget (per instance: each `serve` process bounds its own memory).
pub struct DecodeBudget {
    slots: Arc<Semaphore>,
    memory: Arc<Semaphore>,
    memory_mib: u32,
    wait: Duration,
}

/// Held while one image is decoded and re-encoded.
pub struct DecodePermit {
    _slot: tokio::sync::OwnedSemaphorePermit,
    _memory: tokio::sync::OwnedSemaphorePermit,
}

impl DecodeBudget {
    pub fn new(settings: DecodeSettings) -> DecodeBudget {
        DecodeBudget {
            slots: Arc::new(Semaphore::new(settings.concurrent)),
            memory: Arc::new(Semaphore::new(settings.memory_mib as usize)),
            memory_mib: settings.memory_mib,
            wait: settings.wait,
        }
    }

    /// Waits for a decode slot and `cost` MiB of the budget; `busy` when the wait runs out.
    /// A decode larger than the whole budget is refused at once with `too_large` (it could
    /// never run).
    pub async fn acquire(
        &self,
        cost_mib: u32,
        too_large: impl FnOnce() -> AppError,
    ) -> Result<DecodePermit, AppError> {
        if cost_mib > self.memory_mib {
            return Err(too_large());
        }
        let take = async {
            let slot = self.slots.clone().acquire_owned().await.ok()?;
            let memory = self
                .memory
                .clone()
                .acquire_many_owned(cost_mib)
                .await
                .ok()?;
            Some(DecodePermit {
                _slot: slot,
                _memory: memory,
            })
        };
        match tokio::time::timeout(self.wait, take).await {
            Ok(Some(permit)) => Ok(permit),
            _ => Err(busy()),
        }
    }
}

/// 503 `busy`; the response carries `Retry-After` (added by [`retry_after`]).
pub fn busy() -> AppError {
    ErrorCode::Busy
        .with_message("The server is processing many photos; try again in a few seconds.")
}

/// Seconds a client is asked to wait after `busy` or `rate_limited`.
pub const RETRY_AFTER_SECS: &str = "5";

/// Adds `Retry-After` to every 429 and 503 answer (`rate_limited`, `busy`), pages and API
/// alike, so a client knows when to try again.
pub async fn retry_after(mut response: Response) -> Response {
    let status = response.status();
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .entry(header::RETRY_AFTER)
            .or_insert(HeaderValue::from_static(RETRY_AFTER_SECS));
    }
    response.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(concurrent: usize, memory_mib: u32, wait_ms: u64) -> DecodeBudget {
        DecodeBudget::new(DecodeSettings {
            concurrent,
            memory_mib,
            wait: Duration::from_millis(wait_ms),
        })
    }

    fn refused() -> AppError {
        ErrorCode::ImageTooLarge.with_message("too large")
    }

    #[tokio::test]
    async fn memory_is_shared_and_a_late_decode_is_told_busy() {
        let b = budget(4, 512, 50);
        let first = b.acquire(300, refused).await.expect("fits");
        let err = b
            .acquire(300, refused)
            .await
            .err()
            .expect("over budget while the first runs");
        assert_eq!((err.status.as_u16(), err.code), (503, ErrorCode::Busy));
        drop(first);
        b.acquire(300, refused)
            .await
            .expect("fits again once released");
    }

    #[tokio::test]
    async fn slots_bound_concurrency_and_larger_than_budget_is_refused() {
        let b = budget(1, 512, 50);
        let _one = b.acquire(10, refused).await.unwrap();
        assert_eq!(b.acquire(10, refused).await.err().unwrap().code, "busy");
        let huge = b.acquire(513, refused).await.err().unwrap();
        assert_eq!(huge.code, "image_too_large");
    }
}
