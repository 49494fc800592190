//! Query results: one [`Series`] per label set, holding references to its
//! chunks in the head and in blocks, decoded only when iterated.

use std::sync::Arc;

use crate::block::Block;
use crate::chunk::{ChunkIter, Encoding};
use crate::error::Result;
use crate::labels::{CompactLabels, Labels};

/// A selected series' labels: as a block decoded them, or still packed as
/// the head keeps them, built only if asked for (a query engine reads the
/// pairs straight into its own form).
#[derive(Debug, Clone)]
pub struct SeriesLabels(Held);

#[derive(Debug, Clone)]
enum Held {
    Built(Labels),
    Packed(CompactLabels),
}

impl SeriesLabels {
    pub(crate) fn built(labels: Labels) -> Self {
        Self(Held::Built(labels))
    }

    pub(crate) fn packed(labels: CompactLabels) -> Self {
        Self(Held::Packed(labels))
    }

    /// The name/value pairs in name order, building nothing.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        let (built, packed) = match &self.0 {
            Held::Built(l) => (Some(l.pairs()), None),
            Held::Packed(p) => (None, Some(p.pairs())),
        };
        built.into_iter().flatten().chain(packed.into_iter().flatten())
    }

    /// The label set, built.
    pub fn to_labels(&self) -> Labels {
        match &self.0 {
            Held::Built(l) => l.clone(),
            Held::Packed(p) => p.to_labels(),
        }
    }

    /// The label set, taken.
    pub fn into_labels(self) -> Labels {
        match self.0 {
            Held::Built(l) => l,
            Held::Packed(p) => p.to_labels(),
        }
    }
}

/// Where a chunk's bytes are.
#[derive(Debug, Clone)]
pub(crate) enum ChunkData {
    /// A head chunk (shared or copied out of the head).
    Shared(Encoding, Arc<[u8]>),
    /// A chunk inside a block's mapped chunks file.
    Block { block: Arc<Block>, offset: u64 },
}

#[derive(Debug, Clone)]
pub(crate) struct ChunkRef {
    pub min_t: i64,
    pub max_t: i64,
    pub data: ChunkData,
    /// The chunk's newest sample when known without decoding (the head's
    /// open chunk).
    pub last: Option<(i64, f64)>,
}

impl ChunkRef {
    fn samples(&self) -> Result<ChunkIter<'_>> {
        match &self.data {
            ChunkData::Shared(encoding, b) => ChunkIter::new(*encoding, b, self.min_t),
            ChunkData::Block { block, offset } => {
                let (encoding, bytes) = block.chunk(*offset)?;
                ChunkIter::new(encoding, bytes, self.min_t)
            }
        }
    }
}

/// One series selected by a query, limited to the query's time range.
#[derive(Debug, Clone)]
pub struct Series {
    labels: SeriesLabels,
    chunks: Vec<ChunkRef>,
    mint: i64,
    maxt: i64,
}

impl Series {
    pub(crate) fn new(labels: SeriesLabels, mut chunks: Vec<ChunkRef>, mint: i64, maxt: i64) -> Self {
        chunks.sort_by_key(|c| (c.min_t, c.max_t));
        Self {
            labels,
            chunks,
            mint,
            maxt,
        }
    }

    /// The series' labels, built.
    pub fn labels(&self) -> Labels {
        self.labels.to_labels()
    }

    /// The series' labels, taken.
    pub fn into_labels(self) -> Labels {
        self.labels.into_labels()
    }

    /// The series' labels as selected, to read without building them.
    pub fn series_labels(&self) -> &SeriesLabels {
        &self.labels
    }

    /// The series' labels as selected, taken.
    pub fn into_series_labels(self) -> SeriesLabels {
        self.labels
    }

    /// The newest sample in the query range. Reading a series "now" from
    /// the head decodes nothing: the open chunk knows its newest sample.
    pub fn latest(&self) -> Result<Option<(i64, f64)>> {
        let disjoint = self.disjoint();
        if !disjoint {
            return Ok(self.merged()?.last().copied());
        }
        let in_range = |t: i64| t >= self.mint && t <= self.maxt;
        for c in self.chunks.iter().rev() {
            if let Some((t, v)) = c.last.filter(|l| in_range(l.0)) {
                return Ok(Some((t, v)));
            }
            let mut newest = None;
            for s in c.samples()? {
                let s = s?;
                if s.0 > self.maxt {
                    break;
                }
                if s.0 >= self.mint {
                    newest = Some(s);
                }
            }
            if newest.is_some() {
                return Ok(newest);
            }
        }
        Ok(None)
    }

    /// Iterates the samples in the query range, oldest first, with unique
    /// timestamps. Data from overlapping sources (a backfilled block over
    /// another) is merged; on equal timestamps the first source wins.
    pub fn iter(&self) -> SeriesIter<'_> {
        let disjoint = self.disjoint();
        if disjoint {
            SeriesIter(IterState::Stream {
                chunks: &self.chunks,
                next: 0,
                cur: None,
                mint: self.mint,
                maxt: self.maxt,
            })
        } else {
            SeriesIter(match self.merged() {
                Ok(v) => IterState::Merged(v.into_iter()),
                Err(e) => IterState::Failed(Some(e)),
            })
        }
    }

    /// All samples in range, collected.
    pub fn samples(&self) -> Result<Vec<(i64, f64)>> {
        let mut out = Vec::new();
        self.decode_into(&mut out)?;
        Ok(out)
    }

    /// Appends the samples in range to `out`, as [`Series::iter`] yields
    /// them; callers reuse one buffer for series after series.
    pub fn decode_into(&self, out: &mut Vec<(i64, f64)>) -> Result<()> {
        let disjoint = self.disjoint();
        if !disjoint {
            out.extend(self.merged()?);
            return Ok(());
        }
        for c in &self.chunks {
            c.samples()?.decode_range_into(self.mint, self.maxt, out)?;
        }
        Ok(())
    }

    /// Whether no two chunks overlap in time, so they can be read in turn.
    fn disjoint(&self) -> bool {
        self.chunks.windows(2).all(|w| w[0].max_t < w[1].min_t)
    }

    fn merged(&self) -> Result<Vec<(i64, f64)>> {
        let mut all = Vec::new();
        for c in &self.chunks {
            for s in c.samples()? {
                let s = s?;
                if s.0 >= self.mint && s.0 <= self.maxt {
                    all.push(s);
                }
            }
        }
        all.sort_by_key(|s| s.0);
        all.dedup_by_key(|s| s.0);
        Ok(all)
    }
}

/// Iterator over a series' samples; see [`Series::iter`].
#[derive(Debug)]
pub struct SeriesIter<'a>(IterState<'a>);

#[derive(Debug)]
enum IterState<'a> {
    /// Chunks that do not overlap, decoded one after another.
    Stream {
        chunks: &'a [ChunkRef],
        next: usize,
        cur: Option<ChunkIter<'a>>,
        mint: i64,
        maxt: i64,
    },
    /// Overlapping chunks, merged up front.
    Merged(std::vec::IntoIter<(i64, f64)>),
    /// A chunk failed to decode.
    Failed(Option<crate::error::Error>),
}

impl Iterator for SeriesIter<'_> {
    type Item = Result<(i64, f64)>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            IterState::Merged(it) => it.next().map(Ok),
            IterState::Failed(e) => e.take().map(Err),
            IterState::Stream {
                chunks,
                next,
                cur,
                mint,
                maxt,
            } => loop {
                if let Some(it) = cur {
                    match it.next() {
                        Some(Ok((t, _))) if t < *mint => continue,
                        Some(Ok((t, _))) if t > *maxt => {
                            *cur = None;
                            *next = chunks.len();
                            return None;
                        }
                        Some(item) => return Some(item),
                        None => *cur = None,
                    }
                }
                let c = chunks.get(*next)?;
                *next += 1;
                match c.samples() {
                    Ok(it) => *cur = Some(it),
                    Err(e) => {
                        *next = chunks.len();
                        return Some(Err(e));
                    }
                }
            },
        }
    }
}
