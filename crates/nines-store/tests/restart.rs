//! A restart in the middle of a window loses no rollup: evaluation over
//! SQLite, stopped half-way and resumed from a reopened file, ends with
//! the same budget as an uninterrupted run.

use std::sync::Arc;

use nines_clock::ManualClock;
use nines_promql::value::Labels;
use nines_promql::{Engine, MemStorage};
use nines_slo::query::EmbeddedQuery;
use nines_slo::repo::{MemRepository, SloRepository};
use nines_slo::{Evaluator, Settings, Slo, SloSpec};
use nines_store::Store;

const MIN: i64 = 60_000;
const T0: i64 = 1_767_571_200_000;

fn slo() -> Slo {
    let spec: SloSpec = serde_norway::from_str(
        r#"
service: api
name: availability
owner: team-api
objective: 99.5
window: 28d
sli:
  ratio:
    good: requests_total{code="200"}
    total: requests_total
"#,
    )
    .expect("yaml");
    Slo::from_spec(&spec).expect("valid")
}

fn storage() -> Arc<MemStorage> {
    let mut s = MemStorage::default();
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    for i in 0..=(180 * 4) {
        let t = T0 + i * 15_000;
        // A reset at scrape 333; errors in every 7th scrape.
        let n = if i < 333 { i } else { i - 333 } as f64;
        ok.push((t, n * 20.0));
        bad.push((t, (n / 7.0).floor()));
    }
    let l = |code: &str| {
        Labels::from(vec![
            ("__name__".to_string(), "requests_total".to_string()),
            ("code".to_string(), code.to_string()),
        ])
    };
    s.add(l("200"), &ok);
    s.add(l("500"), &bad);
    Arc::new(s)
}

fn evaluator(repo: Arc<dyn SloRepository>, clock: Arc<ManualClock>, data: Arc<MemStorage>) -> Evaluator {
    let query = Arc::new(EmbeddedQuery::new(Engine::default(), data));
    let mut e = Evaluator::new(
        repo,
        query,
        clock,
        Settings {
            delay_ms: 0,
            ..Settings::default()
        },
    );
    e.set_slos(vec![slo()]);
    e
}

#[test]
fn a_restart_mid_window_loses_no_rollup() {
    let data = storage();
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(T0 + 90 * MIN));
    {
        let store: Arc<dyn SloRepository> = Arc::new(Store::open_in(dir.path()).expect("open"));
        let mut e = evaluator(store, clock.clone(), data.clone());
        for m in [30, 60, 90] {
            clock.set(T0 + m * MIN);
            e.run();
        }
    }
    // Down for 40 minutes; on start it catches up from the raw data.
    clock.set(T0 + 180 * MIN);
    let store = Arc::new(Store::open_in(dir.path()).expect("reopen"));
    let resumed = evaluator(store.clone(), clock.clone(), data.clone()).run();

    let whole = evaluator(Arc::new(MemRepository::default()), clock.clone(), data).run();
    let (a, b) = (&resumed.statuses[0].groups[0], &whole.statuses[0].groups[0]);
    assert_eq!(a.events, b.events);
    assert_eq!(a.budget, b.budget);
    assert_eq!(a.burn_rates, b.burn_rates);
    // Successes: 332 scrapes before the reset and 387 after, 20 each (the
    // reset sample is 0); errors: 47 before, 55 after.
    assert_eq!(a.events.total, ((332 + 387) * 20 + 47 + 55) as f64);
    assert_eq!(a.events.bad, 102.0);
    assert_eq!(
        store
            .open_slo("api", "availability", &nines_slo::evaluate::fingerprint(&slo()))
            .expect("slo")
            .evaluated_through,
        Some(T0 / MIN + 180)
    );
}
