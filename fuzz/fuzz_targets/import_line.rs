#![no_main]
//! JSON-lines import: any line is parsed or refused with a message.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = nines_server::fuzz_import_line(data);
});
