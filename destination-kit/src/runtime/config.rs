//! [`DeliveryConfig`] and [`RetryPolicy`]: the knobs of a delivery run.

use std::time::Duration;

/// Longest de-duplication window the runtime accepts (170 days).
pub const MAX_DEDUP_WINDOW: Duration = Duration::from_secs(170 * 86_400);

/// How failed attempts are retried.
///
/// Waits are exponential with full jitter: before retry `n` (1-based) the runtime waits a random
/// duration in `[0, min(max_backoff, initial_backoff · 2^(n-1))]`; when the partner gave a
/// `Retry-After`, the longer of the two (never sooner than asked, never a busy loop on
/// `Retry-After: 0`). A payload whose next wait would end after `first attempt +
/// max_retry_duration` ends `expired` at once, without waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// First backoff ceiling (default 1 s).
    pub initial_backoff: Duration,
    /// Cap of one wait (default 10 min).
    pub max_backoff: Duration,
    /// Total budget from a payload's first attempt (default 4 h).
    pub max_retry_duration: Duration,
    /// Timeout of one HTTP attempt (default 10 s). Always real time.
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(600),
            max_retry_duration: Duration::from_secs(4 * 3600),
            attempt_timeout: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The backoff ceiling before retry number `retry` (1-based), before jitter.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let shift = retry.saturating_sub(1).min(40);
        let factor = 1u64 << shift;
        let nanos = (self.initial_backoff.as_nanos() as u64).saturating_mul(factor);
        Duration::from_nanos(nanos).min(self.max_backoff)
    }

    /// A full-jitter wait before retry number `retry` (1-based): uniform in `[0, ceiling]`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self.ceiling(retry);
        if ceiling.is_zero() {
            return ceiling;
        }
        let nanos = rand::random_range(0..=ceiling.as_nanos() as u64);
        Duration::from_nanos(nanos)
    }
}

/// Default [`DeliveryConfig::max_pending_bytes`]: 16 MiB of payloads in started batches.
pub const DEFAULT_MAX_PENDING_BYTES: usize = 16 << 20;

/// Everything a [`Runtime`](super::Runtime) needs besides the destination.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Retry and timeout policy.
    pub retry: RetryPolicy,
    /// Most requests in flight at once to the destination (default 8).
    pub concurrency: usize,
    /// Most batches started but not finished (in flight or waiting to retry) before the runtime
    /// stops reading input (default `4 × concurrency`, at least 16). Bounds memory.
    pub max_pending_batches: usize,
    /// Most payload bytes in batches started but not finished before the runtime stops reading
    /// input (default [`DEFAULT_MAX_PENDING_BYTES`], 16 MiB); one batch is always allowed, however
    /// large. With large batches (Amplitude's ~1 MB) `max_pending_batches` alone let memory
    /// swing by tens of MB with how far sending fell behind; this bounds it in bytes.
    ///
    /// ```
    /// use destination_kit::runtime::DeliveryConfig;
    /// let config = DeliveryConfig::default().max_pending_bytes(4 << 20);
    /// assert_eq!(config.max_pending_bytes, 4 << 20);
    /// ```
    pub max_pending_bytes: usize,
    /// An open batch is sent at the latest this long after it was started (default 200 ms);
    /// matters for long-lived runtimes fed slowly.
    pub flush_interval: Duration,
    /// Payloads per request, at most the destination's own limit; `Some(1)` turns batching off
    /// (one event per request). The payloads one event maps to on one route (an order and its
    /// products) are never split by this size, only by the destination's own limits: a batch
    /// that cannot take all of them is sent first.
    pub batch_size: Option<usize>,
    /// Most requests per second, paced on the runtime's clock; `None` for no limit.
    pub rate_limit: Option<u32>,
    /// Source name: de-duplication is per source.
    pub source: String,
    /// De-duplication window (default 24 h, at most [`MAX_DEDUP_WINDOW`]).
    pub dedup_window: Duration,
    /// Most ids the in-memory de-duplication store keeps in hash sets before it spills older
    /// ones to sorted files in a temporary directory (default
    /// [`DEFAULT_MEMORY_IDS`](crate::runtime::DEFAULT_MEMORY_IDS), about 9.5 MB); `None` keeps
    /// every id in memory (about 18 bytes each). Not used with a durable store.
    pub dedup_memory_ids: Option<usize>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            retry: RetryPolicy::default(),
            concurrency: 8,
            max_pending_batches: 32,
            max_pending_bytes: DEFAULT_MAX_PENDING_BYTES,
            flush_interval: Duration::from_millis(200),
            batch_size: None,
            rate_limit: None,
            source: "default".into(),
            dedup_window: Duration::from_secs(86_400),
            dedup_memory_ids: Some(crate::runtime::DEFAULT_MEMORY_IDS),
        }
    }
}

impl DeliveryConfig {
    /// Set the in-flight request limit (and scale `max_pending_batches` with it).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self.max_pending_batches = (self.concurrency * 4).max(16);
        self
    }
    /// Set the byte budget of started, unfinished batches (at least one batch always runs).
    pub fn max_pending_bytes(mut self, bytes: usize) -> Self {
        self.max_pending_bytes = bytes;
        self
    }
    /// Set the retry policy.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
    /// Set the total retry budget.
    pub fn max_retry_duration(mut self, d: Duration) -> Self {
        self.retry.max_retry_duration = d;
        self
    }
    /// Set the per-attempt timeout.
    pub fn attempt_timeout(mut self, d: Duration) -> Self {
        self.retry.attempt_timeout = d;
        self
    }
    /// Set the payloads-per-request override (`1` = no batching).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = Some(n.max(1));
        self
    }
    /// Set the source name.
    pub fn source(mut self, s: impl Into<String>) -> Self {
        self.source = s.into();
        self
    }
    /// Set the de-duplication window (clamped to [`MAX_DEDUP_WINDOW`]).
    pub fn dedup_window(mut self, d: Duration) -> Self {
        self.dedup_window = d.min(MAX_DEDUP_WINDOW);
        self
    }
    /// Set the in-memory de-duplication limit in ids (`None`: no limit, never spill).
    pub fn dedup_memory_ids(mut self, ids: Option<usize>) -> Self {
        self.dedup_memory_ids = ids;
        self
    }
    /// Set a request-rate limit.
    pub fn rate_limit(mut self, per_second: u32) -> Self {
        self.rate_limit = Some(per_second);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_and_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.ceiling(1), Duration::from_secs(1));
        assert_eq!(p.ceiling(2), Duration::from_secs(2));
        assert_eq!(p.ceiling(10), Duration::from_secs(512));
        assert_eq!(p.ceiling(11), Duration::from_secs(600));
        assert_eq!(p.ceiling(1000), Duration::from_secs(600));
        for n in 1..20 {
            assert!(p.backoff(n) <= p.ceiling(n));
        }
    }
}
