#![no_main]
//! Any text as matchers parses or is refused with a position inside it,
//! and what parses reads back the same once written; any text as a route
//! tree, inhibition rule, time interval, receiver or set of templates
//! validates or is refused, never panics, and templates that compile
//! render.
use libfuzzer_sys::fuzz_target;
use nines_routing::inhibit::InhibitRuleSpec;
use nines_routing::interval::TimeIntervalSpec;
use nines_routing::matchers::{format_matchers, parse_matchers};
use nines_routing::route::{Names, RouteSpec};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_matchers(text) {
        Ok(ms) => {
            let again = parse_matchers(&format_matchers(&ms)).expect("written matchers parse");
            assert_eq!(format_matchers(&again), format_matchers(&ms));
        }
        Err(e) => assert!(e.at <= text.chars().count().max(nines_routing::matchers::MAX_INPUT)),
    }
    if let Ok(spec) = serde_norway::from_str::<RouteSpec>(text) {
        let _ = spec.validate(&Names {
            receiver: &|r| r.len() % 2 == 0,
            time_interval: &|t| t.starts_with('w'),
        });
    }
    if let Ok(spec) = serde_norway::from_str::<InhibitRuleSpec>(text) {
        let _ = spec.validate();
    }
    if let Ok(spec) = serde_norway::from_str::<nines_routing::receiver::ReceiverSpec>(text) {
        let _ = spec.validate();
    }
    if let Ok(spec) = serde_norway::from_str::<nines_routing::template::TemplatesSpec>(text) {
        if let Ok(t) = nines_routing::template::Templates::new(&spec) {
            let data = serde_json::json!({"status": "firing", "alerts": [{"labels": {"a": "b"}}], "page": {"id": 1}});
            for kind in [
                nines_routing::template::Kind::NotificationTitle,
                nines_routing::template::Kind::NotificationText,
                nines_routing::template::Kind::PageTitle,
                nines_routing::template::Kind::PageText,
            ] {
                let _ = t.render(kind, &data);
            }
        }
    }
    if let Ok(spec) = serde_norway::from_str::<TimeIntervalSpec>(text) {
        if let Ok(interval) = spec.validate() {
            let _ = interval.contains(i64::from_le_bytes(data.iter().copied().cycle().take(8).collect::<Vec<_>>().try_into().unwrap_or([0; 8])));
        }
    }
});
