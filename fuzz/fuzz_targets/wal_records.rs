#![no_main]
//! A WAL segment of arbitrary bytes: framing and record decoding never panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = nines_tsdb::fuzz_wal_bytes(data);
});
