//! What the evaluator tests share: an in-memory store behind the PromQL
//! seam, a manual clock, SLOs from YAML and synthetic request counters.

#![allow(dead_code)]

use std::sync::Arc;

use nines_clock::ManualClock;
use nines_promql::value::{Labels, Series};
use nines_promql::{Engine, EvalError, MemStorage, Queryable};
use nines_slo::query::EmbeddedQuery;
use nines_slo::repo::MemRepository;
use nines_slo::{Evaluator, Settings, Slo, SloSpec};
use nines_tsdb::Matcher;
use parking_lot::RwLock;

pub const MIN: i64 = 60_000;
/// A Monday 00:00 UTC, so minutes and slices align.
pub const T0: i64 = 1_767_571_200_000;
/// Requests are scraped every 15 s.
pub const SCRAPE_MS: i64 = 15_000;

#[derive(Default)]
pub struct Shared(pub RwLock<MemStorage>);

impl Queryable for Shared {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>, EvalError> {
        self.0.read().select(matchers, mint, maxt)
    }
}

pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    let mut v: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    v.sort();
    Labels::from(v)
}

pub fn slo(yaml: &str) -> Slo {
    let spec: SloSpec = serde_norway::from_str(yaml).expect("yaml");
    Slo::from_spec(&spec).expect("valid")
}

pub const RATIO: &str = r#"
service: api
name: availability
owner: team-api
objective: 99.9
window: 30d
sli:
  ratio:
    bad: requests_total{code="500"}
    total: requests_total
"#;

/// `requests_total{code="200"}` and `{code="500"}` scraped every 15 s
/// from 0 to `to_minutes` (times relative to the start): `rate` requests
/// per scrape, of which `error_share(minute)` fail (minute 1 is the first
/// after the start).
pub fn request_counters(
    to_minutes: i64,
    rate: f64,
    error_share: impl Fn(i64) -> f64,
) -> [(Labels, Vec<(i64, f64)>); 2] {
    let (mut ok, mut bad) = (0.0, 0.0);
    let (mut ok_pts, mut bad_pts) = (Vec::new(), Vec::new());
    let mut t = 0;
    while t <= to_minutes * MIN {
        if t > 0 {
            let share = error_share((t + MIN - 1) / MIN);
            bad += rate * share;
            ok += rate * (1.0 - share);
        }
        ok_pts.push((t, ok));
        bad_pts.push((t, bad));
        t += SCRAPE_MS;
    }
    [
        (labels(&[("__name__", "requests_total"), ("code", "200")]), ok_pts),
        (labels(&[("__name__", "requests_total"), ("code", "500")]), bad_pts),
    ]
}

/// Adds series whose times are relative to [`T0`].
pub fn add_from_t0(store: &Shared, series: &[(Labels, Vec<(i64, f64)>)]) {
    let mut s = store.0.write();
    for (l, pts) in series {
        let shifted: Vec<(i64, f64)> = pts.iter().map(|&(t, v)| (T0 + t, v)).collect();
        s.add(l.clone(), &shifted);
    }
}

/// Requests every 15 s from T0 to `to_minutes` after it: `rate` per
/// scrape, all failing while `failing(minute)`.
pub fn traffic(store: &Shared, to_minutes: i64, rate: f64, failing: impl Fn(i64) -> bool) {
    let series = request_counters(to_minutes, rate, |m| if failing(m) { 1.0 } else { 0.0 });
    add_from_t0(store, &series);
}

pub fn evaluator(store: Arc<Shared>, clock: Arc<ManualClock>, slos: Vec<Slo>) -> Evaluator {
    let query = Arc::new(EmbeddedQuery::new(Engine::default(), store));
    let mut e = Evaluator::new(
        Arc::new(MemRepository::default()),
        query,
        clock,
        Settings {
            delay_ms: 0,
            ..Settings::default()
        },
    );
    e.set_slos(slos);
    e
}
