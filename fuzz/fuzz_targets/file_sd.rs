#![no_main]
//! Target files, JSON or YAML (first byte): parsed or refused.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((first, rest)) = data.split_first() {
        let name = if first & 1 == 1 { "t.json" } else { "t.yml" };
        let _ = nines_scrape::discovery::parse_file(std::path::Path::new(name), rest);
    }
});
