//! The database: head + WAL + blocks behind one handle.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use nines_clock::SharedClock;
use parking_lot::{Mutex, RwLock};

use crate::block::{Block, BlockMeta, BlockWriter};
use crate::compact;
use crate::error::{io_err, Error, Result};
use crate::head::{ClosedChunk, Head, Rejection, Verdict};
use crate::labels::{check_sorted_pairs, hash_bytes, CompactLabels, Labels};
use crate::matcher::Matcher;
use crate::series::{ChunkData, ChunkRef, Series, SeriesLabels};
use crate::wal::{self, Record, Wal};

const HOUR: i64 = 3_600_000;

/// A series' labels with head chunks copied out for writing a block.
type SeriesChunks = (CompactLabels, Vec<ClosedChunk>);
/// A head series' labels and references to its chunks in a query's range.
type PickedSeries = (CompactLabels, Vec<ChunkRef>);
/// A series' labels with decoded samples.
type SeriesChunksOwned = (CompactLabels, Vec<(i64, f64)>);
/// Series per series record in a checkpoint, to keep records bounded.
const CHECKPOINT_SERIES_PER_RECORD: usize = 10_000;
/// Rejections described in detail per append; the rest are only counted.
const MAX_REPORTED_ERRORS: usize = 10;

/// Limits on what a series may look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most labels per series, `__name__` included.
    pub max_labels: usize,
    /// Longest label name in bytes.
    pub max_label_name_len: usize,
    /// Longest label value in bytes.
    pub max_label_value_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_labels: 64,
            max_label_name_len: 256,
            max_label_value_len: 4096,
        }
    }
}

/// How the store behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Time range of a block cut from the head (default 2 h).
    pub block_duration_ms: i64,
    /// Delete blocks whose newest sample is older than this, if set.
    pub retention_ms: Option<i64>,
    /// Delete the oldest blocks while blocks + WAL exceed this, if set.
    pub retention_bytes: Option<u64>,
    /// Start a new WAL segment past this size.
    pub wal_segment_bytes: u64,
    /// fsync the WAL before every acknowledgement (else only on segment
    /// cut and when [`Db::sync_wal`] is called).
    pub wal_fsync_each_commit: bool,
    /// Samples per head chunk before it is sealed.
    pub head_chunk_samples: usize,
    /// Label limits applied on append.
    pub limits: Limits,
    /// How far past the wall clock a sample may be (`None`: no limit). A
    /// sender with a wrong clock must not move the head past now, or every
    /// other sender's samples would be refused as too old.
    pub future_tolerance_ms: Option<i64>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            block_duration_ms: 2 * HOUR,
            retention_ms: Some(15 * 24 * HOUR),
            retention_bytes: None,
            wal_segment_bytes: 128 << 20,
            wal_fsync_each_commit: false,
            head_chunk_samples: 120,
            limits: Limits::default(),
            future_tolerance_ms: Some(DEFAULT_FUTURE_TOLERANCE_MS),
        }
    }
}

/// Default of [`Options::future_tolerance_ms`]: ten minutes, as Mimir's
/// `creation_grace_period`.
pub const DEFAULT_FUTURE_TOLERANCE_MS: i64 = 10 * 60 * 1000;

impl Options {
    fn max_block_duration(&self) -> i64 {
        let cap = 31 * 24 * HOUR;
        self.retention_ms
            .map_or(cap, |r| (r / 10).min(cap))
            .max(self.block_duration_ms)
    }
}

/// One series and its samples, as handed to [`Db::append`]. Labels may come
/// in any order; pairs with an empty value are dropped.
#[derive(Debug, Clone, Copy)]
pub struct SeriesSamples<'a> {
    /// Label pairs, `__name__` included.
    pub labels: &'a [(&'a str, &'a str)],
    /// (timestamp ms, value), oldest first.
    pub samples: &'a [(i64, f64)],
}

/// A series as the head knows it, handed out by [`Db::append_refs`] so a
/// caller appending the same series again can skip the label lookup. A
/// ref whose series the head has since dropped is noticed and resolved
/// again from labels; refs are never reused for another series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesRef(u32);

/// One sample for [`Db::append_refs`].
#[derive(Debug, Clone, Copy)]
pub struct RefSample {
    /// The series, if known from an earlier append.
    pub series: Option<SeriesRef>,
    /// Timestamp, ms.
    pub t: i64,
    /// Value.
    pub v: f64,
}

/// Scratch space reused across the series of one append.
#[derive(Default)]
struct Resolver {
    packed: Vec<u8>,
    /// The previous series of the batch, for the series-order hint.
    prev: Option<u32>,
}

fn count_rejection(report: &mut AppendReport, r: Rejection, min_valid: i64, t: i64, which: impl FnOnce() -> String) {
    match r {
        Rejection::OutOfOrder => report.out_of_order += 1,
        Rejection::DuplicateConflict => report.conflicts += 1,
        Rejection::TooOld => report.too_old += 1,
        Rejection::TooFarInFuture => report.too_far_in_future += 1,
        Rejection::OutOfBounds => report.out_of_bounds += 1,
    }
    report.note(|| {
        let why = match r {
            Rejection::OutOfOrder => "out of order sample".to_string(),
            Rejection::DuplicateConflict => "duplicate sample for timestamp with a different value".to_string(),
            Rejection::TooOld => format!("sample older than the head's lower bound {min_valid}"),
            Rejection::TooFarInFuture => "sample too far in the future (past storage.future_tolerance)".to_string(),
            Rejection::OutOfBounds => "timestamp outside the range the store keeps".to_string(),
        };
        format!("{}: {why} at {t}", which())
    });
}

/// What `Db::append_with` does with samples older than the head's lower
/// bound (their time range is already in blocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldSamples {
    /// Refuse them, counted as `too_old` (remote_write, like Prometheus).
    Refuse,
    /// Write them straight into new blocks, which compaction merges with
    /// the blocks already there (import of history).
    Backfill,
}

/// What happened to one append batch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AppendReport {
    /// Samples stored.
    pub appended: u64,
    /// Samples equal to one already stored (accepted, nothing written).
    pub duplicates: u64,
    /// Samples older than their series' newest.
    pub out_of_order: u64,
    /// Samples with a stored timestamp but another value.
    pub conflicts: u64,
    /// Samples older than the head's lower bound, refused.
    pub too_old: u64,
    /// Samples older than the head's lower bound, written into blocks.
    pub backfilled: u64,
    /// Samples further past the wall clock than the future tolerance.
    pub too_far_in_future: u64,
    /// Samples with a timestamp outside what the store keeps.
    pub out_of_bounds: u64,
    /// Samples of series whose labels were refused.
    pub invalid_series_samples: u64,
    /// Series whose labels were refused.
    pub invalid_series: u64,
    /// Up to ten problems, each naming the series.
    pub errors: Vec<String>,
}

impl AppendReport {
    /// Samples not stored for any reason other than being duplicates.
    pub fn rejected(&self) -> u64 {
        self.out_of_order
            + self.conflicts
            + self.too_old
            + self.too_far_in_future
            + self.out_of_bounds
            + self.invalid_series_samples
    }

    /// Adds another report's counts, keeping at most ten problems;
    /// `rename` may reword each of the other's problems.
    pub fn merge(&mut self, other: AppendReport, mut rename: impl FnMut(String) -> String) {
        self.appended += other.appended;
        self.duplicates += other.duplicates;
        self.out_of_order += other.out_of_order;
        self.conflicts += other.conflicts;
        self.too_old += other.too_old;
        self.backfilled += other.backfilled;
        self.too_far_in_future += other.too_far_in_future;
        self.out_of_bounds += other.out_of_bounds;
        self.invalid_series_samples += other.invalid_series_samples;
        self.invalid_series += other.invalid_series;
        for e in other.errors {
            if self.errors.len() < MAX_REPORTED_ERRORS {
                self.errors.push(rename(e));
            }
        }
    }

    fn note(&mut self, msg: impl FnOnce() -> String) {
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(msg());
        }
    }
}

/// Counters since the store was opened.
#[derive(Debug, Default)]
pub struct DbStats {
    /// Samples stored.
    pub samples_appended: AtomicU64,
    /// Duplicate samples accepted idempotently.
    pub samples_duplicate: AtomicU64,
    /// Samples refused as out of order.
    pub samples_out_of_order: AtomicU64,
    /// Samples refused for conflicting with a stored value.
    pub samples_conflict: AtomicU64,
    /// Samples refused for being older than the head.
    pub samples_too_old: AtomicU64,
    /// Samples refused for being too far past the wall clock.
    pub samples_too_far_in_future: AtomicU64,
    /// Samples refused for a timestamp outside what the store keeps.
    pub samples_out_of_bounds: AtomicU64,
    /// Samples refused with their series' invalid labels.
    pub samples_invalid_series: AtomicU64,
    /// Blocks written from the head.
    pub head_blocks_written: AtomicU64,
    /// Compactions run.
    pub compactions: AtomicU64,
    /// Blocks deleted by retention.
    pub blocks_deleted: AtomicU64,
}

/// What a backup contains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotReport {
    /// Blocks linked or copied from the store.
    pub blocks: usize,
    /// Series written from the head.
    pub head_series: usize,
}

struct State {
    head: Head,
    wal: Wal,
}

/// The embedded time-series store.
pub struct Db {
    dir: PathBuf,
    opts: Options,
    clock: SharedClock,
    state: Mutex<State>,
    blocks: RwLock<Vec<Arc<Block>>>,
    /// Serialises head persistence, compaction, retention and snapshots.
    maintenance: Mutex<()>,
    stats: DbStats,
    _lock: File,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("dir", &self.dir).finish_non_exhaustive()
    }
}

fn blocks_dir(dir: &Path) -> PathBuf {
    dir.join("blocks")
}

impl Db {
    /// Opens (or creates) a store in `dir`: loads blocks, replays the WAL
    /// and truncates a torn WAL tail. Fails if another process holds `dir`.
    pub fn open(dir: impl AsRef<Path>, opts: Options, clock: SharedClock) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let bdir = blocks_dir(&dir);
        let wdir = dir.join("wal");
        fs::create_dir_all(&bdir).map_err(io_err("create data directory", &bdir))?;
        let lock_path = dir.join("lock");
        let lock = File::create(&lock_path).map_err(io_err("create lock file", &lock_path))?;
        if lock.try_lock().is_err() {
            return Err(Error::Locked(dir));
        }
        let blocks = load_blocks(&bdir)?;
        let mut head = Head::new(
            opts.block_duration_ms,
            opts.head_chunk_samples.clamp(2, crate::chunk::MAX_SAMPLES),
        );
        head.min_valid = blocks
            .iter()
            .map(|b| b.meta().max_time.saturating_add(1))
            .max()
            .unwrap_or(i64::MIN);
        let (report, last_segment) = wal::replay(&wdir, |rec| replay_record(&mut head, rec))?;
        tracing::info!(
            records = report.records,
            series = head.live_series(),
            blocks = blocks.len(),
            "storage opened"
        );
        let wal = Wal::create(&wdir, last_segment, opts.wal_segment_bytes)?;
        Ok(Self {
            dir,
            opts,
            clock,
            state: Mutex::new(State { head, wal }),
            blocks: RwLock::new(blocks),
            maintenance: Mutex::new(()),
            stats: DbStats::default(),
            _lock: lock,
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Counters since open.
    pub fn stats(&self) -> &DbStats {
        &self.stats
    }

    /// Series currently in the head.
    pub fn head_series(&self) -> usize {
        self.state.lock().head.live_series()
    }

    /// Approximate bytes of sample and label data held in the head.
    pub fn head_bytes(&self) -> usize {
        self.state.lock().head.heap_bytes()
    }

    /// Metadata of every block, oldest first.
    pub fn blocks(&self) -> Vec<BlockMeta> {
        let mut v: Vec<BlockMeta> = self.blocks.read().iter().map(|b| b.meta().clone()).collect();
        v.sort_by_key(|m| m.min_time);
        v
    }

    /// Bytes in the WAL folder.
    pub fn wal_bytes(&self) -> u64 {
        wal::dir_size(&self.dir.join("wal"))
    }

    /// Appends a batch. Valid samples are stored and in the WAL when this
    /// returns; invalid series and refused samples are counted in the
    /// report and do not stop the rest. An `Err` means nothing was stored.
    pub fn append(&self, batch: &[SeriesSamples<'_>]) -> Result<AppendReport> {
        self.append_with(batch, OldSamples::Refuse)
    }

    /// [`Db::append`], choosing what happens to samples older than the head.
    pub fn append_with(&self, batch: &[SeriesSamples<'_>], old: OldSamples) -> Result<AppendReport> {
        let mut report = AppendReport::default();
        let mut backfill: Vec<SeriesChunksOwned> = Vec::new();
        let total: usize = batch.iter().map(|s| s.samples.len()).sum();
        let mut accepted: Vec<(u32, i64, f64)> = Vec::with_capacity(total);
        let mut created: Vec<u32> = Vec::new();
        let mut resolver = Resolver::default();
        let max_valid = self.max_valid_time();
        let mut st = self.state.lock();
        for (i, s) in batch.iter().enumerate() {
            let id = match self.resolve(&mut st.head, &mut resolver, s.labels, &mut created) {
                Ok(id) => id,
                Err(msg) => {
                    report.invalid_series += 1;
                    report.invalid_series_samples += s.samples.len() as u64;
                    report.note(|| format!("series {i} ({}): {msg}", describe(s.labels)));
                    continue;
                }
            };
            let mut backfill_slot: Option<usize> = None;
            for &(t, v) in s.samples {
                match st.head.check(id, t, v, max_valid) {
                    Verdict::Append => {
                        st.head.note(id, t, v);
                        accepted.push((id, t, v));
                    }
                    Verdict::Duplicate => report.duplicates += 1,
                    Verdict::Reject(Rejection::TooOld) if old == OldSamples::Backfill => {
                        let slot = *backfill_slot.get_or_insert_with(|| {
                            backfill.push((CompactLabels::from_packed(&resolver.packed), Vec::new()));
                            backfill.len() - 1
                        });
                        backfill[slot].1.push((t, v));
                    }
                    Verdict::Reject(r) => count_rejection(&mut report, r, st.head.min_valid, t, || {
                        format!("series {i} ({})", describe(s.labels))
                    }),
                }
            }
        }
        self.commit(st, &created, &accepted, &mut report)?;
        if !backfill.is_empty() {
            let n: u64 = backfill.iter().map(|s| s.1.len() as u64).sum();
            match self.write_backfill(backfill) {
                Ok(()) => report.backfilled = n,
                Err(e) => {
                    // The head part is stored; say what was not.
                    report.too_old += n;
                    report.note(|| format!("{n} samples older than the head could not be written to blocks: {e}"));
                }
            }
        }
        self.count(&report);
        Ok(report)
    }

    /// Appends one sample per entry for callers that append the same
    /// series again and again (scrape loops): an entry whose `series` ref
    /// is still in the head skips the label lookup entirely. For the
    /// others `with_labels(i, sink)` is called and must call `sink` with
    /// entry `i`'s labels (which it may build on the spot); `series` is
    /// then set to the ref found or created (`None` if the labels are
    /// invalid). Samples older than the head are refused.
    pub fn append_refs(
        &self,
        samples: &mut [RefSample],
        mut with_labels: impl FnMut(usize, &mut dyn FnMut(&[(&str, &str)])),
    ) -> Result<AppendReport> {
        let mut report = AppendReport::default();
        let mut accepted: Vec<(u32, i64, f64)> = Vec::with_capacity(samples.len());
        let mut created: Vec<u32> = Vec::new();
        let mut resolver = Resolver::default();
        let max_valid = self.max_valid_time();
        let mut st = self.state.lock();
        for (i, s) in samples.iter_mut().enumerate() {
            let known = s.series.map(|r| r.0).filter(|&id| st.head.contains(id));
            let id = match known {
                Some(id) => id,
                None => {
                    let mut outcome = Err(("no labels given".to_string(), String::new()));
                    with_labels(i, &mut |labels| {
                        outcome = self
                            .resolve(&mut st.head, &mut resolver, labels, &mut created)
                            .map_err(|msg| (msg, describe(labels)));
                    });
                    match outcome {
                        Ok(id) => id,
                        Err((msg, which)) => {
                            s.series = None;
                            report.invalid_series += 1;
                            report.invalid_series_samples += 1;
                            report.note(|| format!("series {i} ({which}): {msg}"));
                            continue;
                        }
                    }
                }
            };
            s.series = Some(SeriesRef(id));
            match st.head.check(id, s.t, s.v, max_valid) {
                Verdict::Append => {
                    st.head.note(id, s.t, s.v);
                    accepted.push((id, s.t, s.v));
                }
                Verdict::Duplicate => report.duplicates += 1,
                Verdict::Reject(r) => {
                    count_rejection(&mut report, r, st.head.min_valid, s.t, || format!("series {i}"));
                }
            }
        }
        self.commit(st, &created, &accepted, &mut report)?;
        self.count(&report);
        Ok(report)
    }

    /// The newest timestamp an append may carry now.
    fn max_valid_time(&self) -> i64 {
        self.opts
            .future_tolerance_ms
            .map_or(i64::MAX, |tol| self.clock.now_millis().saturating_add(tol.max(0)))
    }

    /// The head id of a series given by labels, created if new. Labels may
    /// come in any order; `Err` says why they are refused.
    fn resolve(
        &self,
        head: &mut Head,
        r: &mut Resolver,
        labels: &[(&str, &str)],
        created: &mut Vec<u32>,
    ) -> std::result::Result<u32, String> {
        let sorted: Vec<(&str, &str)>;
        let pairs: &[(&str, &str)] = if needs_normalising(labels) {
            let mut v: Vec<(&str, &str)> = labels.iter().filter(|(_, v)| !v.is_empty()).copied().collect();
            v.sort_by(|a, b| a.0.cmp(b.0));
            sorted = v;
            &sorted
        } else {
            labels
        };
        CompactLabels::encode_into(&mut r.packed, pairs.iter().copied());
        let hinted = r.prev.and_then(|p| head.find_after(p, &r.packed));
        let packed = &r.packed;
        let hash = || hash_bytes(packed);
        let id = match hinted.or_else(|| head.find(hash(), packed)) {
            Some(id) => id,
            None => {
                // Only a new label set needs checking: one found in the
                // head was checked when it was created.
                self.check_labels(pairs)?;
                let id = head.create(hash(), CompactLabels::from_packed(packed));
                created.push(id);
                id
            }
        };
        if let (Some(p), None) = (r.prev, hinted) {
            head.set_hint(p, id);
        }
        r.prev = Some(id);
        Ok(id)
    }

    /// Logs new series and accepted samples to the WAL, then applies the
    /// samples to the head; on a WAL failure nothing is applied.
    fn commit(
        &self,
        mut st: parking_lot::MutexGuard<'_, State>,
        created: &[u32],
        accepted: &[(u32, i64, f64)],
        report: &mut AppendReport,
    ) -> Result<()> {
        let State { head, wal } = &mut *st;
        wal.log_series(
            created
                .iter()
                .map(|&id| {
                    let pairs: Vec<(&str, &str)> = head.series[id as usize]
                        .as_ref()
                        .map(|s| s.labels.pairs().collect())
                        .unwrap_or_default();
                    (id, pairs)
                })
                .collect::<Vec<_>>()
                .into_iter(),
        );
        wal.log_samples(accepted);
        if let Err(e) = wal.commit(self.opts.wal_fsync_each_commit) {
            wal.discard();
            for &(id, _, _) in accepted {
                head.rollback(id);
            }
            return Err(e);
        }
        for &(id, t, v) in accepted {
            head.apply(id, t, v);
        }
        report.appended = accepted.len() as u64;
        Ok(())
    }

    fn count(&self, report: &AppendReport) {
        let s = &self.stats;
        s.samples_appended.fetch_add(report.appended, Ordering::Relaxed);
        s.samples_duplicate.fetch_add(report.duplicates, Ordering::Relaxed);
        s.samples_out_of_order.fetch_add(report.out_of_order, Ordering::Relaxed);
        s.samples_conflict.fetch_add(report.conflicts, Ordering::Relaxed);
        s.samples_too_old.fetch_add(report.too_old, Ordering::Relaxed);
        s.samples_too_far_in_future
            .fetch_add(report.too_far_in_future, Ordering::Relaxed);
        s.samples_out_of_bounds
            .fetch_add(report.out_of_bounds, Ordering::Relaxed);
        s.samples_invalid_series
            .fetch_add(report.invalid_series_samples, Ordering::Relaxed);
    }

    /// Writes samples older than the head into new blocks, one per block
    /// range they fall in. Compaction later merges them with overlapping
    /// blocks; until then queries merge them.
    fn write_backfill(&self, series: Vec<SeriesChunksOwned>) -> Result<()> {
        let _m = self.maintenance.lock();
        let range = self.opts.block_duration_ms;
        let mut by_window: BTreeMap<i64, Vec<SeriesChunksOwned>> = BTreeMap::new();
        for (labels, samples) in series {
            let mut parts: BTreeMap<i64, Vec<(i64, f64)>> = BTreeMap::new();
            for s in samples {
                parts.entry(s.0.div_euclid(range)).or_default().push(s);
            }
            for (w, part) in parts {
                by_window.entry(w).or_default().push((labels.clone(), part));
            }
        }
        for (_, mut list) in by_window {
            list.sort_by(|a, b| a.0.pairs().cmp(b.0.pairs()));
            // One batch may carry the same series twice: merge them.
            let mut merged: Vec<SeriesChunksOwned> = Vec::with_capacity(list.len());
            for (labels, samples) in list {
                match merged.last_mut() {
                    Some(last) if last.0 == labels => last.1.extend(samples),
                    _ => merged.push((labels, samples)),
                }
            }
            let mut writer = BlockWriter::new(&blocks_dir(&self.dir))?;
            for (labels, mut samples) in merged {
                samples.sort_by_key(|s| s.0);
                samples.dedup_by_key(|s| s.0);
                writer.add_series(labels, &samples)?;
            }
            if let Some(block) = writer.finish(1, Vec::new())? {
                tracing::info!(id = %block.meta().id, min = block.meta().min_time, max = block.meta().max_time, "backfilled block");
                self.blocks.write().push(Arc::new(block));
            }
        }
        Ok(())
    }

    fn check_labels(&self, pairs: &[(&str, &str)]) -> std::result::Result<(), String> {
        let l = &self.opts.limits;
        if pairs.len() > l.max_labels {
            return Err(format!(
                "{} labels, more than the limit of {}",
                pairs.len(),
                l.max_labels
            ));
        }
        for (n, v) in pairs {
            if n.len() > l.max_label_name_len {
                return Err(format!(
                    "label name of {} bytes, longer than the limit of {}",
                    n.len(),
                    l.max_label_name_len
                ));
            }
            if v.len() > l.max_label_value_len {
                return Err(format!(
                    "value of label {n:?} is {} bytes, longer than the limit of {}",
                    v.len(),
                    l.max_label_value_len
                ));
            }
        }
        check_sorted_pairs(pairs.iter().copied()).map_err(|e| match e {
            Error::InvalidLabels(m) => m,
            other => other.to_string(),
        })
    }

    /// Forces the WAL to the device. Runs without holding the append lock.
    pub fn sync_wal(&self) -> Result<()> {
        let handle = self.state.lock().wal.sync_handle()?;
        handle
            .sync_data()
            .map_err(io_err("sync WAL segment", self.dir.join("wal")))
    }

    /// Series matching every matcher with samples in `[mint, maxt]`, sorted
    /// by labels, one per label set across head and blocks.
    pub fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>> {
        let blocks: Vec<Arc<Block>> = self
            .blocks
            .read()
            .iter()
            .filter(|b| b.meta().max_time >= mint && b.meta().min_time <= maxt)
            .cloned()
            .collect();
        // Under the lock only cheap clones (chunks and labels are shared);
        // ordering and building waits until ingestion can go on.
        let mut picked: Vec<PickedSeries> = {
            let st = self.state.lock();
            st.head
                .select(matchers)
                .into_iter()
                .filter_map(|id| {
                    let s = st.head.series[id as usize].as_ref()?;
                    let refs = s.refs_in(mint, maxt);
                    (!refs.is_empty()).then(|| (s.labels.clone(), refs))
                })
                .collect()
        };
        if blocks.is_empty() {
            // The head holds each label set once: sorting is all it takes,
            // and the packed labels go out as they are.
            picked.sort_unstable_by(|a, b| a.0.cmp_labels(&b.0));
            return Ok(picked
                .into_iter()
                .map(|(labels, refs)| Series::new(SeriesLabels::packed(labels), refs, mint, maxt))
                .collect());
        }
        let mut by_labels: BTreeMap<Labels, Vec<ChunkRef>> = BTreeMap::new();
        for b in &blocks {
            for id in b.select(matchers) {
                let refs: Vec<ChunkRef> = b
                    .series_chunks(id)
                    .iter()
                    .filter(|c| c.max_t >= mint && c.min_t <= maxt)
                    .map(|c| ChunkRef {
                        min_t: c.min_t,
                        max_t: c.max_t,
                        data: ChunkData::Block {
                            block: b.clone(),
                            offset: c.offset,
                        },
                        last: None,
                    })
                    .collect();
                if !refs.is_empty() {
                    by_labels.entry(b.series_labels(id)).or_default().extend(refs);
                }
            }
        }
        for (labels, refs) in picked {
            by_labels.entry(labels.to_labels()).or_default().extend(refs);
        }
        Ok(by_labels
            .into_iter()
            .map(|(l, c)| Series::new(SeriesLabels::built(l), c, mint, maxt))
            .collect())
    }

    /// Each matching series' newest sample in `[mint, maxt]` (staleness
    /// markers included), sorted by labels: what an instant selector reads.
    /// When no block overlaps the range and a head series' open chunk ends
    /// inside it, nothing is copied or decoded.
    pub fn select_latest(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<(SeriesLabels, (i64, f64))>> {
        let in_blocks = self
            .blocks
            .read()
            .iter()
            .any(|b| b.meta().max_time >= mint && b.meta().min_time <= maxt);
        let mut out = Vec::new();
        if in_blocks {
            for s in self.select(matchers, mint, maxt)? {
                if let Some(p) = s.latest()? {
                    out.push((s.into_series_labels(), p));
                }
            }
            return Ok(out);
        }
        let mut known: Vec<(CompactLabels, (i64, f64))> = Vec::new();
        let mut decode: Vec<PickedSeries> = Vec::new();
        {
            let st = self.state.lock();
            for id in st.head.select(matchers) {
                let Some(s) = st.head.series[id as usize].as_ref() else {
                    continue;
                };
                match s.open_last_in(mint, maxt).filter(|p| p.0 <= maxt) {
                    Some(p) => known.push((s.labels.clone(), p)),
                    None => {
                        let refs = s.refs_in(mint, maxt);
                        if !refs.is_empty() {
                            decode.push((s.labels.clone(), refs));
                        }
                    }
                }
            }
        }
        let mut found: Vec<(CompactLabels, (i64, f64))> = known;
        for (labels, refs) in decode {
            let series = Series::new(SeriesLabels::packed(labels.clone()), refs, mint, maxt);
            if let Some(p) = series.latest()? {
                found.push((labels, p));
            }
        }
        found.sort_unstable_by(|a, b| a.0.cmp_labels(&b.0));
        Ok(found.into_iter().map(|(l, p)| (SeriesLabels::packed(l), p)).collect())
    }

    /// Label names, sorted. Without matchers every name in the head and in
    /// blocks overlapping the range; with matchers, names of matching series.
    pub fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<String>> {
        if !matchers.is_empty() {
            let names: BTreeSet<String> = self
                .select(matchers, mint, maxt)?
                .iter()
                .flat_map(|s| s.labels().iter().map(|l| l.name.clone()).collect::<Vec<_>>())
                .collect();
            return Ok(names.into_iter().collect());
        }
        let mut names = BTreeSet::new();
        for b in self
            .blocks
            .read()
            .iter()
            .filter(|b| b.meta().max_time >= mint && b.meta().min_time <= maxt)
        {
            names.extend(b.label_names().map(str::to_string));
        }
        names.extend(self.state.lock().head.postings.names().map(str::to_string));
        Ok(names.into_iter().collect())
    }

    /// Values of one label, sorted; narrowed by matchers like `label_names`.
    pub fn label_values(&self, name: &str, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<String>> {
        if !matchers.is_empty() {
            let values: BTreeSet<String> = self
                .select(matchers, mint, maxt)?
                .iter()
                .filter_map(|s| s.labels().get(name).map(str::to_string))
                .collect();
            return Ok(values.into_iter().collect());
        }
        let mut values = BTreeSet::new();
        for b in self
            .blocks
            .read()
            .iter()
            .filter(|b| b.meta().max_time >= mint && b.meta().min_time <= maxt)
        {
            values.extend(b.label_values(name).map(str::to_string));
        }
        values.extend(self.state.lock().head.postings.values(name).map(str::to_string));
        Ok(values.into_iter().collect())
    }

    /// Background housekeeping: cuts blocks from the head once it spans
    /// more than 1.5 block ranges, compacts, applies retention. A block
    /// whose range reaches now is never cut: the head's lower bound would
    /// pass the wall clock and every sender's samples be refused.
    pub fn maintain(&self) -> Result<()> {
        let _m = self.maintenance.lock();
        let range = self.opts.block_duration_ms;
        let now = self.clock.now_millis();
        loop {
            let span = self.state.lock().head.time_range();
            let Some((min_t, max_t)) = span else { break };
            if max_t.saturating_sub(min_t) <= range / 2 * 3 {
                break;
            }
            let before = min_t.div_euclid(range).saturating_add(1).saturating_mul(range);
            if before > now {
                break;
            }
            // Series quiet for a whole range beyond the cut are forgotten.
            self.persist_head_before(before, before.saturating_sub(range))?;
        }
        self.compact_all()?;
        self.apply_retention()
    }

    /// Persists everything in the head to blocks now, as a clean shutdown
    /// does. Ingestion continues; samples at or before the newest flushed
    /// timestamp are refused as too old afterwards.
    pub fn flush(&self) -> Result<()> {
        let _m = self.maintenance.lock();
        let span = self.state.lock().head.time_range();
        if let Some((_, max_t)) = span {
            // Everything is in blocks now: forget every series, so the WAL
            // checkpoint is empty and a restart has nothing to replay.
            let after = max_t.saturating_add(1);
            self.persist_head_before(after, after)?;
        }
        self.compact_all()
    }

    /// Writes head data older than `before` into blocks (one per block
    /// range), then drops it from the head and checkpoints the WAL.
    fn persist_head_before(&self, before: i64, forget_before: i64) -> Result<()> {
        let frozen: Vec<SeriesChunks> = {
            let mut st = self.state.lock();
            st.head.freeze_before(before);
            let frozen = st.head.frozen_chunks(before);
            frozen
                .into_iter()
                .filter_map(|(id, chunks)| Some((st.head.series[id as usize].as_ref()?.labels.clone(), chunks)))
                .collect()
        };
        let range = self.opts.block_duration_ms;
        let bdir = blocks_dir(&self.dir);
        let mut writers: BTreeMap<i64, BlockWriter> = BTreeMap::new();
        let mut sorted = frozen;
        sorted.sort_by(|a, b| a.0.pairs().cmp(b.0.pairs()));
        for (labels, chunks) in sorted {
            let mut by_window: BTreeMap<i64, Vec<(i64, f64)>> = BTreeMap::new();
            for c in &chunks {
                for s in c.samples()? {
                    let s = s?;
                    by_window.entry(s.0.div_euclid(range)).or_default().push(s);
                }
            }
            for (w, samples) in by_window {
                let writer = match writers.get_mut(&w) {
                    Some(wr) => wr,
                    None => writers.entry(w).or_insert(BlockWriter::new(&bdir)?),
                };
                writer.add_series(labels.clone(), &samples)?;
            }
        }
        for (_, w) in writers {
            if let Some(block) = w.finish(1, Vec::new())? {
                tracing::info!(id = %block.meta().id, min = block.meta().min_time, max = block.meta().max_time, series = block.meta().stats.series, "persisted head block");
                self.blocks.write().push(Arc::new(block));
                self.stats.head_blocks_written.fetch_add(1, Ordering::Relaxed);
            }
        }
        let (upto, live) = {
            let mut st = self.state.lock();
            st.head.truncate(before, forget_before);
            let upto = st.wal.cut()?;
            let live: Vec<(u32, CompactLabels, Vec<ClosedChunk>)> = st
                .head
                .series
                .iter()
                .enumerate()
                .filter_map(|(id, s)| {
                    s.as_ref()
                        .map(|s| (id as u32, s.labels.clone(), s.chunks_in(i64::MIN, i64::MAX)))
                })
                .collect();
            (upto, live)
        };
        let wal_dir = self.dir.join("wal");
        let series_records = live.chunks(CHECKPOINT_SERIES_PER_RECORD).map(|part| {
            let mut body = Vec::new();
            wal::encode_series(
                &mut body,
                part.iter()
                    .map(|(id, l, _)| (*id, l.pairs().collect()))
                    .collect::<Vec<_>>()
                    .into_iter(),
            );
            body
        });
        let chunk_records = live.iter().flat_map(|(id, _, chunks)| {
            chunks.iter().map(move |c| {
                let mut body = Vec::new();
                wal::encode_chunk(&mut body, *id, c.encoding, c.min_t, c.max_t, &c.data);
                body
            })
        });
        wal::write_checkpoint(&wal_dir, upto, series_records.chain(chunk_records))?;
        Ok(())
    }

    fn compact_all(&self) -> Result<()> {
        let ranges = compact::ranges(self.opts.block_duration_ms, self.opts.max_block_duration());
        loop {
            let metas = self.blocks();
            let min_valid = self.state.lock().head.min_valid;
            let Some(ids) = compact::plan(&metas, &ranges, min_valid) else {
                return Ok(());
            };
            self.compact(&ids)?;
        }
    }

    fn compact(&self, ids: &[String]) -> Result<()> {
        let sources: Vec<Arc<Block>> = self
            .blocks
            .read()
            .iter()
            .filter(|b| ids.contains(&b.meta().id))
            .cloned()
            .collect();
        let mut all: BTreeMap<Labels, Vec<(usize, u32)>> = BTreeMap::new();
        for (bi, b) in sources.iter().enumerate() {
            for s in 0..b.num_series() as u32 {
                all.entry(b.series_labels(s)).or_default().push((bi, s));
            }
        }
        let mut writer = BlockWriter::new(&blocks_dir(&self.dir))?;
        for (labels, refs) in all {
            let mut samples = Vec::new();
            for (bi, s) in refs {
                samples.extend(sources[bi].series_samples(s)?);
            }
            samples.sort_by_key(|s| s.0);
            samples.dedup_by_key(|s| s.0);
            writer.add_series(CompactLabels::encode(labels.pairs()), &samples)?;
        }
        let level = sources.iter().map(|b| b.meta().level).max().unwrap_or(0) + 1;
        let mut lineage: Vec<String> = sources
            .iter()
            .flat_map(|b| b.meta().sources.iter().cloned().chain([b.meta().id.clone()]))
            .collect();
        lineage.sort();
        let merged = writer.finish(level, lineage)?;
        {
            let mut blocks = self.blocks.write();
            blocks.retain(|b| !ids.contains(&b.meta().id));
            if let Some(m) = merged {
                tracing::info!(id = %m.meta().id, level, sources = ids.len(), "compacted blocks");
                blocks.push(Arc::new(m));
            }
        }
        for b in &sources {
            remove_block_dir(b.dir())?;
        }
        self.stats.compactions.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn apply_retention(&self) -> Result<()> {
        let mut doomed: Vec<Arc<Block>> = Vec::new();
        {
            let mut blocks = self.blocks.write();
            blocks.sort_by_key(|b| b.meta().min_time);
            if let Some(r) = self.opts.retention_ms {
                let cutoff = self.clock.now_millis().saturating_sub(r);
                let (old, keep): (Vec<_>, Vec<_>) = blocks.drain(..).partition(|b| b.meta().max_time < cutoff);
                *blocks = keep;
                doomed.extend(old);
            }
            if let Some(max) = self.opts.retention_bytes {
                let mut total: u64 = blocks.iter().map(|b| b.size()).sum::<u64>() + self.wal_bytes();
                while total > max && !blocks.is_empty() {
                    let b = blocks.remove(0);
                    total = total.saturating_sub(b.size());
                    doomed.push(b);
                }
            }
        }
        for b in &doomed {
            tracing::info!(id = %b.meta().id, max_time = b.meta().max_time, "retention deleted block");
            remove_block_dir(b.dir())?;
            self.stats.blocks_deleted.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Writes a consistent copy of the store into `target` (which must not
    /// exist or be empty): blocks are hard-linked (or copied across
    /// filesystems) and the head is written as one more block. The result
    /// is a data directory `nines serve --data-dir` can start from.
    pub fn snapshot(&self, target: &Path) -> Result<SnapshotReport> {
        let _m = self.maintenance.lock();
        if target.exists() {
            let empty = fs::read_dir(target)
                .map_err(io_err("read backup target", target))?
                .next()
                .is_none();
            if !empty {
                return Err(Error::BackupTarget {
                    path: target.to_path_buf(),
                    reason: "exists and is not empty".into(),
                });
            }
        }
        let tb = blocks_dir(target);
        fs::create_dir_all(&tb).map_err(io_err("create backup folder", &tb))?;
        let (blocks, head): (Vec<Arc<Block>>, Vec<SeriesChunks>) = {
            let st = self.state.lock();
            let blocks = self.blocks.read().clone();
            let head = st
                .head
                .series
                .iter()
                .flatten()
                .filter(|s| s.has_data())
                .map(|s| (s.labels.clone(), s.chunks_in(i64::MIN, i64::MAX)))
                .collect();
            (blocks, head)
        };
        for b in &blocks {
            let dst = tb.join(&b.meta().id);
            fs::create_dir_all(&dst).map_err(io_err("create backup block", &dst))?;
            for f in ["meta.json", "index", "chunks"] {
                let (from, to) = (b.dir().join(f), dst.join(f));
                if fs::hard_link(&from, &to).is_err() {
                    fs::copy(&from, &to).map_err(io_err("copy block file", &to))?;
                }
            }
        }
        let head_series = head.len();
        let mut sorted = head;
        sorted.sort_by(|a, b| a.0.pairs().cmp(b.0.pairs()));
        let mut writer = BlockWriter::new(&tb)?;
        for (labels, chunks) in sorted {
            let mut samples = Vec::new();
            for c in &chunks {
                for s in c.samples()? {
                    samples.push(s?);
                }
            }
            writer.add_series(labels, &samples)?;
        }
        writer.finish(1, Vec::new())?;
        wal::sync_dir(&tb)?;
        Ok(SnapshotReport {
            blocks: blocks.len(),
            head_series,
        })
    }

    /// Persists the head and syncs; what a clean shutdown does.
    pub fn close(self) -> Result<()> {
        self.flush()?;
        self.sync_wal()
    }
}

fn needs_normalising(labels: &[(&str, &str)]) -> bool {
    labels.iter().any(|(_, v)| v.is_empty()) || labels.windows(2).any(|w| w[0].0 > w[1].0)
}

fn describe(pairs: &[(&str, &str)]) -> String {
    let mut s = String::from("{");
    for (i, (n, v)) in pairs.iter().take(8).enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let v: String = v.chars().take(64).collect();
        s.push_str(&format!("{n}={v:?}"));
    }
    if pairs.len() > 8 {
        s.push_str(", …");
    }
    s.push('}');
    s
}

fn replay_record(head: &mut Head, rec: Record) {
    match rec {
        Record::Series(entries) => {
            for (id, pairs) in entries {
                let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                let packed = CompactLabels::encode(borrowed.iter().copied());
                head.insert_at(id, hash_bytes(packed.as_bytes()), packed);
            }
        }
        Record::Samples(samples) => {
            for (id, t, v) in samples {
                // Samples below the head's bound are already in a block
                // (written before the crash that stopped the checkpoint).
                if head.check(id, t, v, i64::MAX) == Verdict::Append {
                    head.apply(id, t, v);
                }
            }
        }
        Record::Chunk {
            series,
            encoding,
            min_t,
            max_t,
            data,
        } => {
            if max_t >= head.min_valid {
                head.restore_chunk(
                    series,
                    ClosedChunk {
                        min_t,
                        max_t,
                        encoding,
                        data: data.into(),
                    },
                );
            }
        }
    }
}

fn load_blocks(bdir: &Path) -> Result<Vec<Arc<Block>>> {
    let mut blocks = Vec::new();
    for entry in fs::read_dir(bdir).map_err(io_err("read blocks folder", bdir))? {
        let entry = entry.map_err(io_err("read blocks folder", bdir))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if name.ends_with(".tmp") || name.ends_with(".deleted") {
            // Leftovers of an interrupted write or delete.
            fs::remove_dir_all(&path).map_err(io_err("remove leftover block", &path))?;
            continue;
        }
        if path.is_dir() {
            blocks.push(Arc::new(Block::open(&path)?));
        }
    }
    // A compaction that crashed after writing its result but before deleting
    // its sources leaves both; the result supersedes them.
    let superseded: BTreeSet<String> = blocks.iter().flat_map(|b| b.meta().sources.clone()).collect();
    let (stale, live): (Vec<_>, Vec<_>) = blocks.into_iter().partition(|b| superseded.contains(&b.meta().id));
    for b in stale {
        tracing::warn!(id = %b.meta().id, "removing block superseded by a compaction");
        remove_block_dir(b.dir())?;
    }
    let mut live = live;
    live.sort_by_key(|b| b.meta().min_time);
    Ok(live)
}

fn remove_block_dir(dir: &Path) -> Result<()> {
    let mut doomed = dir.as_os_str().to_owned();
    doomed.push(".deleted");
    let doomed = PathBuf::from(doomed);
    fs::rename(dir, &doomed).map_err(io_err("rename block for deletion", dir))?;
    fs::remove_dir_all(&doomed).map_err(io_err("delete block", &doomed))
}
