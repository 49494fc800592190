#![no_main]
//! Any YAML given as an SLO spec is refused with field problems or
//! validates; a valid SLO's window then yields periods at any time (or an
//! error past the calendar's range) that hold that time, never a panic;
//! and its Prometheus rules are PromQL that parses.
use libfuzzer_sys::fuzz_target;
use nines_slo::{Slo, SloSpec};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(spec) = serde_norway::from_str::<SloSpec>(text) else {
        return;
    };
    let Ok(slo) = Slo::from_spec(&spec) else {
        return;
    };
    let t = data.iter().fold(0i64, |a, &b| a.wrapping_mul(31).wrapping_add(i64::from(b)));
    for now in [t, t >> 20, 1_700_000_000_000 + (t & 0xffff_ffff)] {
        if let Ok(p) = slo.window.period_at(now) {
            assert!(p.start <= now && now < p.end, "{p:?} does not hold {now}");
            let _ = slo.window.previous(p);
        }
    }
    let generated = nines_slo::rules::prometheus_rules(std::slice::from_ref(&slo)).expect("a valid SLO has rules");
    for rule in generated.file.groups.iter().flat_map(|g| &g.rules) {
        if let Err(e) = promql_parser::parser::parse(&rule.expr) {
            panic!("{e}: {}", rule.expr);
        }
    }
});
