//! Query latency, side by side: the same 24 h of data (10,000 series of
//! 15 s counters and classic histogram buckets) is remote-written in time
//! order to a running `nines serve` and to Debian's Prometheus
//! (`--web.enable-remote-write-receiver`), each pinned to one core; once
//! the server is idle again, each query runs several times against both
//! over HTTP and the median latency is reported with the ratio.
//!
//! Run (release build of nines is used):
//!   taskset -c 0 cargo bench -p nines --bench query_e2e -- [--hours 24] [--runs 5]
//!       [--peers nines,prometheus] [--server-cpu 1] [--only QUERY_INDEX]

mod support;

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use support::prompb::{encode_labels, encode_series, SeriesRef};
use support::{clock_ticks, cpu_seconds, free_port, rss_mib, spawn_ready};

const STEP: i64 = 15_000;

/// A benchmark query: its name, the API path and the parameters.
type Query = (String, &'static str, Vec<(&'static str, String)>);

struct Args {
    /// Run only the query with this index (for profiling).
    only: Option<usize>,
    hours: i64,
    runs: usize,
    peers: Vec<String>,
    cpu: String,
}

fn args() -> Args {
    let mut a = Args {
        only: None,
        hours: 24,
        runs: 5,
        peers: vec!["nines".into(), "prometheus".into()],
        cpu: "1".into(),
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i + 1 < argv.len() {
        let v = argv[i + 1].clone();
        match argv[i].as_str() {
            "--hours" => a.hours = v.parse().expect("--hours N"),
            "--runs" => a.runs = v.parse().expect("--runs N"),
            "--peers" => a.peers = v.split(',').map(String::from).collect(),
            "--server-cpu" => a.cpu = v,
            "--only" => a.only = Some(v.parse().expect("--only INDEX")),
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

/// The series: 20 services × 50 instances × (2 codes of
/// `http_requests_total` + 8 buckets of `request_duration_seconds_bucket`)
/// = 10,000 series.
fn series_labels() -> Vec<(Vec<(String, String)>, u8)> {
    let mut out = Vec::new();
    for s in 0..20 {
        for i in 0..50 {
            let base = |name: &str| {
                vec![
                    ("__name__".to_string(), name.to_string()),
                    ("instance".to_string(), format!("host-{i}:9100")),
                    ("service".to_string(), format!("svc-{s}")),
                ]
            };
            for code in ["200", "500"] {
                let mut l = base("http_requests_total");
                l.push(("code".into(), code.into()));
                l.sort();
                out.push((l, if code == "200" { 0 } else { 1 }));
            }
            for (k, le) in ["0.01", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"]
                .iter()
                .enumerate()
            {
                let mut l = base("request_duration_seconds_bucket");
                l.push(("le".into(), le.to_string()));
                l.sort();
                out.push((l, 2 + k as u8));
            }
        }
    }
    out
}

/// The value increment of a series kind at step `n` (deterministic).
fn increment(kind: u8, series: usize, n: i64) -> f64 {
    let h = (series as i64 * 7919 + n * 104_729) % 97;
    match kind {
        0 => 50.0 + h as f64,
        1 => (h % 5) as f64,
        // Buckets are cumulative: later buckets grow at least as fast.
        k => (10 * (k as i64 - 1) + h % 7) as f64,
    }
}

fn load(base: &str, start: i64, points: i64, labels: &[Vec<u8>], kinds: &[u8]) {
    let chunk = 60; // 15 minutes of samples per request
    let mut values = vec![0.0f64; labels.len()];
    let mut first = 0;
    while first < points {
        let last = (first + chunk).min(points);
        let mut samples: Vec<Vec<(i64, f64)>> = vec![Vec::with_capacity(chunk as usize); labels.len()];
        for n in first..last {
            let t = start + n * STEP;
            for (i, kind) in kinds.iter().enumerate() {
                values[i] += increment(*kind, i, n);
                samples[i].push((t, values[i]));
            }
        }
        let series: Vec<SeriesRef<'_>> = labels
            .iter()
            .zip(&samples)
            .map(|(l, s)| (l.as_slice(), s.as_slice()))
            .collect();
        // Several requests' worth per POST would exceed body limits.
        for part in series.chunks(2_500) {
            let body = encode_series(part);
            let r = ureq::post(&format!("{base}/api/v1/write"))
                .set("Content-Type", "application/x-protobuf")
                .set("Content-Encoding", "snappy")
                .set("X-Prometheus-Remote-Write-Version", "0.1.0")
                .send_bytes(&body);
            if let Err(e) = r {
                panic!("remote write to {base} failed: {e}");
            }
        }
        first = last;
    }
}

fn start_peer(peer: &str, cpu: &str, dir: &std::path::Path) -> (Child, String) {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let data = dir.join(peer);
    std::fs::create_dir_all(&data).expect("data dir");
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", cpu]);
    match peer {
        "nines" => {
            let cfg = dir.join("nines.yaml");
            std::fs::write(
                &cfg,
                "ingest:\n  max_body_size: 256MiB\n  max_decompressed_size: 1GiB\n",
            )
            .expect("config");
            cmd.arg(env!("CARGO_BIN_EXE_nines"))
                .args(["serve", "--listen", &addr, "--log-level", "warn", "--config"])
                .arg(&cfg)
                .arg("--data-dir")
                .arg(&data);
        }
        "prometheus" => {
            let cfg = dir.join("prometheus.yml");
            std::fs::write(&cfg, "global:\n  scrape_interval: 1h\n").expect("config");
            cmd.arg("prometheus")
                .arg(format!("--config.file={}", cfg.display()))
                .arg(format!("--storage.tsdb.path={}", data.display()))
                .arg(format!("--web.listen-address={addr}"))
                .args([
                    "--web.enable-remote-write-receiver",
                    "--storage.tsdb.retention.time=10y",
                ]);
        }
        other => panic!("unknown peer {other}"),
    }
    let base = format!("http://{addr}");
    (spawn_ready(cmd, peer, &base), base)
}

/// Waits until the server has finished the work loading left behind
/// (head compaction, WAL sync): under 20 ms of CPU over a second, or two
/// minutes at most. Both peers are measured idle.
fn settle(pid: u32) {
    let ticks = clock_ticks();
    let t0 = Instant::now();
    let mut before = cpu_seconds(pid, ticks);
    while t0.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_secs(1));
        let now = cpu_seconds(pid, ticks);
        if now - before < 0.02 {
            break;
        }
        before = now;
    }
}

fn timed(base: &str, path: &str, params: &[(&str, String)]) -> Duration {
    let mut req = ureq::get(&format!("{base}{path}"));
    for (k, v) in params {
        req = req.query(k, v);
    }
    let t0 = Instant::now();
    match req.call() {
        Ok(r) => {
            let body = r.into_string().unwrap_or_default();
            assert!(body.contains("\"success\""), "{base}{path}: {body:.200}");
        }
        Err(e) => panic!("{base}{path} {params:?}: {e}"),
    }
    t0.elapsed()
}

fn main() {
    let a = args();
    let dir = tempfile::tempdir().expect("tempdir");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let points = a.hours * 3600 * 1000 / STEP;
    let start = (now / STEP) * STEP - points * STEP;
    let end = start + (points - 1) * STEP;
    let all = series_labels();
    let labels: Vec<Vec<u8>> = all.iter().map(|(l, _)| encode_labels(l)).collect();
    let kinds: Vec<u8> = all.iter().map(|(_, k)| *k).collect();
    let secs = |ms: i64| format!("{:.3}", ms as f64 / 1000.0);
    let ratio = "sum(rate(http_requests_total{code=\"500\"}[W])) / sum(rate(http_requests_total[W]))";
    let queries: Vec<Query> = vec![
        (
            "SLO error ratio [5m] (instant)".into(),
            "/api/v1/query",
            vec![("query", ratio.replace('W', "5m")), ("time", secs(end))],
        ),
        (
            "SLO error ratio [1h] (instant)".into(),
            "/api/v1/query",
            vec![("query", ratio.replace('W', "1h")), ("time", secs(end))],
        ),
        (
            "SLO error ratio [24h] (instant)".into(),
            "/api/v1/query",
            vec![
                ("query", ratio.replace('W', &format!("{}h", a.hours))),
                ("time", secs(end)),
            ],
        ),
        (
            format!("histogram_quantile p99, {}h range, 60s step", a.hours),
            "/api/v1/query_range",
            vec![
                (
                    "query",
                    "histogram_quantile(0.99, sum by (le) (rate(request_duration_seconds_bucket[5m])))".into(),
                ),
                ("start", secs(start + 300_000)),
                ("end", secs(end)),
                ("step", "60".into()),
            ],
        ),
        (
            "sum by (service) over all series (instant)".into(),
            "/api/v1/query",
            vec![
                ("query", "sum by (service) ({__name__=~\".+\"})".into()),
                ("time", secs(end)),
            ],
        ),
    ];
    println!(
        "{} series, {} h at 15 s ({} samples each), {} runs per query, servers on CPU {}",
        all.len(),
        a.hours,
        points,
        a.runs,
        a.cpu
    );
    let mut medians: Vec<Vec<Duration>> = Vec::new();
    for peer in &a.peers {
        let (mut child, base) = start_peer(peer, &a.cpu, dir.path());
        let t0 = Instant::now();
        load(&base, start, points, &labels, &kinds);
        println!("{peer}: loaded in {:.1} s", t0.elapsed().as_secs_f64());
        settle(child.id());
        let mut row = Vec::new();
        for (k, (name, path, params)) in queries.iter().enumerate() {
            if a.only.is_some_and(|o| o != k) {
                continue;
            }
            // One warm-up run, then the measured ones.
            timed(&base, path, params);
            let mut times: Vec<Duration> = (0..a.runs).map(|_| timed(&base, path, params)).collect();
            times.sort();
            let median = times[times.len() / 2];
            println!("  {name:<48} median {:>9.1} ms", median.as_secs_f64() * 1000.0);
            row.push(median);
        }
        println!("  peak RSS {:.0} MiB", rss_mib(child.id(), "VmHWM:"));
        medians.push(row);
        let _ = child.kill();
        let _ = child.wait();
    }
    if medians.len() == 2 && a.only.is_none() {
        println!("\nratio {} / {}:", a.peers[0], a.peers[1]);
        for (i, (name, _, _)) in queries.iter().enumerate() {
            let r = medians[0][i].as_secs_f64() / medians[1][i].as_secs_f64();
            println!("  {name:<48} {r:>6.2}");
        }
    }
}
