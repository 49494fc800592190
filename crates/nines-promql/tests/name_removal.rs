//! `__name__` removal: at once by default (Prometheus 3.x's default), at
//! the end of evaluation with `delayed_name_removal` (its feature flag).

use nines_promql::value::{Labels, Value};
use nines_promql::{Engine, EvalError, MemStorage};

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

/// Two counters with the same labels but the name, at 0, 5m, 10m.
fn store() -> MemStorage {
    let mut s = MemStorage::default();
    for (name, start) in [("a_total", 0.0), ("b_total", 60.0)] {
        let points: Vec<(i64, f64)> = (0..3).map(|i| (i * 300_000, start + 60.0 * i as f64)).collect();
        s.add(labels(&[("__name__", name), ("env", "1")]), &points);
    }
    s
}

fn engine(delayed: bool) -> Engine {
    Engine {
        delayed_name_removal: delayed,
        ..Engine::default()
    }
}

#[test]
fn immediate_removal_makes_rate_of_two_names_collide() {
    let err = engine(false)
        .instant(&store(), r#"rate({env="1"}[10m])"#, 600_000)
        .expect_err("same label set twice");
    assert!(
        matches!(&err, EvalError::Execution(m) if m.contains("same labelset")),
        "{err:?}"
    );
}

#[test]
fn delayed_removal_lets_label_replace_read_the_name() {
    let q = r#"label_replace(rate({env="1"}[10m]), "from", "$1", "__name__", "(.+)")"#;
    let got = engine(true).instant(&store(), q, 600_000).expect("evaluates").value;
    let Value::Vector(v) = got else {
        panic!("vector expected")
    };
    let sets: Vec<String> = v.iter().map(|s| nines_promql::value::fmt_labels(&s.labels)).collect();
    assert_eq!(
        sets,
        [r#"{env="1", from="a_total"}"#, r#"{env="1", from="b_total"}"#],
        "names read, then dropped"
    );
}

#[test]
fn delayed_removal_still_fails_when_the_final_result_collides() {
    let err = engine(true)
        .instant(&store(), r#"rate({env="1"}[10m])"#, 600_000)
        .expect_err("same label set twice at the end");
    assert!(
        matches!(&err, EvalError::Execution(m) if m.contains("same labelset")),
        "{err:?}"
    );
}

#[test]
fn delayed_removal_merges_range_series_that_do_not_overlap() {
    let mut s = MemStorage::default();
    s.add(labels(&[("__name__", "a")]), &[(0, 1.0)]);
    s.add(labels(&[("__name__", "b")]), &[(0, 3.0), (600_000, 4.0)]);
    let got = engine(true)
        .range(&s, "-a or -b", 0, 600_000, 600_000)
        .expect("evaluates")
        .value;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].points, vec![(0, -1.0), (600_000, -4.0)]);
    assert!(got[0].labels.is_empty());
}
