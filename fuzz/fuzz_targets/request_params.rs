#![no_main]
//! Query parameters: times and series selectors parse or fail cleanly.
use libfuzzer_sys::fuzz_target;
use nines_server::params::{parse_selector, parse_time, Params};

fuzz_target!(|data: &[u8]| {
    let params = Params::parse(data);
    if let Some(t) = params.get("t") {
        let _ = parse_time(t);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_time(text);
        let _ = parse_selector(text);
    }
});
