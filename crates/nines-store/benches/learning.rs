//! Learning at scale: an event log of 10 million events (500 services, one
//! year) in the SQLite state store; how long an incident's timeline and a
//! service's DORA metrics for a quarter take to compute from it; and how
//! many events a second appends keep up with (one thread, concurrent
//! appenders sharing commits, batches).
//!
//! `cargo bench -p nines-store --bench learning -- [--events N] [--dir D]`
//! The log is built once in `D` (default `target/bench-learning`) and
//! reused while it holds N events.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nines_learning::events::{EventLog, EventQuery, NewEvent};
use nines_learning::incident::{Incident, IncidentRepository, Milestone, Severity, State};
use nines_learning::settings::Settings;
use nines_store::Store;
use serde_json::json;

const SERVICES: usize = 500;
const DAY: i64 = 86_400_000;
/// 2026-11-01T00:00:00Z: the year ends here.
const END: i64 = 1_793_491_200_000;
/// Events per service a day: 4 deploys, 2 changes, 16 alerts firing and
/// 16 resolving, 8 page steps, 9 notifications.
const PER_SERVICE_DAY: usize = 55;
const INCIDENTS_PER_SERVICE: usize = 4;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn rfc(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

fn service(n: usize) -> String {
    format!("svc-{n:03}")
}

/// One service's events of one day.
fn day_of(rng: &mut Rng, svc: usize, day_start: i64, out: &mut Vec<NewEvent>) {
    let name = service(svc);
    let at = |rng: &mut Rng| day_start + rng.below(DAY as u64) as i64;
    let ev = |at: i64, kind: &str, service: Option<&str>, payload: serde_json::Value| NewEvent {
        at,
        kind: kind.into(),
        service: service.map(String::from),
        actor: Some("nines".into()),
        payload,
    };
    for d in 0..4 {
        let t = at(rng);
        let commits: Vec<_> = (0..3)
            .map(|c| json!({"sha": format!("{:012x}", rng.next() & 0xffff_ffff_ffff), "committedAt": rfc(t - (c + 1) * 3_600_000 - rng.below(DAY as u64) as i64)}))
            .collect();
        let env = if d == 3 { "staging" } else { "production" };
        let rollback = rng.below(50) == 0;
        out.push(ev(t, "deploy", Some(&name), json!({"environment": env, "version": format!("v{}", rng.below(1000)),
            "status": if rng.below(40) == 0 { "failed" } else { "success" }, "rollback": rollback, "hotfix": !rollback && rng.below(30) == 0,
            "commits": commits})));
    }
    for _ in 0..2 {
        let t = at(rng);
        out.push(ev(
            t,
            "change",
            Some(&name),
            json!({"kind": "flag", "summary": "flag flipped", "details": null}),
        ));
    }
    for _ in 0..16 {
        let t = at(rng);
        let labels = json!({"alertname": format!("Alert{}", rng.below(20)), "service": name, "severity": "page"});
        let fp = format!("{:016x}", rng.next());
        out.push(ev(
            t,
            "alert.firing",
            Some(&name),
            json!({"fingerprint": fp, "labels": labels, "summary": "errors are high", "source": "rule"}),
        ));
        out.push(ev(
            t + 300_000,
            "alert.resolved",
            Some(&name),
            json!({"fingerprint": fp, "labels": labels, "source": "rule"}),
        ));
    }
    for step in [
        "triggered",
        "notified",
        "acknowledged",
        "resolved",
        "triggered",
        "notified",
        "escalated",
        "resolved",
    ] {
        let t = at(rng);
        out.push(ev(
            t,
            &format!("page.{step}"),
            Some(&name),
            json!({"page": rng.below(1_000_000), "level": 1, "recipients": ["alice"], "summary": "errors are high"}),
        ));
    }
    for _ in 0..9 {
        let t = at(rng);
        out.push(ev(
            t,
            "notification.sent",
            None,
            json!({"delivery": rng.below(1_000_000), "receiver": "oncall", "integration": "webhook", "attempts": 1}),
        ));
    }
}

fn count(store: &Store) -> usize {
    store
        .events(&EventQuery {
            kinds: vec!["bench.built".into()],
            limit: 1,
            ..Default::default()
        })
        .ok()
        .and_then(|e| e.first().and_then(|e| e.event.payload["events"].as_u64()))
        .unwrap_or(0) as usize
}

/// Fills the log with `target` events (and the incidents), day by day.
fn build(store: &Store, target: usize) {
    let days = target / (SERVICES * PER_SERVICE_DAY);
    let started = Instant::now();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut batch = Vec::with_capacity(60_000);
    let mut total = 0usize;
    for d in 0..days as i64 {
        let day_start = END - days as i64 * DAY + d * DAY;
        for svc in 0..SERVICES {
            day_of(&mut rng, svc, day_start, &mut batch);
        }
        total += batch.len();
        store.append(&batch).expect("append");
        batch.clear();
        if d % 30 == 0 {
            eprintln!(
                "  day {d}/{days}: {total} events, {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    // Incidents: a few per service, each caused by one of its deploys.
    let mut n = 0;
    for svc in 0..SERVICES {
        let deploys = store
            .events(&EventQuery {
                service: Some(service(svc)),
                kinds: vec!["deploy".into()],
                limit: 2_000,
                ..Default::default()
            })
            .expect("deploys");
        for k in 0..INCIDENTS_PER_SERVICE {
            let Some(d) = deploys.get(k * deploys.len() / INCIDENTS_PER_SERVICE) else {
                continue;
            };
            let start = d.event.at + 20 * 60_000;
            let incident = Incident {
                id: 0,
                title: format!("{} errors after a deploy", service(svc)),
                severity: Severity::Sev2,
                state: State::Resolved,
                services: vec![service(svc)],
                commander: Some("alice".into()),
                communications: None,
                scribe: None,
                pages: vec![],
                milestones: vec![
                    Milestone {
                        state: State::Triage,
                        at: start,
                    },
                    Milestone {
                        state: State::Resolved,
                        at: start + 45 * 60_000,
                    },
                ],
                status_update: None,
                started_at: Some(start - 5 * 60_000),
                caused_by: vec![d.id],
                declared_at: start,
                declared_by: "alice".into(),
                updated_at: start + 45 * 60_000,
            };
            let declared = NewEvent {
                at: start,
                kind: "incident.declared".into(),
                service: Some(service(svc)),
                actor: Some("alice".into()),
                payload: json!({"title": incident.title}),
            };
            store.save_incident(&incident, &[declared]).expect("incident");
            n += 1;
        }
    }
    let built = NewEvent {
        at: END,
        kind: "bench.built".into(),
        service: None,
        actor: None,
        payload: json!({"events": total}),
    };
    store.append(&[built]).expect("append");
    eprintln!(
        "built {total} events and {n} incidents in {:.0} s",
        started.elapsed().as_secs_f64()
    );
}

fn percentiles(mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    format!(
        "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} runs)",
        at(0.5),
        at(0.99),
        at(1.0),
        ms.len()
    )
}

fn appends(store: &Arc<Store>, threads: usize, per_call: usize, for_how_long: Duration) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (store, stop, done) = (store.clone(), stop.clone(), done.clone());
            std::thread::spawn(move || {
                let mut i = 0i64;
                while !stop.load(Ordering::Relaxed) {
                    let batch: Vec<NewEvent> = (0..per_call)
                        .map(|k| NewEvent {
                            at: END + i,
                            kind: "page.acknowledged".into(),
                            service: Some(service((t + k) % SERVICES)),
                            actor: Some("alice".into()),
                            payload: json!({"page": i, "level": 1}),
                        })
                        .collect();
                    store.append(&batch).expect("append");
                    done.fetch_add(per_call as u64, Ordering::Relaxed);
                    i += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(for_how_long);
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("worker");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let arg = |k: &str| argv.iter().position(|a| a == k).and_then(|i| argv.get(i + 1)).cloned();
    let target: usize = arg("--events").and_then(|v| v.parse().ok()).unwrap_or(10_037_500);
    let dir = PathBuf::from(
        arg("--dir").unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/bench-learning").into()),
    );
    std::fs::create_dir_all(&dir).expect("dir");
    let mut store = Store::open_in(&dir).expect("open");
    if count(&store) < target {
        drop(store);
        for f in ["state.sqlite", "state.sqlite-wal", "state.sqlite-shm"] {
            let _ = std::fs::remove_file(dir.join(f));
        }
        store = Store::open_in(&dir).expect("open");
        build(&store, target);
    }
    let events = count(&store);
    let size = std::fs::metadata(dir.join("state.sqlite"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "event log: {events} events, {SERVICES} services, one year; state.sqlite {:.2} GiB",
        size as f64 / (1u64 << 30) as f64
    );

    let settings = Settings::default();
    let incidents = store.incidents().expect("incidents");
    let mut rng = Rng(42);
    let mut timeline_ms = Vec::new();
    let mut entries = 0;
    for _ in 0..200 {
        let i = &incidents[rng.below(incidents.len() as u64) as usize];
        let t0 = Instant::now();
        let t = nines_learning::timeline::timeline(&store, i, settings.lookback_ms, END).expect("timeline");
        timeline_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        entries += t.entries.len();
    }
    println!(
        "incident timeline (2 h look-back, 45 min incident, {:.0} entries on average): {}",
        entries as f64 / 200.0,
        percentiles(timeline_ms)
    );

    let mut dora_ms = Vec::new();
    let mut deploys = 0.0;
    for _ in 0..200 {
        let svc = vec![service(rng.below(SERVICES as u64) as usize)];
        let to = END - rng.below(180) as i64 * DAY;
        let t0 = Instant::now();
        let d =
            nines_learning::dora::from_log(&store, &store, Some(&svc), (to - 91 * DAY, to), &settings).expect("dora");
        dora_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        deploys += d.deployment_frequency.value.unwrap_or(0.0) * 91.0;
    }
    println!(
        "DORA metrics of one service for a quarter ({:.0} production deploys on average): {}",
        deploys / 200.0,
        percentiles(dora_ms)
    );

    let store = Arc::new(store);
    let second = Duration::from_secs(3);
    for (threads, per_call) in [(1, 1), (16, 1), (64, 1), (1, 100)] {
        let rate = appends(&store, threads, per_call, second);
        println!("appends, {threads} thread(s), {per_call} event(s) per call, each durable before it returns: {rate:.0} events/s");
    }
}
