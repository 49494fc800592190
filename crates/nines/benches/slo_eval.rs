//! SLO evaluation cost: N SLOs (one per service, 99.9% over 28 days, a
//! ratio of two counters sampled every minute) over 28 days of data in the
//! embedded store. Measures the first roll-up of the whole window, then
//! steady-state evaluation cycles (one new minute each: roll up, status,
//! burn rates, alerts, for every SLO), then the same status answered with
//! PromQL over the raw samples (the error ratio over the window and the
//! seven burn-rate windows per SLO, as Sloth-style rules would), and the
//! ratio of the two.
//!
//! Run: cargo bench -p nines --bench slo_eval -- [--slos 1000] [--days 28] [--cycles 10]

use std::sync::Arc;
use std::time::Instant;

use nines_clock::ManualClock;
use nines_promql::Engine;
use nines_slo::query::EmbeddedQuery;
use nines_slo::{Evaluator, Settings, Slo, SloSpec};
use nines_store::Store;
use nines_tsdb::{Db, Options, SeriesSamples};

const MIN: i64 = 60_000;
/// 2026-01-05T00:00:00Z.
const T0: i64 = 1_767_571_200_000;

struct Args {
    slos: usize,
    days: i64,
    cycles: usize,
}

fn args() -> Args {
    let mut a = Args {
        slos: 1000,
        days: 28,
        cycles: 10,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for w in argv.windows(2) {
        match w[0].as_str() {
            "--slos" => a.slos = w[1].parse().expect("--slos N"),
            "--days" => a.days = w[1].parse().expect("--days N"),
            "--cycles" => a.cycles = w[1].parse().expect("--cycles N"),
            _ => {}
        }
    }
    a
}

fn slo(service: usize) -> Slo {
    let yaml = format!(
        "service: svc-{service}\nname: availability\nowner: team\nobjective: 99.9\nwindow: 28d\n\
         sli:\n  ratio:\n    bad: requests_total{{service=\"svc-{service}\",code=\"500\"}}\n    \
         total: requests_total{{service=\"svc-{service}\"}}\n"
    );
    let spec: SloSpec = serde_norway::from_str(&yaml).expect("yaml");
    Slo::from_spec(&spec).expect("valid")
}

/// Requests per minute of a service's success and error counters.
fn increments(service: usize, minute: i64) -> (f64, f64) {
    let h = (service as i64 * 7919 + minute * 104_729) % 1000;
    (100.0 + (h % 50) as f64, if h < 3 { 5.0 } else { 0.0 })
}

struct Feed {
    labels: Vec<[(String, String); 3]>,
    values: Vec<f64>,
}

impl Feed {
    fn new(services: usize) -> Self {
        let mut labels = Vec::new();
        for s in 0..services {
            for code in ["200", "500"] {
                labels.push([
                    ("__name__".to_string(), "requests_total".to_string()),
                    ("code".to_string(), code.to_string()),
                    ("service".to_string(), format!("svc-{s}")),
                ]);
            }
        }
        let values = vec![0.0; labels.len()];
        Self { labels, values }
    }

    /// Appends minutes `from..to` (samples at each minute's end).
    fn append(&mut self, db: &Db, from: i64, to: i64) {
        let mut samples: Vec<Vec<(i64, f64)>> = vec![Vec::new(); self.labels.len()];
        for m in from..to {
            for s in 0..self.labels.len() / 2 {
                let (ok, bad) = increments(s, m);
                self.values[2 * s] += ok;
                self.values[2 * s + 1] += bad;
                samples[2 * s].push((T0 + m * MIN, self.values[2 * s]));
                samples[2 * s + 1].push((T0 + m * MIN, self.values[2 * s + 1]));
            }
        }
        let refs: Vec<Vec<(&str, &str)>> = self
            .labels
            .iter()
            .map(|l| l.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
            .collect();
        let batch: Vec<SeriesSamples<'_>> = refs
            .iter()
            .zip(&samples)
            .map(|(l, s)| SeriesSamples { labels: l, samples: s })
            .collect();
        let report = db.append(&batch).expect("append");
        assert_eq!(report.rejected(), 0, "{report:?}");
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let a = args();
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(T0));
    let opts = Options {
        retention_ms: None,
        ..Options::default()
    };
    let db = Arc::new(Db::open(dir.path().join("tsdb"), opts, clock.clone()).expect("open db"));
    let mut feed = Feed::new(a.slos);
    let minutes = a.days * 1440;
    let started = Instant::now();
    let mut m = 0;
    while m < minutes {
        let to = (m + 120).min(minutes);
        feed.append(&db, m, to);
        clock.set(T0 + to * MIN);
        db.maintain().expect("maintain");
        m = to;
    }
    println!(
        "ingested {} series x {} days of 1-minute samples in {:.1} s",
        a.slos * 2,
        a.days,
        started.elapsed().as_secs_f64()
    );

    let store = Arc::new(Store::open_in(dir.path()).expect("store"));
    let query = Arc::new(EmbeddedQuery::new(Engine::default(), db.clone()));
    let settings = Settings {
        delay_ms: 0,
        ..Settings::default()
    };
    let mut evaluator = Evaluator::new(store, query, clock.clone(), settings);
    evaluator.set_slos((0..a.slos).map(slo).collect());
    let started = Instant::now();
    let first = evaluator.run();
    println!(
        "first roll-up of {} days for {} SLOs: {:.1} s",
        a.days,
        a.slos,
        started.elapsed().as_secs_f64()
    );
    assert!(
        first.statuses.iter().all(|s| s.notes.is_empty()),
        "{:?}",
        first.statuses[0].notes
    );

    let mut cycles = Vec::new();
    let mut now = minutes;
    for _ in 0..a.cycles {
        feed.append(&db, now, now + 1);
        now += 1;
        clock.set(T0 + now * MIN);
        let started = Instant::now();
        let ev = evaluator.run();
        cycles.push(started.elapsed().as_secs_f64());
        assert_eq!(ev.statuses.len(), a.slos);
        assert!(ev.statuses.iter().all(|s| s.groups.len() == 1));
    }
    let cycle = median(cycles.clone());
    println!(
        "evaluation cycle, {} SLOs: median {:.1} ms, max {:.1} ms ({} cycles)",
        a.slos,
        cycle * 1000.0,
        cycles.iter().copied().fold(0.0, f64::max) * 1000.0,
        a.cycles
    );

    // The same answers from raw data: the window's error ratio and the
    // seven burn-rate windows, per SLO.
    let engine = Engine::default();
    let windows = [
        format!("{}d", a.days),
        "5m".into(),
        "30m".into(),
        "1h".into(),
        "2h".into(),
        "6h".into(),
        "1d".into(),
        "3d".into(),
    ];
    let at = T0 + now * MIN;
    let started = Instant::now();
    let mut answered = 0;
    for s in 0..a.slos {
        for w in &windows {
            let q = format!(
                "sum(increase(requests_total{{service=\"svc-{s}\",code=\"500\"}}[{w}])) / sum(increase(requests_total{{service=\"svc-{s}\"}}[{w}]))"
            );
            let v = engine.instant(&*db, &q, at).expect("query");
            if matches!(v.value, nines_promql::value::Value::Vector(ref x) if !x.is_empty()) {
                answered += 1;
            }
        }
    }
    let promql = started.elapsed().as_secs_f64();
    assert_eq!(answered, a.slos * windows.len());
    println!(
        "the same status with PromQL over raw samples: {:.2} s ({:.0}x the evaluation cycle)",
        promql,
        promql / cycle
    );
    println!(
        "state store: {:.1} MiB",
        std::fs::metadata(dir.path().join(nines_store::FILE_NAME))
            .map(|m| m.len())
            .unwrap_or(0) as f64
            / 1048576.0
    );
    if let Ok(db) = Arc::try_unwrap(db) {
        let _ = db.close();
    }
}
