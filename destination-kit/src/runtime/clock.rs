//! Injectable time: [`Clock`], the real [`SystemClock`] and the virtual [`TestClock`].

use async_trait::async_trait;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Where the runtime reads the time and waits (backoff, Retry-After). The per-attempt timeout is
/// not on this clock: it is always a real tokio timeout.
#[async_trait]
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
    /// Wait `d`.
    async fn sleep(&self, d: Duration);
    /// Wait until `t` (at once when it has passed). The runtime waits this way, so waits computed
    /// at the same moment by concurrent batches end at the same moment on a [`TestClock`].
    async fn sleep_until(&self, t: SystemTime) {
        let d = t.duration_since(self.now()).unwrap_or(Duration::ZERO);
        self.sleep(d).await
    }
}

/// Wall-clock time and tokio sleeps.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await
    }
}

/// Virtual time for tests: sleeps return at once and move the clock forward. `sleep_until(t)`
/// moves it to `max(now, t)`, so concurrent waits that end at the same moment do not add up and
/// elapsed virtual time is what a real run would have taken; `sleep(d)` moves it by `d`.
///
/// ```
/// use destination_kit::runtime::{Clock, TestClock};
/// use std::time::{Duration, UNIX_EPOCH};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let c = TestClock::new(UNIX_EPOCH + Duration::from_secs(1_000));
/// c.sleep(Duration::from_secs(3600)).await;
/// assert_eq!(c.elapsed(), Duration::from_secs(3600));
/// # });
/// ```
#[derive(Debug)]
pub struct TestClock {
    start: SystemTime,
    now: Mutex<SystemTime>,
    slept: Mutex<Vec<Duration>>,
}

impl TestClock {
    /// A clock standing at `start`.
    pub fn new(start: SystemTime) -> Self {
        TestClock {
            start,
            now: Mutex::new(start),
            slept: Mutex::new(Vec::new()),
        }
    }
    /// Virtual time passed since `start`.
    pub fn elapsed(&self) -> Duration {
        self.now()
            .duration_since(self.start)
            .unwrap_or(Duration::ZERO)
    }
    /// Move the clock forward by `d` (as if the test waited).
    pub fn advance(&self, d: Duration) {
        let mut now = self.now.lock().expect("clock lock");
        *now += d;
    }
    /// Every `sleep` requested so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.slept.lock().expect("clock lock").clone()
    }
}

#[async_trait]
impl Clock for TestClock {
    fn now(&self) -> SystemTime {
        *self.now.lock().expect("clock lock")
    }
    async fn sleep(&self, d: Duration) {
        {
            let mut now = self.now.lock().expect("clock lock");
            let target = *now + d;
            if target > *now {
                *now = target;
            }
            self.slept.lock().expect("clock lock").push(d);
        }
        tokio::task::yield_now().await;
    }
    async fn sleep_until(&self, t: SystemTime) {
        {
            let mut now = self.now.lock().expect("clock lock");
            let d = t.duration_since(*now).unwrap_or(Duration::ZERO);
            self.slept.lock().expect("clock lock").push(d);
            if t > *now {
                *now = t;
            }
        }
        tokio::task::yield_now().await;
    }
}
