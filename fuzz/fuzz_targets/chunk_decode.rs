#![no_main]
//! Any bytes given to either chunk decoder (the first byte picks Gorilla XOR
//! or packed) yield samples or an error, never a panic; what decodes
//! re-encodes for a block to the same samples.
use libfuzzer_sys::fuzz_target;
use nines_tsdb::chunk::{decode_any, encode_compact, Encoding};

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let encoding = if first & 1 == 0 {
        Encoding::Xor
    } else {
        Encoding::Packed
    };
    if let Ok(samples) = decode_any(encoding, rest, 0) {
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
