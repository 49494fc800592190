#![no_main]
//! Any query text, evaluated as an instant and a small range query over a
//! few series: parsed and evaluated, or refused with an error; never a
//! panic; and the same answer with and without the series-major batch.
use libfuzzer_sys::fuzz_target;
use nines_promql::value::{fmt_labels, Series, Value};
use nines_promql::{Engine, MemStorage};

/// A result's text (a label set's cached hash is not part of it).
fn show(v: &Value) -> String {
    match v {
        Value::Vector(samples) => samples
            .iter()
            .map(|s| format!("{} {:x};", fmt_labels(&s.labels), s.value.to_bits()))
            .collect(),
        Value::Matrix(series) => show_series(series),
        other => format!("{other:?}"),
    }
}

fn show_series(series: &[Series]) -> String {
    series
        .iter()
        .map(|s| {
            format!(
                "{} {:?};",
                fmt_labels(&s.labels),
                s.points.iter().map(|p| (p.0, p.1.to_bits())).collect::<Vec<_>>()
            )
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let mut storage = MemStorage::default();
    for (i, name) in ["up", "http_requests_total", "request_duration_seconds_bucket"]
        .iter()
        .enumerate()
    {
        for le in ["0.1", "1", "+Inf"] {
            let labels = vec![
                ("__name__".to_string(), name.to_string()),
                ("job".to_string(), format!("j{i}")),
                ("le".to_string(), le.to_string()),
            ]
            .into();
            let points: Vec<(i64, f64)> = (0..20).map(|k| (k * 15_000, (k * (i as i64 + 1)) as f64)).collect();
            storage.add(labels, &points);
        }
    }
    let engine = Engine {
        timeout: std::time::Duration::from_millis(200),
        max_samples: 100_000,
        ..Engine::default()
    };
    // The series-major batch and the step-by-step walk must agree
    // whenever both answer (limits and timeouts may strike one only).
    let stepwise = Engine {
        series_major: false,
        ..engine.clone()
    };
    if let (Ok(a), Ok(b)) = (
        engine.instant(&storage, query, 150_000),
        stepwise.instant(&storage, query, 150_000),
    ) {
        assert_eq!(show(&a.value), show(&b.value), "{query}");
    }
    if let (Ok(a), Ok(b)) = (
        engine.range(&storage, query, 0, 300_000, 30_000),
        stepwise.range(&storage, query, 0, 300_000, 30_000),
    ) {
        assert_eq!(show_series(&a.value), show_series(&b.value), "{query}");
    }
});
