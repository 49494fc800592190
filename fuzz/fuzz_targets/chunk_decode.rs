#![no_main]
//! Any bytes given to either chunk decoder (the first byte picks Gorilla XOR
//! or packed) yield samples or an error, never a panic; what decodes
//! re-encodes for a block to the same samples, and a whole-range decode
//! into a buffer (what queries use) agrees with the iterator.
use libfuzzer_sys::fuzz_target;
use nines_tsdb::chunk::{decode_any, encode_compact, ChunkIter, Encoding};

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let encoding = if first & 1 == 0 {
        Encoding::Xor
    } else {
        Encoding::Packed
    };
    let decoded = decode_any(encoding, rest, 0);
    if let Ok(it) = ChunkIter::new(encoding, rest, 0) {
        let mut buffered = Vec::new();
        let r = it.decode_range_into(i64::MIN, i64::MAX, &mut buffered);
        if let Ok(samples) = &decoded {
            if samples.windows(2).all(|w| w[0].0 < w[1].0) {
                r.expect("decodes as the iterator did");
                let bits: Vec<(i64, u64)> = samples.iter().map(|s| (s.0, s.1.to_bits())).collect();
                let got: Vec<(i64, u64)> = buffered.iter().map(|s| (s.0, s.1.to_bits())).collect();
                assert_eq!(got, bits);
            }
        }
    }
    if let Ok(samples) = decoded {
        if samples.windows(2).all(|w| w[0].0 < w[1].0) {
            let (enc, bytes) = encode_compact(&samples, None);
            let base = samples.first().map_or(0, |s| s.0);
            let again = decode_any(enc, &bytes, base).expect("re-encoded chunk decodes");
            assert_eq!(again.len(), samples.len());
            for (a, b) in again.iter().zip(&samples) {
                assert_eq!((a.0, a.1.to_bits()), (b.0, b.1.to_bits()));
            }
        }
    }
});
