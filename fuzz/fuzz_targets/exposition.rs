#![no_main]
//! Scraped bodies: the 0.0.4 text and OpenMetrics parsers never panic; the
//! first byte picks the format.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((first, rest)) = data.split_first() {
        let _ = nines_scrape::expfmt::fuzz_parse(rest, first & 1 == 1);
    }
});
