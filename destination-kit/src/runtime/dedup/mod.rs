//! De-duplication by `(source, messageId)` over a sliding window.
//!
//! [`DedupStore`] is the seam (the durable redb store is in `runtime::state`); [`MemoryDedup`]
//! is the default store: each id is remembered as a 64-bit xxh3 hash in time-bucketed hash sets
//! (generations), so expiry drops a whole bucket and memory per id stays between about 10 and
//! 21 bytes (an 8-byte hash plus one control byte per slot, tables at most 7/8 full): 18.3
//! bytes per id measured for a million ids by `cargo run -p destination-kit --example
//! dedup_memory`.
//!
//! A 24-hour window at a high event rate holds many millions of ids, so memory has a limit
//! ([`MemoryDedup::with_memory_limit`], default [`DEFAULT_MEMORY_IDS`]): past it, the hash sets
//! are written out as sorted files in a temporary directory (one [`segment`] per bucket), and
//! only a Bloom filter (1.5 bytes per id) and a sparse index stay in memory. Answers do not
//! change: an id found in a file is a duplicate exactly as in memory.

mod segment;

use segment::Segment;
use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Ids [`MemoryDedup`] keeps in hash sets before spilling to disk, by default: about 9.5 MB of
/// table (2^20 slots of 9 bytes).
pub const DEFAULT_MEMORY_IDS: usize = 900_000;

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
    /// Most ids in `buckets` before they spill (`None`: never).
    memory_limit: Option<usize>,
    /// Spilled buckets, oldest first.
    spilled: VecDeque<Segment>,
    /// Where spilled files go: a directory of the caller's, or the temporary one made on the
    /// first spill (kept in `temp_dir`, which removes it with the store).
    spill_dir: Option<PathBuf>,
    temp_dir: Option<tempfile::TempDir>,
    spill_count: u64,
    /// A spill failed (disk full, no temporary directory): ids stay in memory from then on.
    spill_failed: bool,
    /// Seed cache: xxh3 of the last source name.
    last_source: String,
    seed: u64,
}

/// Prefix of the temporary spill directories: `destkit-dedup-<pid>-<random>`.
const SPILL_PREFIX: &str = "destkit-dedup-";

/// A new temporary spill directory named after this process, after removing those of processes
/// that are gone (a killed process cannot remove its own).
fn new_spill_dir() -> std::io::Result<tempfile::TempDir> {
    let root = std::env::temp_dir();
    remove_stale_spill_dirs(&root, process_alive);
    tempfile::Builder::new()
        .prefix(&format!("{SPILL_PREFIX}{}-", std::process::id()))
        .tempdir_in(root)
}

/// Remove the spill directories under `root` whose process is not `alive`; returns how many.
/// Directories of live processes, of this one, and names without a process id are left alone.
fn remove_stale_spill_dirs(root: &std::path::Path, alive: impl Fn(u32) -> bool) -> usize {
    let Ok(entries) = std::fs::read_dir(root) else {
        return 0;
    };
    let me = std::process::id();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(SPILL_PREFIX))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me || alive(pid) || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        match std::fs::remove_dir_all(entry.path()) {
            Ok(()) => {
                removed += 1;
                tracing::info!(path = %entry.path().display(), "dedup: removed the spill directory of a process that is gone");
            }
            Err(e) => {
                tracing::debug!(error = %e, path = %entry.path().display(), "dedup: cannot remove a stale spill directory")
            }
        }
    }
    removed
}

/// Whether process `pid` runs. Only Linux can tell (`/proc`); elsewhere every process counts as
/// running, so nothing is removed.
fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        std::path::Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

impl std::fmt::Debug for MemoryDedup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryDedup")
            .field("window", &self.window)
            .field("ids", &self.len())
            .field("buckets", &self.buckets.len())
            .field("spilled", &self.spilled.len())
            .finish()
    }
}

impl MemoryDedup {
    /// A store remembering ids for at least `window` (a zero window remembers nothing).
    ///
    /// It keeps at most [`DEFAULT_MEMORY_IDS`] ids in memory and spills the rest to a temporary
    /// directory (see [`MemoryDedup::with_memory_limit`]).
    pub fn new(window: Duration) -> Self {
        let span = (window / GENERATIONS).max(Duration::from_millis(1));
        MemoryDedup {
            window,
            span,
            buckets: VecDeque::new(),
            memory_limit: Some(DEFAULT_MEMORY_IDS),
            spilled: VecDeque::new(),
            spill_dir: None,
            temp_dir: None,
            spill_count: 0,
            spill_failed: false,
            last_source: String::new(),
            seed: xxhash_rust::xxh3::xxh3_64(b""),
        }
    }

    /// Keep at most `ids` ids in memory (`None`: no limit, nothing touches the disk). Past the
    /// limit every in-memory bucket is written to a sorted file and only its Bloom filter and
    /// index stay (about 1.5 bytes per id instead of 18); memory then stays near `ids × 18`
    /// bytes plus 1.5 bytes per spilled id, whatever the number of events.
    ///
    /// ```
    /// use destination_kit::runtime::{DedupStore, MemoryDedup};
    /// use std::time::{Duration, UNIX_EPOCH};
    /// let mut d = MemoryDedup::new(Duration::from_secs(86_400)).with_memory_limit(Some(1_000));
    /// let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    /// for i in 0..5_000 {
    ///     assert!(d.insert_if_absent("web", &format!("m{i}"), t));
    /// }
    /// assert!(d.ids_in_memory() <= 1_000);
    /// // spilled ids are still duplicates
    /// assert!(!d.insert_if_absent("web", "m0", t));
    /// assert_eq!(d.len(), 5_000);
    /// ```
    pub fn with_memory_limit(mut self, ids: Option<usize>) -> Self {
        self.memory_limit = ids.map(|n| n.max(1));
        self
    }

    /// Spill into `dir` (which must exist) instead of a new temporary directory. The files are
    /// removed as their buckets expire and when the store is dropped.
    pub fn with_spill_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.spill_dir = Some(dir.into());
        self
    }

    /// Ids held in the in-memory hash sets (the rest are spilled).
    pub fn ids_in_memory(&self) -> usize {
        self.buckets.iter().map(|(_, s)| s.len()).sum()
    }

    /// Buckets written to disk and not yet expired.
    pub fn spilled_segments(&self) -> usize {
        self.spilled.len()
    }

    /// Write every in-memory bucket to disk. On failure nothing is lost: the ids stay in memory
    /// and the store stops spilling (a warning says why).
    fn spill(&mut self) {
        let dir = match &self.spill_dir {
            Some(d) => d.clone(),
            None => match new_spill_dir() {
                Ok(t) => {
                    let p = t.path().to_path_buf();
                    self.spill_dir = Some(p.clone());
                    self.temp_dir = Some(t);
                    p
                }
                Err(e) => {
                    self.spill_failed = true;
                    tracing::warn!(error = %e, "dedup: cannot make a spill directory; ids stay in memory");
                    return;
                }
            },
        };
        while let Some((bucket, set)) = self.buckets.pop_front() {
            self.spill_count += 1;
            let path = dir.join(format!("dedup-{}-{bucket}.ids", self.spill_count));
            // the table is freed once its ids are copied out (8 bytes each, sorted in place)
            let mut ids: Vec<u64> = set.into_iter().collect();
            match Segment::write(&path, bucket, &mut ids) {
                Ok(seg) => self.spilled.push_back(seg),
                Err(e) => {
                    let _ = std::fs::remove_file(&path);
                    self.buckets.push_front((bucket, ids.into_iter().collect()));
                    self.spill_failed = true;
                    tracing::warn!(error = %e, path = %path.display(), "dedup: cannot spill ids to disk; they stay in memory");
                    return;
                }
            }
        }
    }

    /// Whether a spilled segment holds `key`. An unreadable file counts as not holding it:
    /// the event is delivered (at least once) rather than wrongly reported a duplicate.
    fn spilled_contains(&self, key: u64) -> bool {
        self.spilled
            .iter()
            .rev()
            .any(|seg| match seg.contains(key) {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!(error = %e, "dedup: cannot read a spilled bucket");
                    false
                }
            })
    }

    /// The window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Bytes of memory the store holds: the hash tables, from their capacity (8-byte hash + 1
    /// control byte per slot; a table keeps at most 7/8 of its slots full), plus the filters and
    /// indexes of spilled buckets.
    pub fn memory_bytes(&self) -> usize {
        self.spilled
            .iter()
            .map(Segment::memory_bytes)
            .sum::<usize>()
            + self
                .buckets
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
                .sum::<usize>()
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
        let (span, window) = (self.span.as_nanos(), self.window.as_nanos());
        let now_ns = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_nanos();
        // every id in bucket b was seen before (b + 1) * span
        let expired = |b: u64| (u128::from(b) + 1) * span + window <= now_ns;
        while self.buckets.front().is_some_and(|(b, _)| expired(*b)) {
            self.buckets.pop_front();
        }
        while self.spilled.front().is_some_and(|seg| expired(seg.bucket)) {
            self.spilled.pop_front(); // removes its file
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
        if self.spilled_contains(key) {
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
        if !self.spill_failed
            && self
                .memory_limit
                .is_some_and(|limit| self.ids_in_memory() >= limit)
        {
            self.spill();
        }
        true
    }

    fn len(&self) -> usize {
        self.ids_in_memory() + self.spilled.iter().map(Segment::len).sum::<usize>()
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

    fn files_in(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
    }

    #[test]
    fn spilled_ids_stay_duplicates_and_memory_stays_under_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let w = Duration::from_secs(86_400);
        let mut d = MemoryDedup::new(w)
            .with_memory_limit(Some(1_000))
            .with_spill_dir(dir.path());
        let t = UNIX_EPOCH + Duration::from_secs(1_000_000);
        for i in 0..10_500 {
            // spread over three buckets of the window
            let now = t + Duration::from_secs(i / 3_500 * 3 * 3_600);
            assert!(
                d.insert_if_absent("web", &format!("m{i}"), now),
                "m{i} is new"
            );
            assert!(d.ids_in_memory() < 1_000);
        }
        assert_eq!(d.len(), 10_500);
        assert!(d.spilled_segments() >= 10, "{d:?}");
        assert_eq!(files_in(dir.path()), d.spilled_segments());
        let later = t + Duration::from_secs(7 * 3_600);
        for i in 0..10_500 {
            assert!(
                !d.insert_if_absent("web", &format!("m{i}"), later),
                "m{i} is a duplicate"
            );
        }
        // another source is another id
        assert!(d.insert_if_absent("ios", "m1", later));
        // spilled ids take 1.5 bytes (filter) and the index, not 18
        assert!(
            d.memory_bytes() < 1_000 * 21 + 10_500 * 3,
            "{}",
            d.memory_bytes()
        );
    }

    #[test]
    fn spilled_buckets_expire_with_their_files() {
        let dir = tempfile::tempdir().unwrap();
        let w = Duration::from_secs(800);
        let mut d = MemoryDedup::new(w)
            .with_memory_limit(Some(100))
            .with_spill_dir(dir.path());
        let t = UNIX_EPOCH + Duration::from_secs(1_000_000);
        for i in 0..1_000 {
            assert!(d.insert_if_absent("s", &format!("a{i}"), t));
        }
        assert!(files_in(dir.path()) >= 9);
        assert!(!d.insert_if_absent("s", "a5", t + w - Duration::from_secs(1)));
        // window + one bucket later every id is forgotten and every file is gone
        let gone = t + w + w / 8 + Duration::from_secs(1);
        assert!(d.insert_if_absent("s", "a5", gone));
        assert_eq!(d.len(), 1);
        assert_eq!(files_in(dir.path()), 0);
    }

    #[test]
    fn a_spill_that_fails_keeps_the_ids_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-dir");
        let mut d = MemoryDedup::new(Duration::from_secs(86_400))
            .with_memory_limit(Some(50))
            .with_spill_dir(&missing);
        let t = UNIX_EPOCH + Duration::from_secs(1_000_000);
        for i in 0..500 {
            assert!(d.insert_if_absent("s", &format!("a{i}"), t));
        }
        assert_eq!(d.ids_in_memory(), 500);
        assert_eq!(d.spilled_segments(), 0);
        for i in 0..500 {
            assert!(!d.insert_if_absent("s", &format!("a{i}"), t));
        }
    }

    #[test]
    fn the_default_temporary_directory_is_removed_with_the_store() {
        let mut d = MemoryDedup::new(Duration::from_secs(86_400)).with_memory_limit(Some(10));
        let t = UNIX_EPOCH + Duration::from_secs(1_000_000);
        for i in 0..100 {
            assert!(d.insert_if_absent("s", &format!("a{i}"), t));
        }
        let dir = d
            .temp_dir
            .as_ref()
            .expect("made on the first spill")
            .path()
            .to_path_buf();
        assert!(files_in(&dir) > 0);
        let name = dir.file_name().unwrap().to_str().unwrap().to_string();
        assert!(
            name.starts_with(&format!("destkit-dedup-{}-", std::process::id())),
            "{name}"
        );
        drop(d);
        assert!(!dir.exists());
    }

    #[test]
    fn spill_directories_of_processes_that_are_gone_are_removed() {
        let root = tempfile::tempdir().unwrap();
        let make = |name: &str| {
            let p = root.path().join(name);
            std::fs::create_dir(&p).unwrap();
            std::fs::write(p.join("dedup-1-7.ids"), b"12345678").unwrap();
            p
        };
        let me = std::process::id();
        let dead = make("destkit-dedup-4000001-aB3x");
        let live = make("destkit-dedup-4000002-Zq9w");
        let mine = make(&format!("destkit-dedup-{me}-k2Lm"));
        let old_style = make("destkit-dedup-Xy12ab");
        let other = make("some-other-dir-4000001-x");
        std::fs::write(root.path().join("destkit-dedup-4000003-file"), b"x").unwrap();
        let alive = |pid: u32| pid == 4_000_002;
        assert_eq!(remove_stale_spill_dirs(root.path(), alive), 1);
        assert!(!dead.exists(), "its process is gone");
        for kept in [&live, &mine, &old_style, &other] {
            assert!(kept.exists(), "{}", kept.display());
        }
        assert!(
            root.path().join("destkit-dedup-4000003-file").exists(),
            "not a directory"
        );
        // a missing root is no error
        assert_eq!(remove_stale_spill_dirs(&root.path().join("nope"), alive), 0);
    }

    #[test]
    fn this_process_counts_as_alive() {
        assert!(process_alive(std::process::id()));
        if cfg!(target_os = "linux") {
            // pid_max is at most 2^22 on Linux
            assert!(!process_alive(4_194_305));
        }
    }

    #[test]
    fn memory_per_id_is_bounded() {
        let mut d = MemoryDedup::new(Duration::from_secs(86_400)).with_memory_limit(None);
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
