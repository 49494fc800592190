//! The in-memory head: the newest data, in compressed chunks per series,
//! with an inverted index. Older ranges move out into blocks.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::chunk::{decode_all, encode_compact, ChunkIter, Encoding, XorAppender};
use crate::error::Result;
use crate::labels::{hash_bytes, CompactLabels};
use crate::matcher::Matcher;
use crate::postings::Postings;
use crate::series::{ChunkData, ChunkRef};

/// `next_hint` when there is none.
const NO_HINT: u32 = u32::MAX;

/// A sealed chunk.
#[derive(Debug, Clone)]
pub(crate) struct ClosedChunk {
    pub min_t: i64,
    pub max_t: i64,
    pub encoding: Encoding,
    pub data: Arc<[u8]>,
}

impl ClosedChunk {
    pub(crate) fn samples(&self) -> Result<ChunkIter<'_>> {
        ChunkIter::new(self.encoding, &self.data, self.min_t)
    }
}

#[derive(Debug)]
pub(crate) struct MemSeries {
    pub labels: CompactLabels,
    pub closed: Vec<ClosedChunk>,
    pub open: Option<XorAppender>,
    /// Exclusive end of the range the open chunk may cover, so that no chunk
    /// straddles a block boundary.
    open_end: i64,
    /// Last accepted sample, including ones validated but not yet applied.
    pub last_t: i64,
    pub last_v: u64,
    /// The series that followed this one in the last append batch.
    /// Senders repeat their order scrape after scrape, so this usually
    /// names the next series without a hash-table lookup.
    next_hint: u32,
}

impl MemSeries {
    fn new(labels: CompactLabels) -> Self {
        Self {
            labels,
            closed: Vec::new(),
            open: None,
            open_end: i64::MIN,
            last_t: i64::MIN,
            last_v: 0,
            next_hint: NO_HINT,
        }
    }

    /// Closes the open chunk, re-encoding it packed when that is smaller:
    /// sealed chunks are most of the head's memory.
    fn seal(&mut self) {
        if let Some(open) = self.open.take() {
            if !open.is_empty() {
                let (min_t, max_t) = (open.min_time(), open.max_time());
                let xor = open.into_bytes();
                let (encoding, data) = match decode_all(&xor) {
                    Ok(samples) => encode_compact(&samples, Some(xor)),
                    Err(_) => (Encoding::Xor, xor),
                };
                self.closed.push(ClosedChunk {
                    min_t,
                    max_t,
                    encoding,
                    data: data.into(),
                });
            }
        }
    }

    pub(crate) fn has_data(&self) -> bool {
        !self.closed.is_empty() || self.open.as_ref().is_some_and(|o| !o.is_empty())
    }

    /// Sealed chunks overlapping `[mint, maxt]`. They are sealed in append
    /// order, so sorted by time and disjoint: a binary search finds them.
    fn closed_in(&self, mint: i64, maxt: i64) -> impl Iterator<Item = &ClosedChunk> {
        let first = self.closed.partition_point(|c| c.max_t < mint);
        self.closed[first..].iter().take_while(move |c| c.min_t <= maxt)
    }

    /// The open chunk, if it has samples and overlaps `[mint, maxt]`.
    fn open_in(&self, mint: i64, maxt: i64) -> Option<&XorAppender> {
        self.open
            .as_ref()
            .filter(|o| !o.is_empty() && o.max_time() >= mint && o.min_time() <= maxt)
    }

    /// Chunks overlapping `[mint, maxt]`, the open one copied.
    pub(crate) fn chunks_in(&self, mint: i64, maxt: i64) -> Vec<ClosedChunk> {
        let mut out: Vec<ClosedChunk> = self.closed_in(mint, maxt).cloned().collect();
        if let Some(o) = self.open_in(mint, maxt) {
            out.push(ClosedChunk {
                min_t: o.min_time(),
                max_t: o.max_time(),
                encoding: Encoding::Xor,
                data: o.to_shared(),
            });
        }
        out
    }

    /// What a query reads of [`MemSeries::chunks_in`]: references, the
    /// open chunk's carrying its newest sample (known without decoding).
    pub(crate) fn refs_in(&self, mint: i64, maxt: i64) -> Vec<ChunkRef> {
        let reference = |c: &ClosedChunk| ChunkRef {
            min_t: c.min_t,
            max_t: c.max_t,
            data: ChunkData::Shared(c.encoding, c.data.clone()),
            last: None,
        };
        let mut out: Vec<ChunkRef> = self.closed_in(mint, maxt).map(reference).collect();
        if let Some(o) = self.open_in(mint, maxt) {
            out.push(ChunkRef {
                min_t: o.min_time(),
                max_t: o.max_time(),
                data: ChunkData::Shared(Encoding::Xor, o.to_shared()),
                last: Some((o.max_time(), f64::from_bits(o.last_value_bits()))),
            });
        }
        out
    }

    /// The open chunk's newest sample, if the open chunk has samples in
    /// `[mint, maxt]` (it is then the last of [`MemSeries::chunks_in`]).
    pub(crate) fn open_last_in(&self, mint: i64, maxt: i64) -> Option<(i64, f64)> {
        self.open_in(mint, maxt)
            .map(|o| (o.max_time(), f64::from_bits(o.last_value_bits())))
    }

    fn heap_bytes(&self) -> usize {
        self.labels.heap_bytes()
            + self.closed.iter().map(|c| c.data.len() + 40).sum::<usize>()
            + self.open.as_ref().map_or(0, XorAppender::capacity)
    }
}

/// Why a sample was not appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// Older than the series' newest sample.
    OutOfOrder,
    /// Same timestamp as the newest sample but another value.
    DuplicateConflict,
    /// Older than the head's lower bound (that range is in blocks already).
    TooOld,
    /// Further past the wall clock than the store's future tolerance.
    TooFarInFuture,
    /// Outside the timestamps the store keeps at all
    /// ([`crate::MIN_TIMESTAMP_MS`] to [`crate::MAX_TIMESTAMP_MS`]).
    OutOfBounds,
}

/// Outcome of checking one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Append,
    /// Same timestamp and value as the newest sample: accepted, no-op.
    Duplicate,
    Reject(Rejection),
}

#[derive(Debug)]
pub(crate) struct Head {
    pub series: Vec<Option<MemSeries>>,
    /// Label hash → series id. Entries are small (12 bytes) so the table
    /// stays in cache longer: this lookup is the hottest miss on ingest.
    lookup: FxHashMap<u64, u32>,
    /// Further series whose label hash equals one already in `lookup`.
    collisions: FxHashMap<u64, Vec<u32>>,
    pub postings: Postings,
    /// Samples must be at least this recent.
    pub min_valid: i64,
    chunk_range: i64,
    max_chunk_samples: usize,
    live: usize,
}

impl Head {
    pub(crate) fn new(chunk_range: i64, max_chunk_samples: usize) -> Self {
        Self {
            series: Vec::new(),
            lookup: FxHashMap::default(),
            collisions: FxHashMap::default(),
            postings: Postings::default(),
            min_valid: i64::MIN,
            chunk_range,
            max_chunk_samples,
            live: 0,
        }
    }

    pub(crate) fn live_series(&self) -> usize {
        self.live
    }

    /// True while the head holds series `id`.
    pub(crate) fn contains(&self, id: u32) -> bool {
        matches!(self.series.get(id as usize), Some(Some(_)))
    }

    /// The series `prev`'s hint names, if its labels are `packed`.
    pub(crate) fn find_after(&self, prev: u32, packed: &[u8]) -> Option<u32> {
        let hint = self.series.get(prev as usize)?.as_ref()?.next_hint;
        let candidate = self.series.get(hint as usize)?.as_ref()?;
        (candidate.labels.as_bytes() == packed).then_some(hint)
    }

    /// Remembers that `next` followed `prev`.
    pub(crate) fn set_hint(&mut self, prev: u32, next: u32) {
        if let Some(Some(s)) = self.series.get_mut(prev as usize) {
            s.next_hint = next;
        }
    }

    /// Finds a series by its packed labels (see `CompactLabels`) and their
    /// hash: one map lookup and one byte comparison.
    pub(crate) fn find(&self, hash: u64, packed: &[u8]) -> Option<u32> {
        let matches = |id: u32| {
            self.series
                .get(id as usize)
                .and_then(Option::as_ref)
                .is_some_and(|s| s.labels.as_bytes() == packed)
        };
        let first = *self.lookup.get(&hash)?;
        if matches(first) {
            return Some(first);
        }
        self.collisions.get(&hash)?.iter().copied().find(|&id| matches(id))
    }

    fn index_hash(&mut self, hash: u64, id: u32) {
        match self.lookup.entry(hash) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(id);
            }
            std::collections::hash_map::Entry::Occupied(_) => self.collisions.entry(hash).or_default().push(id),
        }
    }

    /// Creates a series; the caller checked it does not exist.
    pub(crate) fn create(&mut self, hash: u64, labels: CompactLabels) -> u32 {
        let id = self.series.len() as u32;
        self.insert_at(id, hash, labels);
        id
    }

    /// Puts a series under a given id (WAL replay restores the ids it logged).
    pub(crate) fn insert_at(&mut self, id: u32, hash: u64, labels: CompactLabels) {
        let idx = id as usize;
        if self.series.len() <= idx {
            self.series.resize_with(idx + 1, || None);
        }
        if self.series[idx].is_some() {
            return;
        }
        self.index_hash(hash, id);
        // Postings lists must stay ascending; replay after a checkpoint is
        // the only way an id can arrive below an existing one.
        if self.series[idx + 1..].iter().all(Option::is_none) {
            self.postings.add(id, labels.pairs());
            self.series[idx] = Some(MemSeries::new(labels));
        } else {
            self.series[idx] = Some(MemSeries::new(labels));
            self.rebuild_postings();
        }
        self.live += 1;
    }

    /// Whether sample `(t, v)` may join series `id`; `max_valid` is the
    /// newest timestamp the wall clock allows now.
    pub(crate) fn check(&self, id: u32, t: i64, v: f64, max_valid: i64) -> Verdict {
        if !(crate::MIN_TIMESTAMP_MS..=crate::MAX_TIMESTAMP_MS).contains(&t) {
            return Verdict::Reject(Rejection::OutOfBounds);
        }
        if t > max_valid {
            return Verdict::Reject(Rejection::TooFarInFuture);
        }
        let Some(s) = self.series.get(id as usize).and_then(Option::as_ref) else {
            return Verdict::Reject(Rejection::TooOld);
        };
        if t < self.min_valid {
            return Verdict::Reject(Rejection::TooOld);
        }
        if t > s.last_t {
            return Verdict::Append;
        }
        if t == s.last_t {
            return if v.to_bits() == s.last_v {
                Verdict::Duplicate
            } else {
                Verdict::Reject(Rejection::DuplicateConflict)
            };
        }
        Verdict::Reject(Rejection::OutOfOrder)
    }

    /// Records a validated sample as the series' newest, before the WAL
    /// write; `apply` puts it into the chunk afterwards.
    pub(crate) fn note(&mut self, id: u32, t: i64, v: f64) {
        if let Some(Some(s)) = self.series.get_mut(id as usize) {
            s.last_t = t;
            s.last_v = v.to_bits();
        }
    }

    /// Restores `last_t/last_v` from the chunks after a failed WAL write.
    pub(crate) fn rollback(&mut self, id: u32) {
        if let Some(Some(s)) = self.series.get_mut(id as usize) {
            let (t, v) = match (&s.open, s.closed.last()) {
                (Some(o), _) if !o.is_empty() => (o.max_time(), o.last_value_bits()),
                (_, Some(c)) => match c.samples().ok().and_then(|it| it.filter_map(|s| s.ok()).last()) {
                    Some((t, v)) => (t, v.to_bits()),
                    None => (i64::MIN, 0),
                },
                _ => (i64::MIN, 0),
            };
            s.last_t = t;
            s.last_v = v;
        }
    }

    /// Appends a sample that `check` accepted.
    pub(crate) fn apply(&mut self, id: u32, t: i64, v: f64) {
        let range = self.chunk_range;
        let max = self.max_chunk_samples;
        let Some(Some(s)) = self.series.get_mut(id as usize) else {
            return;
        };
        let must_cut = match &s.open {
            None => true,
            Some(o) => o.len() >= max || t >= s.open_end || (!o.is_empty() && t <= o.max_time()),
        };
        if must_cut {
            s.seal();
            s.open = Some(XorAppender::new());
            s.open_end = t.div_euclid(range).saturating_add(1).saturating_mul(range);
        }
        if let Some(o) = s.open.as_mut() {
            o.append(t, v);
        }
        if t > s.last_t {
            s.last_t = t;
            s.last_v = v.to_bits();
        }
    }

    /// Adds a chunk restored from a checkpoint.
    pub(crate) fn restore_chunk(&mut self, id: u32, chunk: ClosedChunk) {
        if let Some(Some(s)) = self.series.get_mut(id as usize) {
            s.seal();
            if let Some((t, v)) = chunk.samples().ok().and_then(|it| it.filter_map(|s| s.ok()).last()) {
                if t > s.last_t {
                    s.last_t = t;
                    s.last_v = v.to_bits();
                }
            }
            s.closed.push(chunk);
        }
    }

    /// Oldest and newest sample time in the head.
    pub(crate) fn time_range(&self) -> Option<(i64, i64)> {
        let mut range: Option<(i64, i64)> = None;
        for s in self.series.iter().flatten() {
            let first = s
                .closed
                .first()
                .map(|c| c.min_t)
                .or_else(|| s.open.as_ref().filter(|o| !o.is_empty()).map(XorAppender::min_time));
            let last = s
                .open
                .as_ref()
                .filter(|o| !o.is_empty())
                .map(XorAppender::max_time)
                .or_else(|| s.closed.last().map(|c| c.max_t));
            if let (Some(a), Some(b)) = (first, last) {
                range = Some(match range {
                    None => (a, b),
                    Some((x, y)) => (x.min(a), y.max(b)),
                });
            }
        }
        range
    }

    /// Ids selected by matchers.
    pub(crate) fn select(&self, matchers: &[Matcher]) -> Vec<u32> {
        self.postings.select(matchers)
    }

    /// Seals open chunks that end before `before`, so everything older is
    /// in closed chunks, and raises the lower bound so nothing older gets in.
    pub(crate) fn freeze_before(&mut self, before: i64) {
        self.min_valid = self.min_valid.max(before);
        for s in self.series.iter_mut().flatten() {
            if s.open.as_ref().is_some_and(|o| o.max_time() < before) {
                s.seal();
            }
        }
    }

    /// Closed chunks that end before `before`, per series, with labels.
    pub(crate) fn frozen_chunks(&self, before: i64) -> Vec<(u32, Vec<ClosedChunk>)> {
        self.series
            .iter()
            .enumerate()
            .filter_map(|(id, s)| {
                let s = s.as_ref()?;
                let chunks: Vec<ClosedChunk> = s.closed.iter().filter(|c| c.max_t < before).cloned().collect();
                (!chunks.is_empty()).then_some((id as u32, chunks))
            })
            .collect()
    }

    /// Drops chunks before `before` and forgets series left without data
    /// whose newest sample is older than `forget_before`.
    pub(crate) fn truncate(&mut self, before: i64, forget_before: i64) {
        let idle_before = forget_before;
        let mut removed = false;
        for slot in self.series.iter_mut() {
            let Some(s) = slot else { continue };
            s.closed.retain(|c| c.max_t >= before);
            if !s.has_data() && s.last_t < idle_before {
                *slot = None;
                removed = true;
            }
        }
        if removed {
            self.rebuild_lookup();
            self.rebuild_postings();
        }
    }

    fn rebuild_lookup(&mut self) {
        self.lookup.clear();
        self.collisions.clear();
        self.live = 0;
        let hashes: Vec<(u64, u32)> = self
            .series
            .iter()
            .enumerate()
            .filter_map(|(id, s)| s.as_ref().map(|s| (hash_bytes(s.labels.as_bytes()), id as u32)))
            .collect();
        for (hash, id) in hashes {
            self.index_hash(hash, id);
            self.live += 1;
        }
    }

    fn rebuild_postings(&mut self) {
        let mut p = Postings::default();
        for (id, s) in self.series.iter().enumerate() {
            if let Some(s) = s {
                p.add(id as u32, s.labels.pairs());
            }
        }
        self.postings = p;
    }

    /// Approximate heap bytes held by series data.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.series.iter().flatten().map(MemSeries::heap_bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_sharing_a_hash_are_told_apart() {
        let mut head = Head::new(7_200_000, 120);
        let a = CompactLabels::encode([("__name__", "a")].into_iter());
        let b = CompactLabels::encode([("__name__", "b")].into_iter());
        // Force a collision: both under hash 42.
        let ia = head.create(42, a.clone());
        let ib = head.create(42, b.clone());
        assert_ne!(ia, ib);
        assert_eq!(head.find(42, a.as_bytes()), Some(ia));
        assert_eq!(head.find(42, b.as_bytes()), Some(ib));
        assert_eq!(head.find(43, a.as_bytes()), None);
        // After a rebuild the real hashes apply.
        head.rebuild_lookup();
        assert_eq!(head.find(hash_bytes(b.as_bytes()), b.as_bytes()), Some(ib));
    }
}
