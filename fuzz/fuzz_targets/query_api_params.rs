#![no_main]
//! The query API's parameters as a client sends them (`query`, `time`,
//! `start`, `end`, `step`, `timeout`): checked as the server checks them,
//! then the accepted ones evaluated over a small store. Extreme times,
//! steps and durations must be refused or answered, never wrap or panic.
use libfuzzer_sys::fuzz_target;
use nines_promql::{Engine, MemStorage};
use nines_server::params::{time_param, Params};
use nines_server::promql_api::{parse_duration_param, RangeParams};

fuzz_target!(|data: &[u8]| {
    let params = Params::parse(data);
    let mut storage = MemStorage::default();
    let labels = vec![
        ("__name__".to_string(), "up".to_string()),
        ("job".to_string(), "a".to_string()),
    ]
    .into();
    storage.add(
        labels,
        &[(nines_tsdb::MIN_TIMESTAMP_MS, 2.0), (0, 1.0), (15_000, 0.0), (nines_tsdb::MAX_TIMESTAMP_MS, 1.0)],
    );
    let engine = Engine {
        timeout: std::time::Duration::from_millis(200),
        max_samples_processed: 1_000_000,
        ..Engine::default()
    };
    if let Some(t) = params.get("timeout") {
        let _ = parse_duration_param(t);
    }
    if let Ok(r) = RangeParams::parse(&params) {
        assert!(r.step > 0 && r.start <= r.end);
        let _ = engine.range(&storage, &r.query, r.start, r.end, r.step);
    }
    if let (Ok(t), Some(q)) = (time_param(&params, "time", 0), params.get("query")) {
        let _ = engine.instant(&storage, q, t);
    }
});
