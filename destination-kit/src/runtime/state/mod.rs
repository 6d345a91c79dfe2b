//! Durable delivery state for crash safety (`--state DIR`), on [redb](https://docs.rs/redb).
//!
//! One file, `DIR/destkit-state.redb`, holds four tables:
//!
//! - `queue`: events accepted but not yet terminal, keyed by `stream/line/batch-index`, with
//!   their messageId, the time their retry budget started, whether de-duplication already let
//!   them through, and (for servers, whose input is not a file) the event JSON;
//! - `done`: the terminal outcomes already reached, by the same key, so a restart counts them
//!   instead of doing them again;
//! - `dedup`: the de-duplication window, a 64-bit hash of `(namespace, source, messageId)` →
//!   first-seen time (ms since the epoch);
//! - `meta`: a format marker (a foreign or corrupted file is refused) and sequence counters.
//!
//! Writes are collected in memory and committed by a background thread in one transaction
//! every few milliseconds (never one per event); every committed state is a prefix of the
//! writes in the order the runtime made them, and a de-duplication insert is always committed
//! together with the queue or done record of the event that made it. [`StateStore::enqueue`]
//! (servers) commits at once and returns only after the commit.
//!
//! [`StateJournal`] is the runtime's [`Journal`]; [`StateDedup`] its
//! [`DedupStore`]. Without `--state` the runtime keeps both in memory instead.

mod journal;

pub use journal::{Earlier, Journal};

use super::{DedupStore, EventOutcome};
use crate::outcome::Outcome;
use redb::{Database, ReadableTable, TableDefinition};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
const QUEUE: TableDefinition<&str, &[u8]> = TableDefinition::new("queue");
const DONE: TableDefinition<&str, &[u8]> = TableDefinition::new("done");
const DEDUP: TableDefinition<u64, u64> = TableDefinition::new("dedup");

/// The format marker stored in `meta`.
const FORMAT: &str = "destkit-state/1";

/// The store's file name inside the state directory.
pub const FILE_NAME: &str = "destkit-state.redb";

/// How often the background thread commits collected writes.
const COMMIT_EVERY: Duration = Duration::from_millis(20);

/// A state directory that cannot be used. Its message names the path.
#[derive(Debug, Clone, thiserror::Error)]
#[error("state directory {}: {reason}", path.display())]
pub struct StateError {
    /// The directory (or the file in it).
    pub path: PathBuf,
    /// What is wrong.
    pub reason: String,
}

/// Settings of a [`StateStore`].
#[derive(Debug, Clone, Copy)]
pub struct StateOptions {
    /// The de-duplication window: ids older than this are forgotten (and compacted away).
    pub dedup_window: Duration,
    /// How long terminal outcomes are kept (so a rerun of the same input skips them).
    pub keep_done: Duration,
}

impl Default for StateOptions {
    fn default() -> Self {
        StateOptions {
            dedup_window: Duration::from_secs(86_400),
            keep_done: Duration::from_secs(86_400),
        }
    }
}

/// One write, committed in order with the others.
enum Op {
    Dedup(u64, u64),
    Forget(u64),
    /// Mark a queue record as past de-duplication, creating it (messageId, budget start) when
    /// it is not there and keeping its event JSON and budget start when it is.
    Accept(String, String, u64),
    /// Store the outcome and drop the queue record of the same key.
    Done(String, Vec<u8>),
    /// Record attempts made and the next attempt's time on a queue record that exists.
    Attempt(String, u32, u64),
    ForgetDone(String),
}

#[derive(Default)]
struct Mem {
    ops: Vec<Op>,
    /// De-duplication inserts waiting for their event's queue or done record.
    /// (per journal, so one runtime's insert never rides on another's record)
    staged: HashMap<u64, Vec<Op>>,
    /// The next journal's number (0 is the stand-alone [`StateStore::dedup`]).
    next_journal: u64,
    /// The window in memory: hash → first seen (ms).
    ids: HashMap<u64, u64>,
    /// A commit failed: the state is no longer being saved.
    error: Option<String>,
    stop: bool,
    last_compaction: u64,
}

struct Inner {
    db: Database,
    path: PathBuf,
    opts: StateOptions,
    mem: Mutex<Mem>,
    wake: Condvar,
    /// Held while committing, so commits stay in order.
    commit: Mutex<()>,
}

/// The durable store (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct StateStore {
    inner: Arc<Inner>,
    flusher: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

/// What a queue record holds.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug)]
struct QueueRec {
    /// messageId.
    #[serde(default)]
    m: String,
    /// When the retry budget started (ms since the epoch).
    f: u64,
    /// Whether de-duplication already let it through.
    #[serde(default)]
    d: bool,
    /// HTTP attempts made so far.
    #[serde(default)]
    a: u32,
    /// When the next attempt is due (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n: Option<u64>,
    /// The event JSON, when the input is not a file that is read again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    e: Option<Box<serde_json::value::RawValue>>,
}

/// What a done record holds.
#[derive(serde::Serialize, serde::Deserialize)]
struct DoneRec {
    /// When it was written (ms since the epoch), for compaction.
    t: u64,
    #[serde(default)]
    m: Option<String>,
    o: Outcome,
    #[serde(default)]
    a: u32,
    #[serde(default)]
    s: Option<u16>,
}

fn ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as u64
}

fn from_ms(v: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(v)
}

fn key(stream: &str, line: usize, batch_index: Option<usize>) -> String {
    match batch_index {
        Some(b) => format!("{stream}/{line:012}/{b}"),
        None => format!("{stream}/{line:012}/-"),
    }
}

fn parse_key(rest: &str) -> Option<(usize, Option<usize>)> {
    let (line, b) = rest.split_once('/')?;
    let line = line.parse().ok()?;
    let b = match b {
        "-" => None,
        n => Some(n.parse().ok()?),
    };
    Some((line, b))
}

impl StateStore {
    /// Open (or create) the state in `dir`. A path that is not a directory, a directory that
    /// holds other files but no state, and a state file that is corrupted, foreign or already
    /// in use by another process are refused with an error naming the path.
    pub fn open(dir: &Path, opts: StateOptions) -> Result<StateStore, StateError> {
        // redb may panic on some damaged files (a truncated one): that is an error here, and
        // the panic message is kept off stderr while the file is opened and read
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let r =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Self::open_inner(dir, opts)));
        std::panic::set_hook(hook);
        r.unwrap_or_else(|_| {
            Err(StateError {
                path: dir.join(FILE_NAME),
                reason: "cannot read it: the file is corrupted".into(),
            })
        })
    }

    fn open_inner(dir: &Path, opts: StateOptions) -> Result<StateStore, StateError> {
        let err = |path: &Path, reason: String| StateError {
            path: path.to_path_buf(),
            reason,
        };
        if dir.exists() && !dir.is_dir() {
            return Err(err(dir, "not a directory".into()));
        }
        std::fs::create_dir_all(dir).map_err(|e| err(dir, format!("cannot create it: {e}")))?;
        let file = dir.join(FILE_NAME);
        let existed = file.exists();
        if !existed {
            let others = std::fs::read_dir(dir)
                .map_err(|e| err(dir, format!("cannot list it: {e}")))?
                .filter_map(Result::ok)
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .count();
            if others > 0 {
                return Err(err(
                    dir,
                    format!(
                        "it holds other files but no {FILE_NAME}: not a destkit state directory \
                         (use an empty or new directory)"
                    ),
                ));
            }
        }
        if !existed {
            // A new state is made under a hidden name, marked, and renamed into place: a kill
            // during creation leaves no half-made file that the next start would refuse as
            // foreign (it finds no state and starts again).
            let creating = dir.join(format!(".{FILE_NAME}.creating"));
            let _ = std::fs::remove_file(&creating);
            let made = std::panic::catch_unwind(|| -> Result<(), String> {
                let db = Database::create(&creating).map_err(|e| e.to_string())?;
                let tx = db.begin_write().map_err(|e| e.to_string())?;
                {
                    let mut meta = tx.open_table(META).map_err(|e| e.to_string())?;
                    meta.insert("format", FORMAT).map_err(|e| e.to_string())?;
                }
                tx.commit().map_err(|e| e.to_string())
            })
            .unwrap_or_else(|_| Err("the new file is corrupted".into()));
            made.and_then(|()| std::fs::rename(&creating, &file).map_err(|e| e.to_string()))
                .map_err(|e| err(&file, format!("cannot create it: {e}")))?;
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all(); // the rename itself survives a power cut
            }
        }
        let opened = std::panic::catch_unwind(|| Database::create(&file));
        let db = match opened {
            Ok(Ok(db)) => db,
            Ok(Err(e)) => {
                return Err(err(
                    &file,
                    format!(
                        "cannot open it (corrupted, foreign or in use by another process): {e}"
                    ),
                ));
            }
            Err(_) => {
                return Err(err(&file, "cannot open it: the file is corrupted".into()));
            }
        };
        let store_err = |e: &dyn std::fmt::Display| err(&file, format!("cannot read it: {e}"));
        // the format marker: written on creation, checked on every later open
        {
            let tx = db.begin_write().map_err(|e| store_err(&e))?;
            {
                let meta = tx.open_table(META).map_err(|e| store_err(&e))?;
                let found = meta
                    .get("format")
                    .map_err(|e| store_err(&e))?
                    .map(|v| v.value().to_string());
                match found {
                    Some(f) if f == FORMAT => {}
                    Some(f) => {
                        return Err(err(
                            &file,
                            format!("foreign format {f:?} (expected {FORMAT:?})"),
                        ));
                    }
                    None => {
                        return Err(err(
                            &file,
                            "not a destkit state (no format marker): foreign file".into(),
                        ));
                    }
                }
                tx.open_table(QUEUE).map_err(|e| store_err(&e))?;
                tx.open_table(DONE).map_err(|e| store_err(&e))?;
                tx.open_table(DEDUP).map_err(|e| store_err(&e))?;
            }
            tx.commit().map_err(|e| store_err(&e))?;
        }
        let now = ms(SystemTime::now());
        let window = opts.dedup_window.as_millis() as u64;
        let keep = opts.keep_done.as_millis() as u64;
        // load the window, compacting expired ids and old outcomes away
        let mut ids = HashMap::new();
        {
            let tx = db.begin_write().map_err(|e| store_err(&e))?;
            {
                let mut dedup = tx.open_table(DEDUP).map_err(|e| store_err(&e))?;
                let mut expired = Vec::new();
                for row in dedup.iter().map_err(|e| store_err(&e))? {
                    let (k, v) = row.map_err(|e| store_err(&e))?;
                    let (k, v) = (k.value(), v.value());
                    if v.saturating_add(window) <= now {
                        expired.push(k);
                    } else {
                        ids.insert(k, v);
                    }
                }
                for k in expired {
                    dedup.remove(k).map_err(|e| store_err(&e))?;
                }
                let mut done = tx.open_table(DONE).map_err(|e| store_err(&e))?;
                let mut old = Vec::new();
                for row in done.iter().map_err(|e| store_err(&e))? {
                    let (k, v) = row.map_err(|e| store_err(&e))?;
                    let rec: DoneRec = serde_json::from_slice(v.value()).map_err(|e| {
                        err(
                            &file,
                            format!("corrupted outcome record {:?}: {e}", k.value()),
                        )
                    })?;
                    if rec.t.saturating_add(keep) <= now {
                        old.push(k.value().to_string());
                    }
                }
                for k in old {
                    done.remove(k.as_str()).map_err(|e| store_err(&e))?;
                }
            }
            tx.commit().map_err(|e| store_err(&e))?;
        }
        let inner = Arc::new(Inner {
            db,
            path: file,
            opts,
            mem: Mutex::new(Mem {
                ids,
                last_compaction: now,
                ..Mem::default()
            }),
            wake: Condvar::new(),
            commit: Mutex::new(()),
        });
        let bg = inner.clone();
        let handle = std::thread::Builder::new()
            .name("destkit-state".into())
            .spawn(move || bg.run())
            .map_err(|e| err(dir, format!("cannot start its writer thread: {e}")))?;
        Ok(StateStore {
            inner,
            flusher: Arc::new(Mutex::new(Some(handle))),
        })
    }

    /// A 64-bit identity of an input's content (xxh3 over every byte), to key a file's
    /// journal: the same content is the same stream, whatever its name.
    pub fn content_identity(mut reader: impl std::io::Read) -> std::io::Result<u64> {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                return Ok(h.digest());
            }
            h.update(&buf[..n]);
        }
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Bytes the store file takes on disk.
    pub fn disk_bytes(&self) -> u64 {
        std::fs::metadata(&self.inner.path)
            .map(|m| m.len())
            .unwrap_or(0)
    }

    /// Bytes of live data in the store: stored keys and values plus tree metadata (redb's
    /// statistics). The file is larger: copy-on-write pages not yet reused, and it grows in
    /// steps ([`StateStore::disk_bytes`]).
    pub fn used_bytes(&self) -> Result<u64, StateError> {
        let store_err = |e: &dyn std::fmt::Display| StateError {
            path: self.inner.path.clone(),
            reason: format!("cannot read it: {e}"),
        };
        let _order = self.inner.commit.lock().unwrap_or_else(|p| p.into_inner());
        let tx = self.inner.db.begin_write().map_err(|e| store_err(&e))?;
        let st = tx.stats().map_err(|e| store_err(&e))?;
        let used = st.stored_bytes() + st.metadata_bytes();
        tx.abort().map_err(|e| store_err(&e))?;
        Ok(used)
    }

    /// A stand-alone de-duplication store for `namespace` (say the destination), sharing this
    /// state; its inserts are committed by [`StateStore::flush`]. Under a runtime with a
    /// journal use [`StateJournal::dedup`] instead, which commits each insert with its event.
    pub fn dedup(&self, namespace: &str) -> StateDedup {
        StateDedup {
            inner: self.inner.clone(),
            namespace: namespace.to_string(),
            journal: 0,
            last_source: None,
            seed: 0,
        }
    }

    /// The journal of one input stream (a file's identity, or a server's destination): what it
    /// already finished and what it left unfinished are loaded now.
    pub fn journal(&self, stream: &str) -> Result<StateJournal, StateError> {
        let prefix = format!("{stream}/");
        let store_err = |e: &dyn std::fmt::Display| StateError {
            path: self.inner.path.clone(),
            reason: format!("cannot read it: {e}"),
        };
        let mut finished = HashMap::new();
        let mut unfinished = HashMap::new();
        let tx = self.inner.db.begin_read().map_err(|e| store_err(&e))?;
        let done = tx.open_table(DONE).map_err(|e| store_err(&e))?;
        for row in done.range(prefix.as_str()..).map_err(|e| store_err(&e))? {
            let (k, v) = row.map_err(|e| store_err(&e))?;
            let Some(rest) = k.value().strip_prefix(&prefix) else {
                break;
            };
            let at = parse_key(rest).ok_or_else(|| store_err(&"a malformed outcome key"))?;
            let rec: DoneRec =
                serde_json::from_slice(v.value()).map_err(|e| store_err(&e.to_string()))?;
            finished.insert(
                at,
                EventOutcome {
                    line: at.0,
                    batch_index: at.1,
                    message_id: rec.m,
                    outcome: rec.o,
                    attempts: rec.a,
                    last_status: rec.s,
                },
            );
        }
        let queue = tx.open_table(QUEUE).map_err(|e| store_err(&e))?;
        for row in queue.range(prefix.as_str()..).map_err(|e| store_err(&e))? {
            let (k, v) = row.map_err(|e| store_err(&e))?;
            let Some(rest) = k.value().strip_prefix(&prefix) else {
                break;
            };
            let at = parse_key(rest).ok_or_else(|| store_err(&"a malformed queue key"))?;
            let rec: QueueRec =
                serde_json::from_slice(v.value()).map_err(|e| store_err(&e.to_string()))?;
            unfinished.insert(at, rec);
        }
        let id = {
            let mut m = self.inner.lock();
            m.next_journal += 1;
            m.next_journal
        };
        Ok(StateJournal {
            id,
            inner: self.inner.clone(),
            stream: stream.to_string(),
            finished: Mutex::new(finished),
            unfinished: Mutex::new(unfinished),
        })
    }

    /// Make events durable now, in one transaction for all `streams` (`(stream, [(messageId,
    /// event JSON)])`), and return their line numbers, continuing each stream's sequence. For
    /// servers: answer the client only after this returns `Ok`.
    pub fn enqueue(
        &self,
        streams: &[(&str, &[(&str, &serde_json::value::RawValue)])],
        now: SystemTime,
    ) -> Result<Vec<Vec<usize>>, StateError> {
        let store_err = |e: &dyn std::fmt::Display| StateError {
            path: self.inner.path.clone(),
            reason: format!("cannot write it: {e}"),
        };
        let _order = self.inner.commit.lock().unwrap_or_else(|p| p.into_inner());
        // writes collected before this call are committed first, so order is kept
        let pending = std::mem::take(&mut self.inner.lock().ops);
        let tx = self.inner.db.begin_write().map_err(|e| store_err(&e))?;
        let mut all = Vec::with_capacity(streams.len());
        {
            Inner::apply(&tx, pending).map_err(|e| store_err(&e))?;
            let mut meta = tx.open_table(META).map_err(|e| store_err(&e))?;
            let mut queue = tx.open_table(QUEUE).map_err(|e| store_err(&e))?;
            for (stream, events) in streams {
                let seq_key = format!("seq/{stream}");
                let next: usize = meta
                    .get(seq_key.as_str())
                    .map_err(|e| store_err(&e))?
                    .and_then(|v| v.value().parse().ok())
                    .unwrap_or(1);
                let mut lines = Vec::with_capacity(events.len());
                for (i, (mid, raw)) in events.iter().enumerate() {
                    let line = next + i;
                    let rec = QueueRec {
                        m: mid.to_string(),
                        f: ms(now),
                        d: false,
                        a: 0,
                        n: None,
                        e: Some((*raw).to_owned()),
                    };
                    let bytes = serde_json::to_vec(&rec).map_err(|e| store_err(&e))?;
                    queue
                        .insert(key(stream, line, None).as_str(), bytes.as_slice())
                        .map_err(|e| store_err(&e))?;
                    lines.push(line);
                }
                let after = (next + events.len()).to_string();
                meta.insert(seq_key.as_str(), after.as_str())
                    .map_err(|e| store_err(&e))?;
                all.push(lines);
            }
        }
        tx.commit().map_err(|e| store_err(&e))?;
        Ok(all)
    }

    /// Events of `stream` accepted by [`StateStore::enqueue`] and not yet terminal, with their
    /// line numbers, oldest first: a server feeds them to its runtime again at start.
    pub fn unfinished_events(
        &self,
        stream: &str,
    ) -> Result<Vec<(usize, Box<serde_json::value::RawValue>)>, StateError> {
        let j = self.journal(stream)?;
        let mut out: Vec<_> = j
            .unfinished
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .into_iter()
            .filter_map(|((line, _), rec)| rec.e.map(|e| (line, e)))
            .collect();
        out.sort_by_key(|(l, _)| *l);
        Ok(out)
    }

    /// Commit every write collected so far, now (de-duplication inserts not yet followed by
    /// their event's record too: call it between events).
    pub fn flush(&self) -> Result<(), StateError> {
        {
            let mut m = self.inner.lock();
            let staged = std::mem::take(&mut m.staged);
            m.ops.extend(staged.into_values().flatten());
        }
        self.inner.commit_now()
    }

    /// Why saving the state stopped, if it did (a failed commit).
    pub fn error(&self) -> Option<String> {
        self.inner.lock().error.clone()
    }

    /// Forget de-duplication ids and outcomes whose time is up (also done at open and
    /// regularly by the writer thread). Returns how many ids were forgotten.
    pub fn compact(&self, now: SystemTime) -> usize {
        self.inner.compact(ms(now))
    }

    /// Ids in the de-duplication window.
    pub fn remembered_ids(&self) -> usize {
        self.inner.lock().ids.len()
    }

    /// Commit what is left and stop the writer thread.
    pub fn close(&self) -> Result<(), StateError> {
        {
            let mut m = self.inner.lock();
            m.stop = true;
        }
        self.inner.wake.notify_all();
        if let Some(h) = self
            .flusher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = h.join();
        }
        self.flush()
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Mem> {
        self.mem.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn run(&self) {
        loop {
            let stop = {
                let m = self.lock();
                let (m, _) = self
                    .wake
                    .wait_timeout(m, COMMIT_EVERY)
                    .unwrap_or_else(|p| p.into_inner());
                m.stop
            };
            let _ = self.commit_now();
            let now = ms(SystemTime::now());
            let every = (self.opts.dedup_window.as_millis() as u64 / 8).clamp(1_000, 60_000);
            if now >= self.lock().last_compaction + every {
                self.compact(now);
            }
            if stop {
                return;
            }
        }
    }

    fn compact(&self, now: u64) -> usize {
        let window = self.opts.dedup_window.as_millis() as u64;
        let n = {
            let mut m = self.lock();
            m.last_compaction = now;
            let old: Vec<u64> = m
                .ids
                .iter()
                .filter(|(_, t)| t.saturating_add(window) <= now)
                .map(|(k, _)| *k)
                .collect();
            for k in &old {
                m.ids.remove(k);
                m.ops.push(Op::Forget(*k));
            }
            old.len()
        };
        // old outcomes
        let keep = self.opts.keep_done.as_millis() as u64;
        if let Ok(tx) = self.db.begin_read()
            && let Ok(done) = tx.open_table(DONE)
            && let Ok(rows) = done.iter()
        {
            let old: Vec<String> = rows
                .filter_map(Result::ok)
                .filter_map(|(k, v)| {
                    let rec: DoneRec = serde_json::from_slice(v.value()).ok()?;
                    (rec.t.saturating_add(keep) <= now).then(|| k.value().to_string())
                })
                .collect();
            if !old.is_empty() {
                let mut m = self.lock();
                m.ops.extend(old.into_iter().map(Op::ForgetDone));
            }
        }
        n
    }

    fn commit_now(&self) -> Result<(), StateError> {
        let _order = self.commit.lock().unwrap_or_else(|p| p.into_inner());
        let ops = {
            let mut m = self.lock();
            if let Some(e) = &m.error {
                return Err(StateError {
                    path: self.path.clone(),
                    reason: e.clone(),
                });
            }
            std::mem::take(&mut m.ops)
        };
        if ops.is_empty() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let n = ops.len();
        let result = self
            .db
            .begin_write()
            .map_err(|e| e.to_string())
            .and_then(|tx| {
                Inner::apply(&tx, ops).map_err(|e| e.to_string())?;
                tx.commit().map_err(|e| e.to_string())
            });
        tracing::debug!(writes = n, elapsed = ?started.elapsed(), "state commit");
        result.map_err(|e| {
            let reason = format!("cannot write it: {e}");
            self.lock().error = Some(reason.clone());
            StateError {
                path: self.path.clone(),
                reason,
            }
        })
    }

    fn apply(tx: &redb::WriteTransaction, ops: Vec<Op>) -> Result<(), String> {
        Inner::apply_ops(tx, ops).map_err(|e| e.to_string())
    }

    #[allow(clippy::result_large_err)]
    fn apply_ops(tx: &redb::WriteTransaction, ops: Vec<Op>) -> Result<(), redb::Error> {
        let mut dedup = tx.open_table(DEDUP)?;
        let mut queue = tx.open_table(QUEUE)?;
        let mut done = tx.open_table(DONE)?;
        // an event accepted and finished within one commit needs no queue record
        let finished: std::collections::HashSet<&str> = ops
            .iter()
            .filter_map(|op| match op {
                Op::Done(k, _) => Some(k.as_str()),
                _ => None,
            })
            .collect();
        let skip: std::collections::HashSet<String> = ops
            .iter()
            .filter_map(|op| match op {
                Op::Accept(k, _, _) if finished.contains(k.as_str()) => Some(k.clone()),
                _ => None,
            })
            .collect();
        drop(finished);
        for op in ops {
            match op {
                Op::Accept(k, _, _) if skip.contains(&k) => {}
                Op::Dedup(k, t) => {
                    dedup.insert(k, t)?;
                }
                Op::Forget(k) => {
                    dedup.remove(k)?;
                }
                Op::Accept(k, m, f) => {
                    let old: Option<QueueRec> = queue
                        .get(k.as_str())?
                        .and_then(|v| serde_json::from_slice(v.value()).ok());
                    let rec = match old {
                        Some(mut r) => {
                            r.d = true;
                            r
                        }
                        None => QueueRec {
                            m,
                            f,
                            d: true,
                            a: 0,
                            n: None,
                            e: None,
                        },
                    };
                    let bytes = serde_json::to_vec(&rec).unwrap_or_default();
                    queue.insert(k.as_str(), bytes.as_slice())?;
                }
                Op::Done(k, v) => {
                    queue.remove(k.as_str())?;
                    done.insert(k.as_str(), v.as_slice())?;
                }
                Op::Attempt(k, a, n) => {
                    let old: Option<QueueRec> = queue
                        .get(k.as_str())?
                        .and_then(|v| serde_json::from_slice(v.value()).ok());
                    if let Some(mut rec) = old {
                        rec.a = a;
                        rec.n = Some(n);
                        let bytes = serde_json::to_vec(&rec).unwrap_or_default();
                        queue.insert(k.as_str(), bytes.as_slice())?;
                    }
                }
                Op::ForgetDone(k) => {
                    done.remove(k.as_str())?;
                }
            }
        }
        Ok(())
    }
}

/// The runtime's journal for one input stream (see [`StateStore::journal`]).
pub struct StateJournal {
    id: u64,
    inner: Arc<Inner>,
    stream: String,
    finished: Mutex<HashMap<(usize, Option<usize>), EventOutcome>>,
    unfinished: Mutex<HashMap<(usize, Option<usize>), QueueRec>>,
}

impl std::fmt::Debug for StateJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateJournal")
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

impl StateJournal {
    /// The de-duplication store to give the runtime with this journal: each insert is
    /// committed together with the record of the event that made it.
    pub fn dedup(&self, namespace: &str) -> StateDedup {
        StateDedup {
            inner: self.inner.clone(),
            namespace: namespace.to_string(),
            journal: self.id,
            last_source: None,
            seed: 0,
        }
    }
    /// Outcomes reached in earlier runs, ordered by position.
    pub fn finished_before(&self) -> Vec<EventOutcome> {
        let mut v: Vec<_> = self
            .finished
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        v.sort_by_key(|e| (e.line, e.batch_index));
        v
    }
    /// Events left unfinished by an earlier run (they are resumed when they come again).
    pub fn unfinished_count(&self) -> usize {
        self.unfinished
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}

impl Journal for StateJournal {
    fn earlier(&self, line: usize, batch_index: Option<usize>) -> Earlier {
        let at = (line, batch_index);
        if let Some(eo) = self
            .finished
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&at)
        {
            return Earlier::Finished(eo.clone());
        }
        match self
            .unfinished
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&at)
        {
            Some(rec) => Earlier::Unfinished {
                since: from_ms(rec.f),
                dedup_passed: rec.d,
                attempts: rec.a,
                next_at: rec.n.map(from_ms),
            },
            None => Earlier::New,
        }
    }

    fn accepted(
        &self,
        line: usize,
        batch_index: Option<usize>,
        message_id: &str,
        now: SystemTime,
    ) -> SystemTime {
        let at = (line, batch_index);
        let before = self
            .unfinished
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&at)
            .map(|r| (r.f, r.d));
        let (since, was_passed) = before.unwrap_or((ms(now), false));
        let mut m = self.inner.lock();
        if let Some(staged) = m.staged.remove(&self.id) {
            m.ops.extend(staged);
        }
        if !was_passed {
            m.ops.push(Op::Accept(
                key(&self.stream, line, batch_index),
                message_id.to_string(),
                since,
            ));
        }
        from_ms(since)
    }

    fn attempted(
        &self,
        line: usize,
        batch_index: Option<usize>,
        attempts: u32,
        next_at: SystemTime,
    ) {
        let mut m = self.inner.lock();
        if let Some(staged) = m.staged.remove(&self.id) {
            m.ops.extend(staged);
        }
        m.ops.push(Op::Attempt(
            key(&self.stream, line, batch_index),
            attempts,
            ms(next_at),
        ));
    }

    fn terminal(&self, eo: &EventOutcome) {
        if let Outcome::Expired { reason, .. } = &eo.outcome
            && reason.starts_with("shutdown:")
        {
            // cut off by a shutdown, not by its budget: it stays queued for the next start
            return;
        }
        let at = (eo.line, eo.batch_index);
        self.unfinished
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&at);
        let rec = DoneRec {
            t: ms(SystemTime::now()),
            m: eo.message_id.clone(),
            o: eo.outcome.clone(),
            a: eo.attempts,
            s: eo.last_status,
        };
        let bytes = serde_json::to_vec(&rec).unwrap_or_default();
        let mut m = self.inner.lock();
        if let Some(staged) = m.staged.remove(&self.id) {
            m.ops.extend(staged);
        }
        m.ops
            .push(Op::Done(key(&self.stream, eo.line, eo.batch_index), bytes));
        if m.ops.len() >= 4096 {
            self.inner.wake.notify_one();
        }
    }
}

/// The durable de-duplication window (see [`StateStore::dedup`]): the ids live in memory and
/// on disk; each insert is committed together with its event's record.
pub struct StateDedup {
    inner: Arc<Inner>,
    namespace: String,
    /// The journal whose records carry its inserts (0: none, see [`StateStore::dedup`]).
    journal: u64,
    last_source: Option<String>,
    seed: u64,
}

impl std::fmt::Debug for StateDedup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateDedup")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl StateDedup {
    fn hash(&mut self, source: &str, message_id: &str) -> u64 {
        if self.last_source.as_deref() != Some(source) {
            let mut s = self.namespace.clone().into_bytes();
            s.push(0);
            s.extend_from_slice(source.as_bytes());
            self.seed = xxhash_rust::xxh3::xxh3_64(&s);
            self.last_source = Some(source.to_string());
        }
        xxhash_rust::xxh3::xxh3_64_with_seed(message_id.as_bytes(), self.seed)
    }
}

impl DedupStore for StateDedup {
    fn insert_if_absent(&mut self, source: &str, message_id: &str, now: SystemTime) -> bool {
        let window = self.inner.opts.dedup_window.as_millis() as u64;
        if window == 0 {
            return true;
        }
        let h = self.hash(source, message_id);
        let now = ms(now);
        let mut m = self.inner.lock();
        if let Some(t) = m.ids.get(&h)
            && t.saturating_add(window) > now
        {
            return false;
        }
        m.ids.insert(h, now);
        m.staged
            .entry(self.journal)
            .or_default()
            .push(Op::Dedup(h, now));
        true
    }

    fn len(&self) -> usize {
        self.inner.lock().ids.len()
    }
}
