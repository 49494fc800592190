#![no_main]
//! A block index file of arbitrary bytes is refused cleanly.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = nines_tsdb::fuzz_block_index(data);
});
