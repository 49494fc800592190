//! The dense chunk encoding used inside blocks, where chunks are written
//! once and read many times.
//!
//! Timestamps: first timestamp, first delta, then zig-zagged
//! delta-of-deltas. Values: most real samples are decimal numbers with few
//! digits (counters, byte counts, `0.25`), so they are scaled by `10^k` to
//! integers, differenced once or twice (whichever is smaller), divided by
//! the residuals' common divisor and zig-zagged. Each integer stream is
//! packed in the smaller of two layouts: Simple-8b (a 4-bit selector per
//! 64-bit word says how many values of what width follow; runs of zeros
//! from regular scrapes or constant series cost one word per 240) or groups
//! of 64 values bit-packed at the group's widest value (better for values of
//! even spread, like a busy counter's increments) or a bitmap of non-zero
//! values followed by those values group-packed (mostly-zero streams).
//!
//! `encode` returns `None` when the samples do not fit this scheme (NaN,
//! infinities, staleness markers, `-0.0`, values that are not short
//! decimals, or residuals wider than 60 bits); blocks then fall back to the
//! Gorilla XOR encoding.

use crate::encoding::{put_uvarint, put_varint, Decoder};
use crate::error::{Error, Result};

/// Most decimal places tried when scaling values to integers.
const MAX_DECIMALS: u32 = 15;
/// Most samples a packed chunk may hold; bounds the decoder's allocation.
const MAX_SAMPLES: usize = 1 << 16;
/// Largest integer an f64 holds exactly.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

/// (values per word, bits per value) for selectors 0..=15.
const SELECTORS: [(usize, u32); 16] = [
    (240, 0),
    (120, 0),
    (60, 1),
    (30, 2),
    (20, 3),
    (15, 4),
    (12, 5),
    (10, 6),
    (8, 7),
    (7, 8),
    (6, 10),
    (5, 12),
    (4, 15),
    (3, 20),
    (2, 30),
    (1, 60),
];

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// The densest selector for the start of `rest`: (selector, values taken,
/// bits each). The last word may be partly filled: the reader knows the
/// count. `None` when a value needs more than 60 bits.
fn next_word(rest: &[u64]) -> Option<(usize, usize, u32)> {
    SELECTORS.iter().enumerate().find_map(|(sel, &(count, bits))| {
        let take = count.min(rest.len());
        rest[..take]
            .iter()
            .all(|&v| v >> bits == 0)
            .then_some((sel, take, bits))
    })
}

/// Bytes `simple8b_pack` would write.
fn simple8b_size(values: &[u64]) -> Option<usize> {
    let (mut i, mut words) = (0, 0);
    while i < values.len() {
        i += next_word(&values[i..])?.1;
        words += 1;
    }
    Some(words * 8)
}

/// Packs values (each below 2^60) into Simple-8b words.
fn simple8b_pack(values: &[u64], out: &mut Vec<u8>) -> Option<()> {
    let mut i = 0;
    while i < values.len() {
        let rest = &values[i..];
        let (sel, take, bits) = next_word(rest)?;
        let mut word = (sel as u64) << 60;
        if bits > 0 {
            for (j, &v) in rest[..take].iter().enumerate() {
                word |= v << (j as u32 * bits);
            }
        }
        out.extend_from_slice(&word.to_le_bytes());
        i += take;
    }
    Some(())
}

/// Reads `n` Simple-8b values, handing each to `emit`.
fn simple8b_unpack(d: &mut Decoder<'_>, n: usize, emit: &mut impl FnMut(u64)) -> Option<()> {
    let mut done = 0;
    while done < n {
        let word = d.u64_le()?;
        let (count, bits) = SELECTORS[(word >> 60) as usize];
        let count = count.min(n - done);
        if bits == 0 {
            (0..count).for_each(|_| emit(0));
        } else {
            let mask = (1u64 << bits) - 1;
            (0..count).for_each(|j| emit((word >> (j as u32 * bits)) & mask));
        }
        done += count;
    }
    Some(())
}

/// Values per group in the bit-packed layout.
const GROUP: usize = 64;

fn width(v: u64) -> usize {
    (64 - v.leading_zeros()) as usize
}

/// Bytes `groups_pack` would write for values given by `iter`.
fn groups_size(values: impl Iterator<Item = u64>) -> usize {
    let (mut total, mut count, mut widest) = (0, 0, 0);
    for v in values {
        widest = widest.max(width(v));
        count += 1;
        if count == GROUP {
            total += 1 + (count * widest).div_ceil(8);
            (count, widest) = (0, 0);
        }
    }
    if count > 0 {
        total += 1 + (count * widest).div_ceil(8);
    }
    total
}

/// Packs values in groups of 64, each group at the width of its largest
/// value: one width byte, then the bits, least significant first.
fn groups_pack(values: &[u64], out: &mut Vec<u8>) {
    for group in values.chunks(GROUP) {
        let width = group.iter().map(|v| 64 - v.leading_zeros()).max().unwrap_or(0);
        out.push(width as u8);
        let mut acc: u128 = 0;
        let mut filled = 0u32;
        for &v in group {
            acc |= u128::from(v) << filled;
            filled += width;
            while filled >= 8 {
                out.push(acc as u8);
                acc >>= 8;
                filled -= 8;
            }
        }
        if filled > 0 {
            out.push(acc as u8);
        }
    }
}

/// Reads `n` group-packed values, handing each to `emit`.
fn groups_unpack(d: &mut Decoder<'_>, n: usize, emit: &mut impl FnMut(u64)) -> Option<()> {
    let mut done = 0;
    while done < n {
        let count = GROUP.min(n - done);
        let width = u32::from(d.u8()?);
        if width > 64 {
            return None;
        }
        let bytes = d.bytes((count * width as usize).div_ceil(8))?;
        let mask = if width == 64 { u64::MAX } else { (1u64 << width) - 1 };
        for j in 0..count {
            emit(bits_le(bytes, j * width as usize, width) & mask);
        }
        done += count;
    }
    Some(())
}

/// The `width` bits at bit offset `bit` of a least-significant-first bit
/// stream (unmasked above `width`); bits past the end read as zero.
#[inline(always)]
fn bits_le(bytes: &[u8], bit: usize, width: u32) -> u64 {
    let (i, shift) = (bit / 8, (bit % 8) as u32);
    if width + shift <= 64 {
        if let Some(word) = bytes.get(i..i + 8) {
            let mut a = [0u8; 8];
            a.copy_from_slice(word);
            return u64::from_le_bytes(a) >> shift;
        }
    }
    let mut a = [0u8; 16];
    let rest = bytes.get(i..).unwrap_or_default();
    let take = rest.len().min(16);
    a[..take].copy_from_slice(&rest[..take]);
    (u128::from_le_bytes(a) >> shift) as u64
}

/// A bitmap of which values are non-zero, then the non-zero values minus
/// one, group-packed: for streams that are mostly zero with a spread of
/// other values (a gauge that moves now and then, an often idle counter).
fn sparse_pack(values: &[u64], out: &mut Vec<u8>) {
    let mut bitmap = vec![0u8; values.len().div_ceil(8)];
    let mut nonzero = Vec::new();
    for (i, &v) in values.iter().enumerate() {
        if v != 0 {
            bitmap[i / 8] |= 1 << (i % 8);
            nonzero.push(v - 1);
        }
    }
    out.extend_from_slice(&bitmap);
    groups_pack(&nonzero, out);
}

fn sparse_unpack(d: &mut Decoder<'_>, n: usize, emit: &mut impl FnMut(u64)) -> Option<()> {
    let bitmap = d.bytes(n.div_ceil(8))?;
    let set = bitmap.iter().map(|b| b.count_ones() as usize).sum::<usize>();
    let is_set = |i: usize| bitmap[i / 8] & (1 << (i % 8)) != 0;
    // Zeros up to each set bit, then its value; a set bit at or beyond `n`
    // (not something the encoder writes) or a value of u64::MAX fails.
    let (mut next, mut ok) = (0usize, true);
    groups_unpack(d, set, &mut |v| {
        while next < n && !is_set(next) {
            emit(0);
            next += 1;
        }
        match v.checked_add(1) {
            Some(v) if next < n => emit(v),
            _ => ok = false,
        }
        next += 1;
    })?;
    (next..n).for_each(|_| emit(0));
    ok.then_some(())
}

const LAYOUT_SIMPLE8B: u8 = 0;
const LAYOUT_GROUPS: u8 = 1;
const LAYOUT_SPARSE: u8 = 2;

/// Writes values in whichever layout is smallest, behind a layout byte.
/// Sizes are computed first so only the winner is written.
fn pack(values: &[u64], out: &mut Vec<u8>) -> Option<()> {
    let s8 = simple8b_size(values)?;
    let groups = groups_size(values.iter().copied());
    let sparse = values.len().div_ceil(8) + groups_size(values.iter().filter(|&&v| v != 0).map(|v| v - 1));
    if s8 <= groups && s8 <= sparse {
        out.push(LAYOUT_SIMPLE8B);
        simple8b_pack(values, out)
    } else if groups <= sparse {
        out.push(LAYOUT_GROUPS);
        groups_pack(values, out);
        Some(())
    } else {
        out.push(LAYOUT_SPARSE);
        sparse_pack(values, out);
        Some(())
    }
}

/// Reads `n` values in the layout the next byte names, handing each to
/// `emit` (exactly `n` times when it succeeds).
fn unpack(d: &mut Decoder<'_>, n: usize, emit: &mut impl FnMut(u64)) -> Option<()> {
    match d.u8()? {
        LAYOUT_SIMPLE8B => simple8b_unpack(d, n, emit),
        LAYOUT_GROUPS => groups_unpack(d, n, emit),
        LAYOUT_SPARSE => sparse_unpack(d, n, emit),
        _ => None,
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Smallest number of decimals that turns every value into an exact
/// integer, or `None`.
fn decimals(values: &[f64]) -> Option<u32> {
    let mut k = 0;
    for &v in values {
        if !v.is_finite() || (v == 0.0 && v.is_sign_negative()) {
            return None;
        }
        while k <= MAX_DECIMALS {
            let scale = 10f64.powi(k as i32);
            let x = (v * scale).round();
            if x.abs() <= MAX_EXACT && x / scale == v {
                break;
            }
            k += 1;
        }
        if k > MAX_DECIMALS {
            return None;
        }
    }
    Some(k)
}

/// Differences `order` times; returns the residuals after the `order`
/// leading values.
fn difference(xs: &[i64], order: usize) -> Option<Vec<i64>> {
    let mut cur = xs.to_vec();
    for _ in 0..order {
        cur = cur
            .windows(2)
            .map(|w| w[1].checked_sub(w[0]))
            .collect::<Option<Vec<_>>>()?;
    }
    Some(cur)
}

fn residual_cost(rs: &[i64]) -> u64 {
    rs.iter().map(|&r| 64 - u64::from(zigzag(r).leading_zeros())).sum()
}

/// Encodes samples (ascending timestamps), or `None` when they do not fit.
/// The first timestamp is stored relative to `base_t` (the chunk's min
/// time, which the index already holds).
pub(crate) fn encode(samples: &[(i64, f64)], base_t: i64) -> Option<Vec<u8>> {
    let n = samples.len();
    if n > MAX_SAMPLES {
        return None;
    }
    let values: Vec<f64> = samples.iter().map(|s| s.1).collect();
    let k = decimals(&values)?;
    let scale = 10f64.powi(k as i32);
    let ints: Vec<i64> = values.iter().map(|v| (v * scale).round() as i64).collect();
    // Verify exactly what the decoder will compute.
    if ints
        .iter()
        .zip(&values)
        .any(|(&x, v)| (x as f64 / scale).to_bits() != v.to_bits())
    {
        return None;
    }
    let mut out = Vec::with_capacity(n / 2 + 32);
    put_uvarint(&mut out, n as u64);
    if n == 0 {
        return Some(out);
    }
    // Timestamps.
    put_varint(&mut out, samples[0].0.wrapping_sub(base_t));
    let ts: Vec<i64> = samples.iter().map(|s| s.0).collect();
    if n > 1 {
        let deltas = difference(&ts, 1)?;
        put_varint(&mut out, deltas[0]);
        let dods: Vec<u64> = difference(&deltas, 1)?.into_iter().map(zigzag).collect();
        if dods.iter().any(|&d| d >> 60 != 0) {
            return None;
        }
        pack(&dods, &mut out)?;
    }
    // Values.
    out.push(k as u8);
    put_varint(&mut out, ints[0]);
    if n > 1 {
        let d1 = difference(&ints, 1)?;
        let d2 = if n > 2 { difference(&d1, 1) } else { None };
        let (order, residuals) = match d2 {
            Some(d2) if residual_cost(&d2) < residual_cost(&d1[1..]) => (2u8, d2),
            _ => (1u8, d1[1..].to_vec()),
        };
        out.push(order);
        put_varint(&mut out, d1[0]);
        let g = residuals.iter().fold(0u64, |g, &r| gcd(g, r.unsigned_abs())).max(1);
        put_uvarint(&mut out, g);
        let packed: Vec<u64> = residuals.iter().map(|&r| zigzag(r / g as i64)).collect();
        if packed.iter().any(|&p| p >> 60 != 0) {
            return None;
        }
        pack(&packed, &mut out)?;
    }
    Some(out)
}

/// Decodes a chunk written by [`encode`] with the same `base_t`.
pub(crate) fn decode(bytes: &[u8], base_t: i64) -> Result<Vec<(i64, f64)>> {
    let mut out = Vec::new();
    decode_into(bytes, base_t, &mut out)?;
    Ok(out)
}

/// Appends the samples of a chunk written by [`encode`] with the same
/// `base_t` to `out`; on an error `out` is left as it was.
pub(crate) fn decode_into(bytes: &[u8], base_t: i64, out: &mut Vec<(i64, f64)>) -> Result<()> {
    let start = out.len();
    decode_inner(bytes, base_t, out).ok_or_else(|| {
        out.truncate(start);
        Error::Chunk("packed chunk is truncated or malformed")
    })
}

/// Timestamps are written into `out` first with a zero value, then the
/// values in place: no intermediate buffers.
fn decode_inner(bytes: &[u8], base_t: i64, out: &mut Vec<(i64, f64)>) -> Option<()> {
    let mut d = Decoder::new(bytes);
    let n = d.len(MAX_SAMPLES)?;
    if n == 0 {
        return (d.remaining() == 0).then_some(());
    }
    let start = out.len();
    out.reserve(n);
    let mut t = base_t.wrapping_add(d.varint()?);
    out.push((t, 0.0));
    if n > 1 {
        let mut delta = d.varint()?;
        t = t.wrapping_add(delta);
        out.push((t, 0.0));
        unpack(&mut d, n - 2, &mut |z| {
            delta = delta.wrapping_add(unzigzag(z));
            t = t.wrapping_add(delta);
            out.push((t, 0.0));
        })?;
    }
    let k = u32::from(d.u8()?);
    if k > MAX_DECIMALS {
        return None;
    }
    // Dividing by 1 changes nothing, and a division per sample is most of
    // the work left for integer series (counters).
    let scale = 10f64.powi(k as i32);
    let value = |x: i64| if k == 0 { x as f64 } else { x as f64 / scale };
    let samples = out.get_mut(start..)?;
    let mut x = d.varint()?;
    samples[0].1 = value(x);
    if n > 1 {
        let order = d.u8()?;
        if order != 1 && order != 2 {
            return None;
        }
        let mut delta = d.varint()?;
        let g = i64::try_from(d.uvarint()?).ok().filter(|&g| g >= 1)?;
        x = x.wrapping_add(delta);
        samples[1].1 = value(x);
        let mut next = 2;
        unpack(&mut d, n - 2, &mut |z| {
            let r = unzigzag(z).wrapping_mul(g);
            if order == 1 {
                x = x.wrapping_add(r);
            } else {
                delta = delta.wrapping_add(r);
                x = x.wrapping_add(delta);
            }
            if let Some(s) = samples.get_mut(next) {
                s.1 = value(x);
            }
            next += 1;
        })?;
    }
    (d.remaining() == 0).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::same;
    use proptest::prelude::*;

    fn round_trip(samples: &[(i64, f64)]) -> Option<Vec<(i64, f64)>> {
        let base = samples.first().map_or(0, |s| s.0);
        let bytes = encode(samples, base)?;
        Some(decode(&bytes, base).expect("decodes what it encoded"))
    }

    fn arb_samples() -> impl Strategy<Value = Vec<(i64, f64)>> {
        let value = prop_oneof![
            (0i64..1_000_000).prop_map(|x| x as f64),
            (-5000i64..5000).prop_map(|x| x as f64 / 100.0),
            any::<f64>(),
            Just(f64::NAN),
            Just(-0.0),
            (0i64..1 << 40).prop_map(|x| (x * 4096) as f64),
        ];
        let step = prop_oneof![Just(15_000i64), 14_990i64..15_010, 1i64..1 << 45];
        (
            any::<i64>().prop_map(|t| t >> 3),
            proptest::collection::vec((step, value), 0..600),
        )
            .prop_map(|(start, steps)| crate::testing::accumulate(start, steps))
    }

    proptest! {
        #[test]
        fn whatever_encodes_decodes_bit_exactly(samples in arb_samples()) {
            if let Some(back) = round_trip(&samples) {
                prop_assert!(same(&samples, &back));
            }
        }

        #[test]
        fn decimal_series_always_encode(xs in proptest::collection::vec(-100_000i64..100_000, 1..500), k in 0u32..4) {
            let scale = 10f64.powi(k as i32);
            let samples: Vec<(i64, f64)> = xs.iter().enumerate().map(|(i, &x)| (i as i64 * 15_000, x as f64 / scale)).collect();
            let back = round_trip(&samples);
            prop_assert!(back.is_some());
            prop_assert!(same(&samples, &back.unwrap_or_default()));
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes, 0);
        }
    }

    #[test]
    fn regular_counters_cost_well_under_a_byte() {
        let samples: Vec<(i64, f64)> = (0..480)
            .map(|i| (1_700_000_000_000 + i * 15_000, (i * 37 % 200 + i * 100) as f64))
            .collect();
        let bytes = encode(&samples, samples[0].0).unwrap();
        assert!(bytes.len() < 480, "{} bytes", bytes.len());
        let constant: Vec<(i64, f64)> = (0..480).map(|i| (i * 15_000, 1.0)).collect();
        assert!(encode(&constant, 0).unwrap().len() < 64);
    }

    #[test]
    fn sizes_match_what_is_written() {
        for values in [
            vec![0u64; 300],
            (0..300).map(|i| i * 7919 % 200).collect(),
            vec![5, 0, 0, 9, 1 << 59],
        ] {
            let mut out = Vec::new();
            simple8b_pack(&values, &mut out).unwrap();
            assert_eq!(simple8b_size(&values), Some(out.len()));
            out.clear();
            groups_pack(&values, &mut out);
            assert_eq!(groups_size(values.iter().copied()), out.len());
        }
    }

    #[test]
    fn both_layouts_round_trip() {
        for values in [
            vec![0u64; 300],
            (0..300).map(|i| i * 7919 % 200).collect(),
            vec![u64::MAX >> 4; 70],
            vec![1, 0, 1 << 59],
        ] {
            for layout in [LAYOUT_SIMPLE8B, LAYOUT_GROUPS, LAYOUT_SPARSE] {
                let mut out = vec![layout];
                match layout {
                    LAYOUT_SIMPLE8B => simple8b_pack(&values, &mut out).unwrap(),
                    LAYOUT_GROUPS => groups_pack(&values, &mut out),
                    _ => sparse_pack(&values, &mut out),
                }
                let mut back = Vec::new();
                unpack(&mut Decoder::new(&out), values.len(), &mut |v| back.push(v)).unwrap();
                assert_eq!(back, values);
            }
        }
        // Widths past what Simple-8b holds, on every bit alignment.
        let wide: Vec<u64> = (0..130u64).map(|i| u64::MAX - i * 0x0123_4567_89ab).collect();
        for values in [wide.clone(), wide.iter().map(|v| v >> 3).collect()] {
            let mut out = vec![LAYOUT_GROUPS];
            groups_pack(&values, &mut out);
            let mut back = Vec::new();
            unpack(&mut Decoder::new(&out), values.len(), &mut |v| back.push(v)).unwrap();
            assert_eq!(back, values);
        }
    }

    #[test]
    fn specials_fall_back() {
        assert!(encode(&[(1, 1.0), (2, f64::NAN)], 1).is_none());
        assert!(encode(&[(1, -0.0)], 1).is_none());
        assert!(encode(&[(1, 0.1 + 0.2)], 1).is_none(), "17 significant digits");
        assert!(encode(&[(1, 1.0), (2, f64::MIN_POSITIVE)], 1).is_none());
    }
}
