#![no_main]
//! Any bytes given to the chunk decoder yield samples or an error, never a
//! panic; what decodes re-encodes to the same samples.
use libfuzzer_sys::fuzz_target;
use nines_tsdb::chunk::{decode_all, encode_all};

fuzz_target!(|data: &[u8]| {
    if let Ok(samples) = decode_all(data) {
        if samples.windows(2).all(|w| w[0].0 < w[1].0) {
            let again = decode_all(&encode_all(&samples)).expect("re-encoded chunk decodes");
            assert_eq!(again.len(), samples.len());
            for (a, b) in again.iter().zip(&samples) {
                assert_eq!((a.0, a.1.to_bits()), (b.0, b.1.to_bits()));
            }
        }
    }
});
