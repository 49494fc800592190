#![no_main]
//! OTLP/HTTP bodies, protobuf or JSON (first byte), decoded and translated.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((first, rest)) = data.split_first() {
        let _ = nines_otlp::fuzz_decode(rest, first & 1 == 1);
    }
});
