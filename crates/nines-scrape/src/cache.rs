//! The per-target series cache: raw series text (name and label block,
//! exactly as exposed) → what nines made of it.
//!
//! Keys live back to back in one arena in the order they were first seen,
//! and the cache remembers the order of the last successful scrape.
//! Exporters print their series in the same order every time, so the
//! `i`-th line is first compared with the `i`-th entry of the last scrape:
//! a sequential walk over the arena that the CPU prefetches. Only a miss
//! pays for a hash-table probe, whose random accesses into cold memory
//! were the largest cost of a scrape when 1,000 targets take turns.

use std::hash::{BuildHasher, Hasher};

use hashbrown::HashTable;

/// A cached series' final labels, sorted by name.
pub type FinalLabels = Box<[(Box<str>, Box<str>)]>;

/// What the cache knows of one series.
pub struct Entry {
    key_start: u32,
    key_len: u32,
    /// Metric relabeling dropped the series.
    pub dropped: bool,
    /// Final labels, kept only until the store knows the series by ref
    /// (they are derived again from the key if the store ever forgets it).
    pub labels: Option<FinalLabels>,
    /// The scrape iteration that last saw the series (0: none succeeded).
    pub last_seen: u64,
    /// The exposition gave the sample its own timestamp: such series get
    /// no staleness markers, as in Prometheus.
    pub explicit_ts: bool,
    /// The store's ref for the series, once appended.
    pub series_ref: Option<nines_tsdb::SeriesRef>,
}

/// The cache of one target.
#[derive(Default)]
pub struct SeriesCache {
    arena: Vec<u8>,
    entries: Vec<Entry>,
    table: HashTable<u32>,
    order: Vec<u32>,
}

fn hash(bytes: &[u8]) -> u64 {
    let mut h = rustc_hash::FxBuildHasher.build_hasher();
    h.write(bytes);
    h.finish()
}

impl SeriesCache {
    /// The raw series text of entry `i`.
    pub fn key(&self, i: u32) -> &[u8] {
        let e = &self.entries[i as usize];
        &self.arena[e.key_start as usize..(e.key_start + e.key_len) as usize]
    }

    /// Number of cached series.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entry for `series`, the `position`-th line of this scrape.
    pub fn find(&self, position: usize, series: &[u8]) -> Option<u32> {
        if let Some(&i) = self.order.get(position) {
            if self.key(i) == series {
                return Some(i);
            }
        }
        self.table.find(hash(series), |&i| self.key(i) == series).copied()
    }

    /// Adds a series seen for the first time.
    pub fn insert(&mut self, series: &[u8], labels: Option<FinalLabels>) -> u32 {
        let id = self.entries.len() as u32;
        self.entries.push(Entry {
            key_start: self.arena.len() as u32,
            key_len: series.len() as u32,
            dropped: labels.is_none(),
            labels,
            last_seen: 0,
            explicit_ts: false,
            series_ref: None,
        });
        self.arena.extend_from_slice(series);
        let entries = &self.entries;
        let arena = &self.arena;
        self.table.insert_unique(hash(series), id, |&i| {
            let e = &entries[i as usize];
            hash(&arena[e.key_start as usize..(e.key_start + e.key_len) as usize])
        });
        id
    }

    /// An entry.
    pub fn entry(&self, i: u32) -> &Entry {
        &self.entries[i as usize]
    }

    /// An entry, to update.
    pub fn entry_mut(&mut self, i: u32) -> &mut Entry {
        &mut self.entries[i as usize]
    }

    /// All entries with their ids.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Entry)> {
        self.entries.iter().enumerate().map(|(i, e)| (i as u32, e))
    }

    /// Records a successful scrape: its entries, in order, were seen in
    /// `iteration`.
    pub fn commit(&mut self, order: Vec<u32>, iteration: u64) {
        for &i in &order {
            self.entries[i as usize].last_seen = iteration;
        }
        self.order = order;
    }

    /// Drops entries not seen since before `keep_from`, once they are the
    /// majority (and more than a few), rebuilding arena and table.
    pub fn evict(&mut self, keep_from: u64) {
        let dead = self.entries.iter().filter(|e| e.last_seen < keep_from).count();
        if dead < 64 || dead * 2 < self.entries.len() {
            return;
        }
        let old_entries = std::mem::take(&mut self.entries);
        let old_arena = std::mem::take(&mut self.arena);
        let mut remap = vec![u32::MAX; old_entries.len()];
        self.table.clear();
        for (old_id, e) in old_entries.into_iter().enumerate() {
            if e.last_seen < keep_from {
                continue;
            }
            let key = &old_arena[e.key_start as usize..(e.key_start + e.key_len) as usize];
            let id = self.insert(key, e.labels);
            let new = &mut self.entries[id as usize];
            new.last_seen = e.last_seen;
            new.explicit_ts = e.explicit_ts;
            new.series_ref = e.series_ref;
            new.dropped = e.dropped;
            remap[old_id] = id;
        }
        self.order = self
            .order
            .iter()
            .map(|&i| remap[i as usize])
            .filter(|&i| i != u32::MAX)
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_by_position_or_by_hash_and_survives_eviction() {
        let mut c = SeriesCache::default();
        let a = c.insert(b"a{x=\"1\"}", None);
        let b = c.insert(b"b", None);
        c.commit(vec![a, b], 1);
        assert_eq!(c.find(0, b"a{x=\"1\"}"), Some(a));
        assert_eq!(c.find(0, b"b"), Some(b), "falls back to the table");
        assert_eq!(c.find(5, b"zzz"), None);
        for i in 0..100 {
            c.insert(format!("gone{i}").as_bytes(), None);
        }
        c.commit(vec![b], 3);
        c.evict(3);
        assert_eq!(c.len(), 1);
        assert_eq!(c.find(0, b"b"), Some(0));
        assert_eq!(c.find(0, b"a{x=\"1\"}"), None);
    }
}
