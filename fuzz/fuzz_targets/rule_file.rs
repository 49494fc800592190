#![no_main]
//! Any text given as a Prometheus rule file is refused with problems that
//! name a field, or validates; any text as a template parses or is
//! refused, and what parses renders or fails, never panics.
use libfuzzer_sys::fuzz_target;
use nines_alerting::rulefile::{validate, PagePolicy, RuleFileSpec};
use nines_alerting::template::{Data, Template};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(t) = Template::parse(text) {
        let mut d = Data {
            value: f64::from(data.len() as u32) / 7.0,
            ..Data::default()
        };
        d.labels.insert("instance".into(), text.chars().take(8).collect());
        let _ = t.render(&d);
    }
    if let Ok(spec) = serde_norway::from_str::<RuleFileSpec>(text) {
        if let Err(problems) = validate(&spec, "fuzz.yaml", &PagePolicy::default()) {
            assert!(problems.iter().all(|(path, message)| !path.is_empty() && !message.is_empty()));
        }
    }
});
