//! The series-major batch path must answer exactly as the step-by-step
//! walk: random series (counter resets, gaps, NaN, staleness markers) and
//! queries built from the nodes it batches, evaluated both ways, instant
//! and range, must agree to the bit.

use nines_promql::value::{fmt_labels, Labels, Value};
use nines_promql::{Engine, MemStorage};
use proptest::prelude::*;

const QUERIES: &[&str] = &[
    "m",
    "{__name__=~\"m|n\"}",
    "rate(m[1m])",
    "increase(m[90s])",
    "delta(n[2m])",
    "irate(m[3m])",
    "deriv(n[5m])",
    "resets(m[4m])",
    "changes(n[4m])",
    "sum_over_time(m[2m])",
    "avg_over_time(n[2m])",
    "stddev_over_time(m[3m])",
    "last_over_time(m[1m])",
    "ts_of_max_over_time(n[3m])",
    "sum(rate(m[5m] offset 1m))",
    "sum(m @ 100)",
    "sum by (a) (rate(m[2m]))",
    "avg(m)",
    "max without (a) (n)",
    "min(m)",
    "count by (__name__) ({__name__=~\"m|n\"})",
    "sum by (__name__) (rate({__name__=~\"m|n\"}[2m]))",
    "group by (b) (m)",
    "stddev(irate(m[3m]))",
    "stdvar by (a) (changes(m[4m]))",
    "sum(rate(m[1m])) / sum(rate(m[5m]))",
    "topk(2, rate(m[1m]))",
    "sum by (a) ({__name__=~\"m|n\"})",
    "-last_over_time(m[2m]) or rate(n[2m])",
    "label_replace(rate(m[2m]), \"x\", \"$1\", \"__name__\", \"(.+)\")",
];

/// A value's text, with NaN payloads and signs kept apart.
fn show(v: &Value) -> String {
    match v {
        Value::Scalar(x) => format!("scalar {:x}", x.to_bits()),
        Value::String(s) => format!("string {s}"),
        Value::Vector(samples) => samples
            .iter()
            .map(|s| format!("{} {:x}\n", fmt_labels(&s.labels), s.value.to_bits()))
            .collect(),
        Value::Matrix(series) => series
            .iter()
            .map(|s| {
                let points: Vec<String> = s
                    .points
                    .iter()
                    .map(|p| format!("{}@{:x}", p.0, p.1.to_bits()))
                    .collect();
                format!("{} {}\n", fmt_labels(&s.labels), points.join(" "))
            })
            .collect(),
    }
}

fn labels(name: &str, a: &str, b: &str) -> Labels {
    [("__name__", name), ("a", a), ("b", b)]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// A point: gap before it (ms), and what it is.
fn point() -> impl Strategy<Value = (i64, u8, f64)> {
    (1_000i64..40_000, 0u8..20, -5.0f64..50.0)
}

fn series() -> impl Strategy<Value = Vec<(i64, u8, f64)>> {
    prop::collection::vec(point(), 0..40)
}

fn build(all: &[Vec<(i64, u8, f64)>]) -> MemStorage {
    let mut store = MemStorage::default();
    let names = ["m", "n"];
    for (k, spec) in all.iter().enumerate() {
        let l = labels(names[k % 2], ["x", "y"][(k / 2) % 2], ["1", "2"][(k / 4) % 2]);
        let mut t = 0;
        let mut counter = 0.0;
        let points: Vec<(i64, f64)> = spec
            .iter()
            .map(|&(gap, kind, v)| {
                t += gap;
                counter += v.abs();
                let value = match kind {
                    // A counter reset.
                    0 => {
                        counter = v.abs();
                        counter
                    }
                    1 => f64::NAN,
                    2 => f64::from_bits(nines_tsdb::STALE_NAN_BITS),
                    3 => v,
                    _ => counter,
                };
                (t, value)
            })
            .collect();
        store.add(l, &points);
    }
    store
}

fn both(delayed: bool) -> (Engine, Engine) {
    let make = |series_major| Engine {
        delayed_name_removal: delayed,
        series_major,
        ..Engine::default()
    };
    (make(true), make(false))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn batched_and_stepwise_answers_agree(
        data in prop::collection::vec(series(), 1..8),
        at in 0i64..900_000,
        start in 0i64..400_000,
        span in 0i64..600_000,
        step in 1_000i64..90_000,
        delayed in any::<bool>(),
    ) {
        let store = build(&data);
        let (batched, stepwise) = both(delayed);
        for q in QUERIES {
            let a = batched.instant(&store, q, at).map(|e| show(&e.value));
            let b = stepwise.instant(&store, q, at).map(|e| show(&e.value));
            prop_assert_eq!(a, b, "instant {} at {}", q, at);
            let a = batched.range(&store, q, start, start + span, step).map(|e| show(&Value::Matrix(e.value)));
            let b = stepwise.range(&store, q, start, start + span, step).map(|e| show(&Value::Matrix(e.value)));
            prop_assert_eq!(a, b, "range {} from {} to {} step {}", q, start, start + span, step);
        }
    }
}
