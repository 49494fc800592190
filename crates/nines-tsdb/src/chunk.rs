//! Gorilla-style compressed chunks: delta-of-delta timestamps and XOR'd
//! float values, bit-packed.
//!
//! Layout: a 2-byte big-endian sample count, then a bit stream. The first
//! sample is a zig-zag varint timestamp and the raw 64 value bits; the
//! second a varint timestamp delta and an XOR value; every later one a
//! delta-of-delta in one of five buckets and an XOR value. Values are
//! stored bit-exactly, so staleness markers (a particular NaN) survive.

use crate::error::{Error, Result};

/// Most samples one chunk may hold (the count is a u16).
pub const MAX_SAMPLES: usize = u16::MAX as usize;

/// Bit-level writer: whole bytes go to `bytes`, fewer than eight pending
/// bits wait in `acc` (so a write of up to 64 bits never overflows it).
#[derive(Debug, Clone, Default)]
struct BitWriter {
    bytes: Vec<u8>,
    acc: u128,
    pending: u32,
}

impl BitWriter {
    #[inline]
    fn write_bit(&mut self, bit: bool) {
        self.write_bits(u64::from(bit), 1);
    }

    /// Writes the low `n` bits of `v` (n ≤ 64), most significant first.
    #[inline]
    fn write_bits(&mut self, v: u64, n: u32) {
        let masked = if n == 64 { v } else { v & ((1u64 << n) - 1) };
        self.acc = (self.acc << n) | u128::from(masked);
        self.pending += n;
        while self.pending >= 8 {
            self.pending -= 8;
            self.bytes.push((self.acc >> self.pending) as u8);
        }
        self.acc &= (1u128 << self.pending) - 1;
    }

    fn write_uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.write_bits((v & 0x7f) | 0x80, 8);
            v >>= 7;
        }
        self.write_bits(v, 8);
    }

    /// The pending bits as a final, zero-padded byte, if any.
    fn tail(&self) -> Option<u8> {
        (self.pending > 0).then(|| (self.acc << (8 - self.pending)) as u8)
    }
}

/// Bit-level reader; every read is bounds-checked. Reads take their bits
/// from one big-endian 64-bit load, not byte by byte: decoding is most of
/// what a query over raw data costs.
#[derive(Debug, Clone)]
struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    /// The next bits, left-aligned: at least 57 valid bits, zeros past the
    /// end of the input.
    #[inline]
    fn window(&self) -> u64 {
        let i = self.pos >> 3;
        let word = match self.bytes.get(i..i + 8) {
            Some(b) => {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                u64::from_be_bytes(a)
            }
            None => {
                let mut a = [0u8; 8];
                let rest = self.bytes.get(i..).unwrap_or_default();
                a[..rest.len()].copy_from_slice(rest);
                u64::from_be_bytes(a)
            }
        };
        word << (self.pos & 7)
    }

    /// Whether `n` more bits exist.
    #[inline]
    fn has(&self, n: u32) -> bool {
        self.pos + n as usize <= self.bytes.len() * 8
    }

    /// Reads `n` ≤ 64 bits, most significant first.
    #[inline(always)]
    fn read_bits(&mut self, n: u32) -> Option<u64> {
        if n == 0 {
            return Some(0);
        }
        if !self.has(n) {
            return None;
        }
        if n <= 56 {
            let v = self.window() >> (64 - n);
            self.pos += n as usize;
            return Some(v);
        }
        let hi = self.window() >> 32;
        self.pos += 32;
        let lo = self.window() >> (96 - n);
        self.pos += n as usize - 32;
        Some((hi << (n - 32)) | lo)
    }

    /// Counts leading one bits, stopping after `max` (≤ 8), and consumes
    /// them plus the terminating zero if there is one.
    #[inline]
    fn read_unary(&mut self, max: u32) -> Option<u32> {
        let ones = (!self.window()).leading_zeros().min(max);
        let used = if ones < max { ones + 1 } else { ones };
        if !self.has(used) {
            return None;
        }
        self.pos += used as usize;
        Some(ones)
    }

    fn read_uvarint(&mut self) -> Option<u64> {
        let mut result = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.read_bits(8)?;
            result |= (b & 0x7f) << shift;
            if b < 0x80 {
                return Some(result);
            }
        }
        None
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// Delta-of-delta buckets: control prefix, its length, payload bits.
const DOD_BUCKETS: [(u64, u32, u32); 3] = [(0b10, 2, 14), (0b110, 3, 17), (0b1110, 4, 20)];

fn fits_signed(v: i64, bits: u32) -> bool {
    let lim = 1i64 << (bits - 1);
    (-lim..lim).contains(&v)
}

/// Appends samples to a growing chunk. Timestamps must strictly increase;
/// the caller (the head) enforces that before appending.
#[derive(Debug, Clone)]
pub struct XorAppender {
    w: BitWriter,
    count: u16,
    t: i64,
    t_delta: i64,
    v: u64,
    leading: u8,
    trailing: u8,
    min_t: i64,
}

impl Default for XorAppender {
    fn default() -> Self {
        Self::new()
    }
}

impl XorAppender {
    /// An empty chunk.
    pub fn new() -> Self {
        Self {
            w: BitWriter {
                bytes: vec![0, 0],
                acc: 0,
                pending: 0,
            },
            count: 0,
            t: 0,
            t_delta: 0,
            v: 0,
            leading: 0xff,
            trailing: 0,
            min_t: 0,
        }
    }

    /// Samples written so far.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// True before the first sample.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// True when the chunk cannot take another sample.
    pub fn is_full(&self) -> bool {
        usize::from(self.count) >= MAX_SAMPLES
    }

    /// Time of the first sample.
    pub fn min_time(&self) -> i64 {
        self.min_t
    }

    /// Time of the last sample.
    pub fn max_time(&self) -> i64 {
        self.t
    }

    /// The last value written, as raw bits.
    pub fn last_value_bits(&self) -> u64 {
        self.v
    }

    /// A copy of the encoded chunk, valid at any point.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.w.bytes.len() + 1);
        out.extend_from_slice(&self.w.bytes);
        out.extend(self.w.tail());
        out
    }

    /// The chunk so far in one shared allocation, for a reader to decode
    /// without holding the head's lock.
    pub fn to_shared(&self) -> std::sync::Arc<[u8]> {
        match self.w.tail() {
            None => self.w.bytes.as_slice().into(),
            Some(tail) => {
                let mut bytes = Vec::with_capacity(self.w.bytes.len() + 1);
                bytes.extend_from_slice(&self.w.bytes);
                bytes.push(tail);
                bytes.into()
            }
        }
    }

    /// Heap bytes in use.
    pub fn capacity(&self) -> usize {
        self.w.bytes.capacity()
    }

    /// Finishes the chunk, shrinking its buffer.
    pub fn into_bytes(self) -> Vec<u8> {
        let tail = self.w.tail();
        let mut b = self.w.bytes;
        b.extend(tail);
        b.shrink_to_fit();
        b
    }

    /// Appends a sample. The caller guarantees `t` is greater than the last
    /// timestamp and that the chunk is not full.
    pub fn append(&mut self, t: i64, v: f64) {
        let bits = v.to_bits();
        match self.count {
            0 => {
                self.w.write_uvarint(zigzag(t));
                self.w.write_bits(bits, 64);
                self.min_t = t;
            }
            1 => {
                let delta = t.wrapping_sub(self.t);
                self.w.write_uvarint(zigzag(delta));
                self.write_value(bits);
                self.t_delta = delta;
            }
            _ => {
                let delta = t.wrapping_sub(self.t);
                let dod = delta.wrapping_sub(self.t_delta);
                if dod == 0 {
                    self.w.write_bit(false);
                } else if let Some(&(ctl, ctl_len, n)) = DOD_BUCKETS.iter().find(|b| fits_signed(dod, b.2)) {
                    self.w.write_bits(ctl, ctl_len);
                    self.w.write_bits(dod as u64, n);
                } else {
                    self.w.write_bits(0b1111, 4);
                    self.w.write_bits(dod as u64, 64);
                }
                self.write_value(bits);
                self.t_delta = delta;
            }
        }
        self.t = t;
        self.v = bits;
        self.count += 1;
        let [hi, lo] = self.count.to_be_bytes();
        self.w.bytes[0] = hi;
        self.w.bytes[1] = lo;
    }

    fn write_value(&mut self, bits: u64) {
        let x = bits ^ self.v;
        if x == 0 {
            self.w.write_bit(false);
            return;
        }
        self.w.write_bit(true);
        let mut leading = x.leading_zeros() as u8;
        let trailing = x.trailing_zeros() as u8;
        if leading >= 32 {
            leading = 31;
        }
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            self.w.write_bit(false);
            let sig = 64 - u32::from(self.leading) - u32::from(self.trailing);
            self.w.write_bits(x >> self.trailing, sig);
        } else {
            self.leading = leading;
            self.trailing = trailing;
            self.w.write_bit(true);
            self.w.write_bits(u64::from(leading), 5);
            let sig = 64 - u32::from(leading) - u32::from(trailing);
            // 64 significant bits do not fit 6 bits; 0 stands for 64.
            self.w.write_bits(u64::from(sig) & 0x3f, 6);
            self.w.write_bits(x >> trailing, sig);
        }
    }
}

const MALFORMED: &str = "bit stream ends early or is malformed";

/// Decodes a chunk sample by sample. Corrupt input ends the iteration with
/// an error rather than a panic.
#[derive(Debug, Clone)]
pub struct XorIter<'a> {
    r: BitReader<'a>,
    total: u16,
    read: u16,
    t: i64,
    t_delta: i64,
    v: u64,
    leading: u32,
    trailing: u32,
    failed: bool,
}

impl<'a> XorIter<'a> {
    /// Starts reading `bytes`; fails if the header is missing.
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        let header = bytes.get(..2).ok_or(Error::Chunk("shorter than its header"))?;
        let total = u16::from_be_bytes([header[0], header[1]]);
        Ok(Self {
            r: BitReader { bytes, pos: 16 },
            total,
            read: 0,
            t: 0,
            t_delta: 0,
            v: 0,
            leading: 0,
            trailing: 0,
            failed: false,
        })
    }

    /// Number of samples the header announces.
    pub fn total(&self) -> usize {
        usize::from(self.total)
    }

    #[inline(always)]
    fn step(&mut self) -> Option<(i64, f64)> {
        match self.read {
            0 => {
                self.t = unzigzag(self.r.read_uvarint()?);
                self.v = self.r.read_bits(64)?;
            }
            1 => {
                self.t_delta = unzigzag(self.r.read_uvarint()?);
                self.t = self.t.wrapping_add(self.t_delta);
                self.read_value()?;
            }
            _ => {
                let dod = match self.r.read_unary(4)? as usize {
                    0 => 0,
                    4 => self.r.read_bits(64)? as i64,
                    n => {
                        let bits = DOD_BUCKETS[n - 1].2;
                        let raw = self.r.read_bits(bits)?;
                        // Sign-extend from `bits` wide.
                        ((raw << (64 - bits)) as i64) >> (64 - bits)
                    }
                };
                self.t_delta = self.t_delta.wrapping_add(dod);
                self.t = self.t.wrapping_add(self.t_delta);
                self.read_value()?;
            }
        }
        self.read += 1;
        Some((self.t, f64::from_bits(self.v)))
    }

    #[inline(always)]
    fn read_value(&mut self) -> Option<()> {
        // `0`: same value; `10`: XOR in the previous window; `11`: new window.
        let ctl = self.r.read_unary(2)?;
        if ctl == 0 {
            return Some(());
        }
        if ctl == 2 {
            // Five bits of leading zeros, six of significant length.
            let window = self.r.read_bits(11)? as u32;
            self.leading = window >> 6;
            let mut sig = window & 0x3f;
            if sig == 0 {
                sig = 64;
            }
            if self.leading + sig > 64 {
                return None;
            }
            self.trailing = 64 - self.leading - sig;
        } else if self.read < 2 && self.leading == 0 && self.trailing == 0 {
            // Reusing a window before one was ever set: not something our
            // encoder writes.
            return None;
        }
        let sig = 64 - self.leading - self.trailing;
        let bits = self.r.read_bits(sig)?;
        self.v ^= bits << self.trailing;
        Some(())
    }
}

impl XorIter<'_> {
    /// Appends the samples with `mint <= t <= maxt` to `out`, stopping at
    /// the first one past `maxt` (timestamps only grow within a chunk).
    pub fn decode_range_into(mut self, mint: i64, maxt: i64, out: &mut Vec<(i64, f64)>) -> Result<()> {
        while self.read < self.total {
            let Some((t, v)) = self.step() else {
                return Err(Error::Chunk(MALFORMED));
            };
            if t > maxt {
                break;
            }
            if t >= mint {
                out.push((t, v));
            }
        }
        Ok(())
    }
}

impl Iterator for XorIter<'_> {
    type Item = Result<(i64, f64)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.read >= self.total {
            return None;
        }
        match self.step() {
            Some(s) => Some(Ok(s)),
            None => {
                self.failed = true;
                Some(Err(Error::Chunk(MALFORMED)))
            }
        }
    }
}

/// How a chunk's bytes are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Gorilla XOR (every head chunk; blocks for values that are not short
    /// decimals).
    Xor,
    /// Scaled-integer Simple-8b (blocks only; see `packed.rs`).
    Packed,
}

impl Encoding {
    /// The byte that names the encoding in a block's chunk record.
    pub fn to_byte(self) -> u8 {
        match self {
            Encoding::Xor => 1,
            Encoding::Packed => 2,
        }
    }

    /// The encoding a record byte names.
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(Encoding::Xor),
            2 => Some(Encoding::Packed),
            _ => None,
        }
    }
}

/// Samples of a chunk in any encoding.
#[derive(Debug, Clone)]
pub enum ChunkIter<'a> {
    /// Decoded as it goes.
    Xor(XorIter<'a>),
    /// Packed, not decoded yet: `(bytes, first timestamp)`.
    Packed(&'a [u8], i64),
    /// Decoded up front.
    Decoded(std::vec::IntoIter<(i64, f64)>),
}

impl ChunkIter<'_> {
    /// Starts reading a chunk whose first sample is at `min_t` (packed
    /// chunks store their first timestamp relative to it).
    pub fn new(encoding: Encoding, bytes: &[u8], min_t: i64) -> Result<ChunkIter<'_>> {
        Ok(match encoding {
            Encoding::Xor => ChunkIter::Xor(XorIter::new(bytes)?),
            Encoding::Packed => ChunkIter::Packed(bytes, min_t),
        })
    }
}

impl ChunkIter<'_> {
    /// Appends the samples with `mint <= t <= maxt` to `out`.
    pub fn decode_range_into(self, mint: i64, maxt: i64, out: &mut Vec<(i64, f64)>) -> Result<()> {
        match self {
            ChunkIter::Xor(it) => it.decode_range_into(mint, maxt, out),
            ChunkIter::Packed(bytes, min_t) => {
                let start = out.len();
                crate::packed::decode_into(bytes, min_t, out)?;
                let mut kept = start;
                for i in start..out.len() {
                    if out[i].0 >= mint && out[i].0 <= maxt {
                        out[kept] = out[i];
                        kept += 1;
                    }
                }
                out.truncate(kept);
                Ok(())
            }
            ChunkIter::Decoded(it) => {
                out.extend(it.filter(|s| s.0 >= mint && s.0 <= maxt));
                Ok(())
            }
        }
    }
}

impl Iterator for ChunkIter<'_> {
    type Item = Result<(i64, f64)>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            ChunkIter::Xor(it) => it.next(),
            ChunkIter::Packed(bytes, min_t) => match crate::packed::decode(bytes, *min_t) {
                Ok(samples) => {
                    let mut it = samples.into_iter();
                    let first = it.next();
                    *self = ChunkIter::Decoded(it);
                    first.map(Ok)
                }
                Err(e) => {
                    *self = ChunkIter::Decoded(Vec::new().into_iter());
                    Some(Err(e))
                }
            },
            ChunkIter::Decoded(it) => it.next().map(Ok),
        }
    }
}

/// Encodes samples for keeping: packed when the values allow it and it is
/// smaller, else Gorilla XOR. `xor` may pass the XOR bytes if already made.
pub fn encode_compact(samples: &[(i64, f64)], xor: Option<Vec<u8>>) -> (Encoding, Vec<u8>) {
    let min_t = samples.first().map_or(0, |s| s.0);
    match (crate::packed::encode(samples, min_t), xor) {
        (Some(p), Some(x)) if x.len() <= p.len() => (Encoding::Xor, x),
        (Some(p), _) => (Encoding::Packed, p),
        (None, Some(x)) => (Encoding::Xor, x),
        (None, None) => (Encoding::Xor, encode_all(samples)),
    }
}

/// Decodes a whole chunk of either encoding, first sample at `min_t`.
pub fn decode_any(encoding: Encoding, bytes: &[u8], min_t: i64) -> Result<Vec<(i64, f64)>> {
    ChunkIter::new(encoding, bytes, min_t)?.collect()
}

/// Decodes a whole chunk.
pub fn decode_all(bytes: &[u8]) -> Result<Vec<(i64, f64)>> {
    XorIter::new(bytes)?.collect()
}

/// Encodes samples (strictly increasing timestamps) into one chunk.
pub fn encode_all(samples: &[(i64, f64)]) -> Vec<u8> {
    let mut a = XorAppender::new();
    for &(t, v) in samples {
        a.append(t, v);
    }
    a.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::same;
    use proptest::prelude::*;

    fn arb_samples() -> impl Strategy<Value = Vec<(i64, f64)>> {
        let value = prop_oneof![
            any::<f64>(),
            (0u32..1000).prop_map(f64::from),
            Just(f64::from_bits(0x7ff0_0000_0000_0002)),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(0.0),
        ];
        let step = prop_oneof![Just(15_000i64), 1i64..100_000, 1i64..(1i64 << 40)];
        (
            any::<i64>().prop_map(|t| t >> 4),
            proptest::collection::vec((step, value), 0..300),
        )
            .prop_map(|(start, steps)| crate::testing::accumulate(start, steps))
    }

    proptest! {
        #[test]
        fn round_trips_against_the_naive_model(samples in arb_samples()) {
            let bytes = encode_all(&samples);
            let back = decode_all(&bytes).unwrap();
            prop_assert!(same(&samples, &back));
        }

        #[test]
        fn a_chunk_reads_back_at_every_append(samples in arb_samples()) {
            let mut a = XorAppender::new();
            for (i, &(t, v)) in samples.iter().enumerate() {
                a.append(t, v);
                let back = decode_all(&a.to_bytes()).unwrap();
                prop_assert!(same(&samples[..=i], &back));
            }
        }

        #[test]
        fn a_range_decodes_as_the_filtered_whole(
            samples in arb_samples(),
            a in any::<usize>(),
            b in any::<usize>(),
            shared in any::<bool>(),
        ) {
            prop_assume!(!samples.is_empty());
            let (a, b) = (a % samples.len(), b % samples.len());
            let (mint, maxt) = (samples[a.min(b)].0 - 1 + i64::from(shared), samples[a.max(b)].0);
            let want: Vec<(i64, f64)> = samples.iter().copied().filter(|s| s.0 >= mint && s.0 <= maxt).collect();
            let mut appender = XorAppender::new();
            for &(t, v) in &samples {
                appender.append(t, v);
            }
            let bytes = if shared { appender.to_shared().to_vec() } else { encode_all(&samples) };
            let mut got = vec![(0, 0.0)];
            XorIter::new(&bytes).unwrap().decode_range_into(mint, maxt, &mut got).unwrap();
            prop_assert!(got[0] == (0, 0.0), "appends, keeping what was there");
            prop_assert!(same(&want, &got[1..]));
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(it) = XorIter::new(&bytes) {
                for s in it.clone() { if s.is_err() { break; } }
                let _ = it.decode_range_into(i64::MIN, i64::MAX, &mut Vec::new());
            }
        }
    }

    #[test]
    fn regular_counters_compress_well() {
        let samples: Vec<(i64, f64)> = (0..120)
            .map(|i| (1_700_000_000_000 + i * 15_000, (i * 7) as f64))
            .collect();
        let bytes = encode_all(&samples);
        assert!(bytes.len() < 120 * 3, "{} bytes", bytes.len());
        assert!(same(&samples, &decode_all(&bytes).unwrap()));
    }

    #[test]
    fn truncated_chunk_is_an_error() {
        let samples: Vec<(i64, f64)> = (0..10).map(|i| (i * 1000, i as f64 * 1.5)).collect();
        let bytes = encode_all(&samples);
        let r = decode_all(&bytes[..bytes.len() - 3]);
        assert!(r.is_err());
    }
}
