//! De-duplication by `(source, messageId)` over a sliding window.
//!
//! [`DedupStore`] is the seam (a durable store comes later); [`MemoryDedup`] is the in-memory
//! store: each id is remembered as a 64-bit xxh3 hash in time-bucketed hash sets (generations),
//! so expiry drops a whole bucket and memory per id stays between about 10 and 21 bytes (an
//! 8-byte hash plus one control byte per slot, tables at most 7/8 full): 18.3 bytes per id
//! measured for a million ids by `cargo run -p destination-kit --example dedup_memory`.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Remembers which `(source, messageId)` pairs were seen within a window.
pub trait DedupStore: Send + 'static {
    /// Record `(source, message_id)` as seen at `now`. Returns `true` when it is new (deliver it),
    /// `false` when it was already seen within the window (a duplicate).
    fn insert_if_absent(&mut self, source: &str, message_id: &str, now: SystemTime) -> bool;
    /// Ids currently remembered (for reports and measurements).
    fn len(&self) -> usize;
    /// Whether nothing is remembered.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Hashes are already uniform: the table uses them as they are.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type IdSet = HashSet<u64, BuildHasherDefault<IdentityHasher>>;

/// Number of time buckets a window is cut into.
const GENERATIONS: u32 = 8;

/// An in-memory sliding-window store.
///
/// Guarantee: an id seen at `t` is a duplicate at any time before `t + window`; it is forgotten
/// at the latest at `t + window + window/8` (the bucket it sits in is dropped whole).
///
/// False positives: two different `(source, messageId)` pairs collide only when their 64-bit
/// hashes are equal. With `n` ids remembered, the chance that a new id is wrongly taken for a
/// duplicate is about `n / 2^64` — for 100 million remembered ids about 5 in 10^12 per event.
///
/// ```
/// use destination_kit::runtime::{DedupStore, MemoryDedup};
/// use std::time::{Duration, UNIX_EPOCH};
/// let mut d = MemoryDedup::new(Duration::from_secs(86_400));
/// let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// assert!(d.insert_if_absent("web", "m1", t));
/// assert!(!d.insert_if_absent("web", "m1", t + Duration::from_secs(3600)));
/// assert!(d.insert_if_absent("ios", "m1", t));
/// assert!(d.insert_if_absent("web", "m1", t + Duration::from_secs(2 * 86_400)));
/// ```
pub struct MemoryDedup {
    window: Duration,
    span: Duration,
    /// (bucket number, ids), oldest first.
    buckets: VecDeque<(u64, IdSet)>,
    /// Seed cache: xxh3 of the last source name.
    last_source: String,
    seed: u64,
}

impl std::fmt::Debug for MemoryDedup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryDedup")
            .field("window", &self.window)
            .field("ids", &self.len())
            .field("buckets", &self.buckets.len())
            .finish()
    }
}

impl MemoryDedup {
    /// A store remembering ids for at least `window` (a zero window remembers nothing).
    pub fn new(window: Duration) -> Self {
        let span = (window / GENERATIONS).max(Duration::from_millis(1));
        MemoryDedup {
            window,
            span,
            buckets: VecDeque::new(),
            last_source: String::new(),
            seed: xxhash_rust::xxh3::xxh3_64(b""),
        }
    }

    /// The window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Bytes the hash tables hold, from their capacity (8-byte hash + 1 control byte per slot;
    /// the table keeps at most 7/8 of its slots full).
    pub fn memory_bytes(&self) -> usize {
        self.buckets
            .iter()
            .map(|(_, s)| {
                let cap = s.capacity();
                if cap == 0 {
                    0
                } else {
                    let slots = (cap * 8 / 7).next_power_of_two();
                    slots * 9 + 16
                }
            })
            .sum()
    }

    fn bucket_of(&self, now: SystemTime) -> u64 {
        let since = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        (since.as_nanos() / self.span.as_nanos()) as u64
    }

    fn key(&mut self, source: &str, message_id: &str) -> u64 {
        if source != self.last_source {
            self.last_source.clear();
            self.last_source.push_str(source);
            self.seed = xxhash_rust::xxh3::xxh3_64(source.as_bytes());
        }
        xxhash_rust::xxh3::xxh3_64_with_seed(message_id.as_bytes(), self.seed)
    }

    fn expire(&mut self, now: SystemTime) {
        let span = self.span.as_nanos();
        let now_ns = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_nanos();
        while let Some((b, _)) = self.buckets.front() {
            // every id in bucket b was seen before (b + 1) * span
            let newest = (u128::from(*b) + 1) * span;
            if newest + self.window.as_nanos() <= now_ns {
                self.buckets.pop_front();
            } else {
                break;
            }
        }
    }
}

impl DedupStore for MemoryDedup {
    fn insert_if_absent(&mut self, source: &str, message_id: &str, now: SystemTime) -> bool {
        if self.window.is_zero() {
            return true;
        }
        let key = self.key(source, message_id);
        self.expire(now);
        if self.buckets.iter().rev().any(|(_, s)| s.contains(&key)) {
            return false;
        }
        let b = self.bucket_of(now);
        match self.buckets.back_mut() {
            Some((last, set)) if *last >= b => {
                set.insert(key);
            }
            _ => {
                let mut set = IdSet::default();
                set.insert(key);
                self.buckets.push_back((b, set));
            }
        }
        true
    }

    fn len(&self) -> usize {
        self.buckets.iter().map(|(_, s)| s.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_edges() {
        let w = Duration::from_secs(800);
        let mut d = MemoryDedup::new(w);
        let t = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert!(d.insert_if_absent("s", "a", t));
        assert!(!d.insert_if_absent("s", "a", t + w - Duration::from_secs(1)));
        // forgotten once window + one bucket has passed
        assert!(d.insert_if_absent("s", "a", t + w + w / 8 + Duration::from_secs(1)));
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn memory_per_id_is_bounded() {
        let mut d = MemoryDedup::new(Duration::from_secs(86_400));
        let t = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let n = 100_000;
        for i in 0..n {
            assert!(d.insert_if_absent("web", &format!("msg-{i}"), t));
        }
        assert_eq!(d.len(), n);
        let per_id = d.memory_bytes() as f64 / n as f64;
        assert!(per_id <= 32.0, "{per_id} bytes per id");
    }
}
