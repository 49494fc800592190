//! Side-by-side correctness: the same generated data is written to
//! Debian's Prometheus (remote-write receiver) and to nines, the same
//! queries run on both, and every result must agree within 1e-6
//! (relative). Evaluation times (and subquery steps) sit between samples,
//! so Prometheus 2's closed range boundaries and Prometheus 3's (and
//! nines's) left-open ones select the same samples; where a sample sits
//! exactly on a boundary the two versions differ by design.

mod common;

use std::collections::BTreeMap;

use common::prometheus::{free_port, Prometheus};
use common::{remote_write_to, series, Server, WriteRequest};

const STEP: i64 = 15_000;
const POINTS: i64 = 480; // 2 h

/// A small deterministic generator (xorshift).
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

fn data(start: i64) -> WriteRequest {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = Vec::new();
    let times: Vec<i64> = (0..POINTS).map(|i| start + i * STEP).collect();
    for service in ["checkout", "search", "auth"] {
        for instance in ["a:1", "b:1"] {
            let zone = if instance == "a:1" { "eu" } else { "us" };
            out.push(series(
                &[
                    ("__name__", "instance_info"),
                    ("service", service),
                    ("instance", instance),
                    ("zone", zone),
                ],
                &times.iter().map(|&t| (t, 1.0)).collect::<Vec<_>>(),
            ));
            out.push(series(
                &[("__name__", "up"), ("service", service), ("instance", instance)],
                &times
                    .iter()
                    .map(|&t| (t, if rng.below(50) == 0 { 0.0 } else { 1.0 }))
                    .collect::<Vec<_>>(),
            ));
            for code in ["200", "404", "500"] {
                let mut v = 0.0;
                let pts: Vec<(i64, f64)> = times
                    .iter()
                    .enumerate()
                    .map(|(i, &t)| {
                        // One restart halfway through for the first instance.
                        if instance == "a:1" && i == 240 {
                            v = 0.0;
                        }
                        v += match code {
                            "200" => rng.below(200) as f64,
                            "404" => rng.below(10) as f64,
                            _ => rng.below(3) as f64,
                        };
                        (t, v)
                    })
                    .collect();
                out.push(series(
                    &[
                        ("__name__", "http_requests_total"),
                        ("service", service),
                        ("instance", instance),
                        ("code", code),
                    ],
                    &pts,
                ));
            }
            let bounds = ["0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"];
            let mut cum = vec![0.0; bounds.len()];
            let mut sum = 0.0;
            let mut per_bucket: Vec<Vec<(i64, f64)>> = vec![Vec::new(); bounds.len()];
            let mut sums = Vec::new();
            for &t in &times {
                let n = 50 + rng.below(50);
                for _ in 0..n {
                    let x = (rng.below(3000) as f64) / 1000.0;
                    sum += x;
                    for (k, b) in bounds.iter().enumerate() {
                        let bound: f64 = if *b == "+Inf" {
                            f64::INFINITY
                        } else {
                            b.parse().unwrap()
                        };
                        if x <= bound {
                            cum[k] += 1.0;
                        }
                    }
                }
                for k in 0..bounds.len() {
                    per_bucket[k].push((t, cum[k]));
                }
                sums.push((t, sum));
            }
            for (k, b) in bounds.iter().enumerate() {
                out.push(series(
                    &[
                        ("__name__", "request_duration_seconds_bucket"),
                        ("service", service),
                        ("instance", instance),
                        ("le", b),
                    ],
                    &per_bucket[k],
                ));
            }
            out.push(series(
                &[
                    ("__name__", "request_duration_seconds_sum"),
                    ("service", service),
                    ("instance", instance),
                ],
                &sums,
            ));
            let mut q = 10.0f64;
            let depth: Vec<(i64, f64)> = times
                .iter()
                .map(|&t| {
                    q = (q + rng.below(7) as f64 - 3.0).max(0.0);
                    (t, q + (rng.below(100) as f64) / 100.0)
                })
                .collect();
            out.push(series(
                &[
                    ("__name__", "queue_depth"),
                    ("service", service),
                    ("instance", instance),
                ],
                &depth,
            ));
        }
    }
    WriteRequest { timeseries: out }
}

const QUERIES: [&str; 24] = [
    "sum(rate(http_requests_total{code=~\"5..\"}[5m])) / sum(rate(http_requests_total[5m]))",
    "sum by (service) (rate(http_requests_total{code=~\"5..\"}[1h])) / sum by (service) (rate(http_requests_total[1h]))",
    "1 - sum by (service) (increase(http_requests_total{code!~\"5..\"}[30m])) / sum by (service) (increase(http_requests_total[30m]))",
    "histogram_quantile(0.99, sum by (le) (rate(request_duration_seconds_bucket[5m])))",
    "histogram_quantile(0.9, sum by (le, service) (rate(request_duration_seconds_bucket[10m])))",
    "sum by (service) (rate(request_duration_seconds_bucket{le=\"0.25\"}[5m])) / sum by (service) (rate(request_duration_seconds_bucket{le=\"+Inf\"}[5m]))",
    "topk(3, sum by (instance, service) (rate(http_requests_total[5m])))",
    "bottomk(2, sum by (service) (rate(http_requests_total[5m])))",
    "sum by (service, zone) (rate(http_requests_total[5m]) * on (service, instance) group_left (zone) instance_info)",
    "max_over_time(sum(rate(http_requests_total[5m]))[30m:1m])",
    "avg_over_time(queue_depth[10m])",
    "quantile(0.5, queue_depth)",
    "stddev by (service) (queue_depth)",
    "count by (service) (up == 1)",
    "sum without (instance, code) (irate(http_requests_total[2m]))",
    "delta(queue_depth[10m])",
    "deriv(queue_depth[10m])",
    "predict_linear(queue_depth[30m], 3600)",
    "changes(up[30m])",
    "resets(http_requests_total[2h])",
    "label_replace(up, \"host\", \"$1\", \"instance\", \"(.*):.*\")",
    "count_values(\"state\", up)",
    "absent(nonexistent_metric{job=\"x\"})",
    "sum(rate(http_requests_total[5m] offset 10m)) - sum(rate(http_requests_total[5m]))",
];

type Result = BTreeMap<String, Vec<(f64, f64)>>;

fn query(base: &str, path: &str, params: &[(&str, String)]) -> Result {
    let mut req = ureq::get(&format!("{base}{path}"));
    for (k, v) in params {
        req = req.query(k, v);
    }
    let body: serde_json::Value = match req.call() {
        Ok(r) => serde_json::from_str(&r.into_string().unwrap()).unwrap(),
        Err(ureq::Error::Status(code, r)) => panic!("{base}{path} {params:?}: {code} {}", r.into_string().unwrap()),
        Err(e) => panic!("{e}"),
    };
    let mut out = Result::new();
    for s in body["data"]["result"].as_array().unwrap() {
        let key = s["metric"].to_string();
        let points: Vec<(f64, f64)> = if let Some(v) = s.get("value") {
            vec![(v[0].as_f64().unwrap(), v[1].as_str().unwrap().parse().unwrap())]
        } else {
            s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| (v[0].as_f64().unwrap(), v[1].as_str().unwrap().parse().unwrap()))
                .collect()
        };
        out.insert(key, points);
    }
    out
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-6 * a.abs().max(b.abs())
}

#[test]
fn nines_answers_like_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    // Samples sit 7 s off the minute grid, so subquery steps (multiples
    // of their step) never land on one either.
    let start = (now / STEP) * STEP - POINTS * STEP + 7_000;
    let req = data(start);

    let nines = Server::start(&dir.path().join("nines"), &[]);
    let (code, body) = nines.remote_write(&req);
    assert_eq!(code, 204, "{body}");

    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 1h\n").unwrap();
    let prom = Prometheus::start(
        &cfg,
        &dir.path().join("prom"),
        free_port(),
        &["--web.enable-remote-write-receiver"],
    );
    prom.wait_ready();
    let prom_url = prom.url.clone();
    let (code, body) = remote_write_to(&prom_url, &req);
    assert!(code == 204 || code == 200, "{code} {body}");

    // Between samples: 7 s after a sample time.
    let last = start + (POINTS - 1) * STEP + 7_000;
    let secs = |ms: i64| format!("{:.3}", ms as f64 / 1000.0);
    let mut differences = Vec::new();
    let mut compared = 0;
    for q in QUERIES {
        for (path, params) in [
            ("/api/v1/query", vec![("query", q.to_string()), ("time", secs(last))]),
            (
                "/api/v1/query",
                vec![("query", q.to_string()), ("time", secs(last - 45 * 60_000))],
            ),
            (
                "/api/v1/query_range",
                vec![
                    ("query", q.to_string()),
                    ("start", secs(last - 3_600_000)),
                    ("end", secs(last)),
                    ("step", "60".to_string()),
                ],
            ),
        ] {
            let theirs = query(&prom_url, path, &params);
            let ours = query(&nines.url, path, &params);
            compared += 1;
            if theirs.keys().ne(ours.keys()) {
                differences.push(format!(
                    "{q} ({path}): series differ\n  prometheus: {:?}\n  nines:      {:?}",
                    theirs.keys(),
                    ours.keys()
                ));
                continue;
            }
            for (k, tp) in &theirs {
                let op = &ours[k];
                let same = tp.len() == op.len() && tp.iter().zip(op).all(|(a, b)| a.0 == b.0 && close(a.1, b.1));
                if !same {
                    differences.push(format!("{q} ({path}) {k}:\n  prometheus: {tp:?}\n  nines:      {op:?}"));
                }
            }
        }
    }
    drop(prom);
    assert_eq!(compared, QUERIES.len() * 3);
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
}
