//! Immutable persisted blocks. A block is a folder holding every series'
//! samples for one time range:
//!
//! - `meta.json`: id, time range, counts, compaction level and sources;
//! - `chunks`: chunk records `encoding: u8 | len: uvarint | bytes | crc32c`;
//! - `index`: symbol table, series (labels as symbol refs + chunk refs),
//!   postings (label pair → sorted series numbers), then a CRC of it all.
//!
//! A block is written under `<id>.tmp` and renamed into place when
//! complete, so a crash never leaves half a block behind a real name.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::hash::{BuildHasher, Hasher};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::Mmap;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::chunk::{encode_compact, ChunkIter, Encoding};
use crate::encoding::{put_bytes, put_uvarint, put_varint, Decoder};
use crate::error::{io_err, Error, Result};
use crate::labels::{CompactLabels, Label, Labels};
use crate::matcher::Matcher;
use crate::postings::Postings;
use crate::wal::sync_dir;

const INDEX_MAGIC: &[u8; 8] = b"NINESIDX";
const INDEX_VERSION: u8 = 1;
/// Samples per chunk inside blocks: larger than the head's so a 2 h block at
/// a 15 s interval holds one chunk per series, paying the header once.
pub(crate) const BLOCK_CHUNK_SAMPLES: usize = 1024;

/// Counts kept in a block's `meta.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BlockStats {
    /// Series in the block.
    pub series: u64,
    /// Samples in the block.
    pub samples: u64,
    /// Chunks in the block.
    pub chunks: u64,
}

/// A block's `meta.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BlockMeta {
    /// Format version.
    pub version: u32,
    /// Unique id, also the folder name.
    pub id: String,
    /// Oldest sample time (ms, inclusive).
    pub min_time: i64,
    /// Newest sample time (ms, inclusive).
    pub max_time: i64,
    /// Counts.
    pub stats: BlockStats,
    /// 1 for blocks cut from the head, +1 per compaction.
    pub level: u32,
    /// Ids of the blocks this one was compacted from.
    #[serde(default)]
    pub sources: Vec<String>,
}

/// Where one chunk of a series lives in the chunks file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkMeta {
    pub min_t: i64,
    pub max_t: i64,
    pub offset: u64,
}

#[derive(Debug, Default)]
struct BlockIndex {
    symbols: Vec<Box<str>>,
    /// Flattened (name, value) symbol refs; series i owns
    /// `label_refs[label_start[i]..label_start[i + 1]]`.
    label_refs: Vec<(u32, u32)>,
    label_start: Vec<u32>,
    chunks: Vec<ChunkMeta>,
    chunk_start: Vec<u32>,
    postings: Postings,
}

/// A persisted block, opened for reading.
#[derive(Debug)]
pub struct Block {
    dir: PathBuf,
    meta: BlockMeta,
    index: BlockIndex,
    chunks: Option<Mmap>,
    size: u64,
}

impl Block {
    /// Opens and verifies a block folder.
    pub(crate) fn open(dir: &Path) -> Result<Self> {
        let meta_path = dir.join("meta.json");
        let meta_bytes = fs::read(&meta_path).map_err(io_err("read block meta", &meta_path))?;
        let meta: BlockMeta = serde_json::from_slice(&meta_bytes).map_err(|e| Error::Corrupt {
            path: meta_path.clone(),
            reason: e.to_string(),
        })?;
        let index_path = dir.join("index");
        let index_bytes = fs::read(&index_path).map_err(io_err("read block index", &index_path))?;
        let index = decode_index(&index_bytes).map_err(|reason| Error::Corrupt {
            path: index_path.clone(),
            reason: reason.to_string(),
        })?;
        let chunks_path = dir.join("chunks");
        let file = File::open(&chunks_path).map_err(io_err("open block chunks", &chunks_path))?;
        let chunks_len = file
            .metadata()
            .map_err(io_err("stat block chunks", &chunks_path))?
            .len();
        // SAFETY: block files are immutable once renamed into place and are
        // only ever deleted (never rewritten) by this process, which keeps
        // the mapping valid for the block's lifetime.
        let chunks = if chunks_len == 0 {
            None
        } else {
            Some(unsafe { Mmap::map(&file) }.map_err(io_err("map block chunks", &chunks_path))?)
        };
        let size = meta_bytes.len() as u64 + index_bytes.len() as u64 + chunks_len;
        Ok(Self {
            dir: dir.to_path_buf(),
            meta,
            index,
            chunks,
            size,
        })
    }

    /// The block's metadata.
    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    /// Bytes on disk.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn num_series(&self) -> usize {
        self.index.label_start.len().saturating_sub(1)
    }

    pub(crate) fn select(&self, matchers: &[Matcher]) -> Vec<u32> {
        self.index.postings.select(matchers)
    }

    pub(crate) fn label_names(&self) -> impl Iterator<Item = &str> {
        self.index.postings.names()
    }

    pub(crate) fn label_values(&self, name: &str) -> impl Iterator<Item = &str> {
        self.index.postings.values(name)
    }

    pub(crate) fn series_labels(&self, i: u32) -> Labels {
        let i = i as usize;
        let (a, b) = (
            self.index.label_start[i] as usize,
            self.index.label_start[i + 1] as usize,
        );
        let sym = |r: u32| {
            self.index
                .symbols
                .get(r as usize)
                .map(|s| s.to_string())
                .unwrap_or_default()
        };
        Labels::from_trusted(
            self.index.label_refs[a..b]
                .iter()
                .map(|&(n, v)| Label {
                    name: sym(n),
                    value: sym(v),
                })
                .collect(),
        )
    }

    pub(crate) fn series_chunks(&self, i: u32) -> &[ChunkMeta] {
        let i = i as usize;
        &self.index.chunks[self.index.chunk_start[i] as usize..self.index.chunk_start[i + 1] as usize]
    }

    /// The encoding and bytes of the chunk at `offset`, checksum verified.
    pub(crate) fn chunk(&self, offset: u64) -> Result<(Encoding, &[u8])> {
        let corrupt = |reason: &str| Error::Corrupt {
            path: self.dir.join("chunks"),
            reason: format!("chunk at {offset}: {reason}"),
        };
        let data: &[u8] = self.chunks.as_deref().unwrap_or(&[]);
        let start = usize::try_from(offset).map_err(|_| corrupt("offset out of range"))?;
        let rest = data.get(start..).ok_or_else(|| corrupt("offset out of range"))?;
        let mut d = Decoder::new(rest);
        let encoding = d
            .u8()
            .and_then(Encoding::from_byte)
            .ok_or_else(|| corrupt("unknown encoding"))?;
        let bytes = d.len_bytes().ok_or_else(|| corrupt("truncated"))?;
        let covered = rest.get(..d.position()).ok_or_else(|| corrupt("truncated"))?;
        let crc = d.u32_le().ok_or_else(|| corrupt("truncated"))?;
        if crc32c::crc32c(covered) != crc {
            return Err(corrupt("checksum mismatch"));
        }
        Ok((encoding, bytes))
    }

    /// Every sample of series `i`, decoded.
    pub(crate) fn series_samples(&self, i: u32) -> Result<Vec<(i64, f64)>> {
        let mut out = Vec::new();
        for c in self.series_chunks(i) {
            let (encoding, bytes) = self.chunk(c.offset)?;
            for s in ChunkIter::new(encoding, bytes, c.min_t)? {
                out.push(s?);
            }
        }
        Ok(out)
    }
}

fn decode_index(bytes: &[u8]) -> Result<BlockIndex, &'static str> {
    let body_len = bytes.len().checked_sub(4).ok_or("too short")?;
    let (body, crc) = bytes.split_at(body_len);
    let crc = u32::from_le_bytes(crc.try_into().map_err(|_| "too short")?);
    if crc32c::crc32c(body) != crc {
        return Err("checksum mismatch");
    }
    let mut d = Decoder::new(body);
    if d.bytes(8) != Some(INDEX_MAGIC.as_slice()) || d.u8() != Some(INDEX_VERSION) {
        return Err("not a nines index (bad magic or version)");
    }
    let trunc = "truncated";
    let n_sym = d.len(d.remaining()).ok_or(trunc)?;
    let mut symbols = Vec::with_capacity(n_sym);
    for _ in 0..n_sym {
        symbols.push(Box::<str>::from(d.str().ok_or("bad symbol")?));
    }
    let sym_ok = |r: u64| -> Result<u32, &'static str> {
        u32::try_from(r)
            .ok()
            .filter(|&r| (r as usize) < symbols.len())
            .ok_or("symbol ref out of range")
    };
    let base_t = d.varint().ok_or(trunc)?;
    let n_series = d.len(d.remaining()).ok_or(trunc)?;
    let mut prev_offset = 0i64;
    let mut idx = BlockIndex {
        label_start: vec![0],
        chunk_start: vec![0],
        ..Default::default()
    };
    for _ in 0..n_series {
        let n_labels = d.len(d.remaining()).ok_or(trunc)?;
        for _ in 0..n_labels {
            let n = sym_ok(d.uvarint().ok_or(trunc)?)?;
            let v = sym_ok(d.uvarint().ok_or(trunc)?)?;
            idx.label_refs.push((n, v));
        }
        idx.label_start
            .push(u32::try_from(idx.label_refs.len()).map_err(|_| "too many labels")?);
        let n_chunks = d.len(d.remaining()).ok_or(trunc)?;
        for _ in 0..n_chunks {
            let min_t = base_t.wrapping_add(d.varint().ok_or(trunc)?);
            let span = d.varint().ok_or(trunc)?;
            prev_offset = prev_offset.wrapping_add(d.varint().ok_or(trunc)?);
            let offset = u64::try_from(prev_offset).map_err(|_| "negative chunk offset")?;
            idx.chunks.push(ChunkMeta {
                min_t,
                max_t: min_t.wrapping_add(span),
                offset,
            });
        }
        idx.chunk_start
            .push(u32::try_from(idx.chunks.len()).map_err(|_| "too many chunks")?);
    }
    let n_lists = d.len(d.remaining()).ok_or(trunc)?;
    for _ in 0..n_lists {
        let n = sym_ok(d.uvarint().ok_or(trunc)?)?;
        let v = sym_ok(d.uvarint().ok_or(trunc)?)?;
        let len = d.len(d.remaining()).ok_or(trunc)?;
        let mut ids = Vec::with_capacity(len);
        let mut prev = 0u64;
        for k in 0..len {
            let delta = d.uvarint().ok_or(trunc)?;
            prev = if k == 0 {
                delta
            } else {
                prev.checked_add(delta).ok_or("postings overflow")?
            };
            if prev as usize >= n_series || (k > 0 && delta == 0) {
                return Err("postings not ascending or out of range");
            }
            ids.push(prev as u32);
        }
        idx.postings
            .insert_list(&symbols[n as usize], &symbols[v as usize], ids);
    }
    idx.postings.set_all((0..n_series as u32).collect());
    if d.remaining() != 0 {
        return Err("trailing bytes");
    }
    idx.symbols = symbols;
    Ok(idx)
}

static BLOCK_SEQ: AtomicU64 = AtomicU64::new(0);

/// A new unique, time-sortable block id.
fn new_block_id(min_time: i64) -> String {
    // Uniqueness, not time, is what matters here: mix a per-process random
    // seed with a counter so two blocks for one range never share a name.
    let seed = std::collections::hash_map::RandomState::new().build_hasher().finish();
    let seq = BLOCK_SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{:016x}-{:08x}{:04x}", min_time as u64, seed as u32, seq & 0xffff)
}

/// Builds a block from whole series.
pub(crate) struct BlockWriter {
    tmp: PathBuf,
    chunks: BufWriter<File>,
    offset: u64,
    series: Vec<(CompactLabels, Vec<ChunkMeta>)>,
    min_t: i64,
    max_t: i64,
    samples: u64,
}

impl BlockWriter {
    /// Starts a block in a temporary folder under `blocks_dir`.
    pub(crate) fn new(blocks_dir: &Path) -> Result<Self> {
        let name = format!("{}.tmp", new_block_id(0));
        let tmp = blocks_dir.join(name);
        fs::create_dir_all(&tmp).map_err(io_err("create block folder", &tmp))?;
        let path = tmp.join("chunks");
        let file = File::create(&path).map_err(io_err("create block chunks", &path))?;
        Ok(Self {
            tmp,
            chunks: BufWriter::with_capacity(1 << 20, file),
            offset: 0,
            series: Vec::new(),
            min_t: i64::MAX,
            max_t: i64::MIN,
            samples: 0,
        })
    }

    /// Adds one series' samples (ascending, unique timestamps).
    pub(crate) fn add_series(&mut self, labels: CompactLabels, samples: &[(i64, f64)]) -> Result<()> {
        if samples.is_empty() {
            return Ok(());
        }
        let mut metas = Vec::with_capacity(samples.len().div_ceil(BLOCK_CHUNK_SAMPLES));
        let mut record = Vec::new();
        for part in samples.chunks(BLOCK_CHUNK_SAMPLES) {
            let (encoding, data) = encode_compact(part, None);
            record.clear();
            record.push(encoding.to_byte());
            put_bytes(&mut record, &data);
            let crc = crc32c::crc32c(&record);
            record.extend_from_slice(&crc.to_le_bytes());
            let path = self.tmp.join("chunks");
            self.chunks
                .write_all(&record)
                .map_err(io_err("write block chunks", &path))?;
            let (first, last) = (part[0].0, part[part.len() - 1].0);
            metas.push(ChunkMeta {
                min_t: first,
                max_t: last,
                offset: self.offset,
            });
            self.offset += record.len() as u64;
            self.min_t = self.min_t.min(first);
            self.max_t = self.max_t.max(last);
        }
        self.samples += samples.len() as u64;
        self.series.push((labels, metas));
        Ok(())
    }

    /// Writes the index and meta and renames the block into place. Returns
    /// `None` (and removes the folder) when no series had samples.
    pub(crate) fn finish(mut self, level: u32, sources: Vec<String>) -> Result<Option<Block>> {
        let blocks_dir = self.tmp.parent().map(Path::to_path_buf).unwrap_or_default();
        if self.series.is_empty() {
            drop(self.chunks);
            fs::remove_dir_all(&self.tmp).map_err(io_err("remove empty block", &self.tmp))?;
            return Ok(None);
        }
        let chunks_path = self.tmp.join("chunks");
        let file = self
            .chunks
            .into_inner()
            .map_err(|e| io_err("write block chunks", &chunks_path)(e.into_error()))?;
        file.sync_all().map_err(io_err("sync block chunks", &chunks_path))?;
        self.series.sort_by(|a, b| a.0.pairs().cmp(b.0.pairs()));

        let index = encode_index(&self.series);
        let index_path = self.tmp.join("index");
        write_synced(&index_path, &index)?;

        let id = new_block_id(self.min_t);
        let meta = BlockMeta {
            version: 1,
            id: id.clone(),
            min_time: self.min_t,
            max_time: self.max_t,
            stats: BlockStats {
                series: self.series.len() as u64,
                samples: self.samples,
                chunks: self.series.iter().map(|s| s.1.len() as u64).sum(),
            },
            level,
            sources,
        };
        let meta_path = self.tmp.join("meta.json");
        let meta_json = serde_json::to_vec_pretty(&meta).map_err(|e| Error::Corrupt {
            path: meta_path.clone(),
            reason: e.to_string(),
        })?;
        write_synced(&meta_path, &meta_json)?;
        sync_dir(&self.tmp)?;
        let final_dir = blocks_dir.join(&id);
        fs::rename(&self.tmp, &final_dir).map_err(io_err("rename block into place", &final_dir))?;
        sync_dir(&blocks_dir)?;
        Block::open(&final_dir).map(Some)
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path).map_err(io_err("create", path))?;
    f.write_all(bytes).map_err(io_err("write", path))?;
    f.sync_all().map_err(io_err("sync", path))
}

fn encode_index(series: &[(CompactLabels, Vec<ChunkMeta>)]) -> Vec<u8> {
    let symbols: BTreeSet<&str> = series
        .iter()
        .flat_map(|(l, _)| l.pairs().flat_map(|(n, v)| [n, v]))
        .collect();
    let sym_ref: FxHashMap<&str, u64> = symbols.iter().enumerate().map(|(i, s)| (*s, i as u64)).collect();
    let mut out = Vec::with_capacity(series.len() * 64);
    out.extend_from_slice(INDEX_MAGIC);
    out.push(INDEX_VERSION);
    put_uvarint(&mut out, symbols.len() as u64);
    for s in &symbols {
        put_bytes(&mut out, s.as_bytes());
    }
    // Chunk times are stored relative to the block's first sample and chunk
    // offsets relative to the previous chunk: both are small numbers then.
    let base_t = series
        .iter()
        .flat_map(|(_, c)| c.iter().map(|c| c.min_t))
        .min()
        .unwrap_or(0);
    put_varint(&mut out, base_t);
    put_uvarint(&mut out, series.len() as u64);
    let mut prev_offset = 0i64;
    let mut postings: BTreeMap<(u64, u64), Vec<u32>> = BTreeMap::new();
    for (i, (labels, chunks)) in series.iter().enumerate() {
        put_uvarint(&mut out, labels.pairs().count() as u64);
        for (n, v) in labels.pairs() {
            let (n, v) = (sym_ref[n], sym_ref[v]);
            put_uvarint(&mut out, n);
            put_uvarint(&mut out, v);
            postings.entry((n, v)).or_default().push(i as u32);
        }
        put_uvarint(&mut out, chunks.len() as u64);
        for c in chunks {
            put_varint(&mut out, c.min_t.wrapping_sub(base_t));
            put_varint(&mut out, c.max_t.wrapping_sub(c.min_t));
            put_varint(&mut out, (c.offset as i64).wrapping_sub(prev_offset));
            prev_offset = c.offset as i64;
        }
    }
    put_uvarint(&mut out, postings.len() as u64);
    for ((n, v), ids) in &postings {
        put_uvarint(&mut out, *n);
        put_uvarint(&mut out, *v);
        put_uvarint(&mut out, ids.len() as u64);
        let mut prev = 0u32;
        for (k, &id) in ids.iter().enumerate() {
            put_uvarint(&mut out, u64::from(if k == 0 { id } else { id - prev }));
            prev = id;
        }
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// For the fuzz target: true when the bytes decode as an index.
pub(crate) fn fuzz_decode_index(bytes: &[u8]) -> bool {
    decode_index(bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::MatchOp;

    #[test]
    fn a_written_block_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = BlockWriter::new(dir.path()).unwrap();
        let a = Labels::new([("__name__", "up"), ("job", "b")]).unwrap();
        let b = Labels::new([("__name__", "up"), ("job", "a")]).unwrap();
        let sa: Vec<(i64, f64)> = (0..2000).map(|i| (i * 15_000, i as f64)).collect();
        w.add_series(CompactLabels::encode(a.pairs()), &sa).unwrap();
        w.add_series(CompactLabels::encode(b.pairs()), &[(5, 1.0)]).unwrap();
        let block = w.finish(1, vec![]).unwrap().unwrap();
        let block = Block::open(block.dir()).unwrap();
        assert_eq!(block.meta().stats.series, 2);
        assert_eq!(block.meta().stats.samples, 2001);
        assert_eq!(block.meta().min_time, 0);
        let ids = block.select(&[Matcher::new(MatchOp::Regex, "job", "a|b").unwrap()]);
        assert_eq!(ids, vec![0, 1]);
        assert_eq!(block.series_labels(0), b);
        assert_eq!(block.series_labels(1), a);
        assert_eq!(block.series_chunks(1).len(), 2);
        assert_eq!(block.series_samples(1).unwrap(), sa);
    }

    #[test]
    fn a_damaged_index_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = BlockWriter::new(dir.path()).unwrap();
        w.add_series(
            CompactLabels::encode(Labels::new([("__name__", "x")]).unwrap().pairs()),
            &[(1, 1.0)],
        )
        .unwrap();
        let block = w.finish(1, vec![]).unwrap().unwrap();
        let path = block.dir().join("index");
        let mut bytes = fs::read(&path).unwrap();
        bytes[12] ^= 1;
        fs::write(&path, bytes).unwrap();
        let err = Block::open(block.dir()).unwrap_err().to_string();
        assert!(err.contains("index") && err.contains("checksum"), "{err}");
    }
}
