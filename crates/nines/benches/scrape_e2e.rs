//! End-to-end scraping, side by side: 1,000 targets of 1,000 series each
//! at a 15 s interval, served by a fake-exporter process, scraped in turn
//! by `nines serve`, Debian's Prometheus and VictoriaMetrics (single node
//! with `-promscrape.config`), each pinned to one core and each reading
//! the very same scrape config file. Reports the scraper's CPU seconds per
//! million scraped samples and its peak RSS.
//!
//! Run (release build of nines is used):
//!   taskset -c 0 cargo bench -p nines --bench scrape_e2e -- [--targets-per-job 1000]
//!       [--series 1000] [--warmup 30] [--measure 60] [--peers nines,prometheus,victoria-metrics]
//!       [--server-cpu 1]
//!
//! The exporter runs as a child process of this binary on the driver's
//! core, answers every target from one port (each target its own path and
//! `shard` label), renders fresh values on every request (counters grow,
//! gauges wander, histogram buckets stay cumulative) in the 0.0.4 text
//! format without compression, and counts the scrapes it answered, which
//! gives the samples each scraper read in the measured window.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{clock_ticks, cpu_seconds, free_port, rss_mib, spawn_ready};

const EXPORTER_ENV: &str = "NINES_BENCH_EXPORTER";

struct Args {
    targets: usize,
    series: usize,
    warmup: u64,
    measure: u64,
    peers: Vec<String>,
    cpu: String,
}

fn args() -> Args {
    let mut a = Args {
        targets: 1000,
        series: 1000,
        warmup: 30,
        measure: 60,
        peers: vec!["nines".into(), "prometheus".into(), "victoria-metrics".into()],
        cpu: "1".into(),
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i + 1 < argv.len() {
        let v = argv[i + 1].clone();
        match argv[i].as_str() {
            "--targets-per-job" => a.targets = v.parse().expect("--targets-per-job N"),
            "--series" => a.series = v.parse().expect("--series N"),
            "--warmup" => a.warmup = v.parse().expect("--warmup SECONDS"),
            "--measure" => a.measure = v.parse().expect("--measure SECONDS"),
            "--peers" => a.peers = v.split(',').map(String::from).collect(),
            "--server-cpu" => a.cpu = v,
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

// ---- the fake exporter -------------------------------------------------

/// Renders target `shard`'s page for its `n`-th scrape: `series` lines in
/// ten families, values that move like real ones.
fn render(shard: usize, n: u64, series: usize, out: &mut String) {
    use std::fmt::Write as _;
    out.clear();
    let per_family = series.div_ceil(10).max(1);
    let mut written = 0;
    let mix = |i: usize| ((shard as u64 * 1_000_003 + i as u64 * 7919 + n * 104_729) % 1000) as f64;
    let families = [
        ("bench_http_requests_total", "counter"),
        ("bench_http_request_duration_seconds_bucket", "histogram"),
        ("bench_process_resident_memory_bytes", "gauge"),
        ("bench_queue_depth", "gauge"),
        ("bench_cache_hits_total", "counter"),
        ("bench_cache_misses_total", "counter"),
        ("bench_db_connections", "gauge"),
        ("bench_errors_total", "counter"),
        ("bench_temperature_celsius", "gauge"),
        ("bench_bytes_sent_total", "counter"),
    ];
    let bounds = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
    ];
    for (f, (name, kind)) in families.iter().enumerate() {
        let _ = writeln!(out, "# HELP {name} Benchmark family {f}.\n# TYPE {name} {kind}");
        for i in 0..per_family {
            if written == series {
                break;
            }
            let id = f * per_family + i;
            match *kind {
                "counter" => {
                    let v = (n * 10 + (mix(id) as u64 % 10)) as f64 * (1 + id % 7) as f64;
                    let _ = writeln!(out, "{name}{{handler=\"/api/v1/item{i}\",code=\"200\"}} {v}");
                }
                "histogram" => {
                    let b = i % bounds.len();
                    let route = i / bounds.len();
                    let v = n * (b as u64 + 1) * 3;
                    let _ = writeln!(out, "{name}{{route=\"/r{route}\",le=\"{}\"}} {v}", bounds[b]);
                }
                _ => {
                    let v = mix(id) * 1.5 + (id % 13) as f64 / 8.0;
                    let _ = writeln!(out, "{name}{{slot=\"{i}\"}} {v}");
                }
            }
            written += 1;
        }
    }
}

fn exporter_main(port: u16, series: usize) {
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("exporter bind");
    let served = Arc::new(AtomicU64::new(0));
    let scrapes_per_shard = Arc::new(shard_counts::Counters::default());
    for conn in listener.incoming().flatten() {
        let served = served.clone();
        let per_shard = scrapes_per_shard.clone();
        std::thread::spawn(move || serve_conn(conn, &served, &per_shard, series));
    }
}

mod shard_counts {
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// How often each shard has been scraped, for its values.
    #[derive(Default)]
    pub struct Counters(Mutex<HashMap<usize, u64>>);

    impl Counters {
        pub fn next(&self, shard: usize) -> u64 {
            let mut m = self.0.lock().unwrap();
            let n = m.entry(shard).or_insert(0);
            *n += 1;
            *n
        }
    }
}

fn serve_conn(conn: TcpStream, served: &AtomicU64, per_shard: &shard_counts::Counters, series: usize) {
    let _ = conn.set_nodelay(true);
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let mut writer = conn;
    let mut body = String::with_capacity(series * 64);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        // Skip headers.
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" || h == "\n" {
                break;
            }
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or("/");
        let reply = if path == "/count" {
            served.load(Ordering::Relaxed).to_string()
        } else if let Some(shard) = path.strip_prefix("/m/").and_then(|s| s.parse::<usize>().ok()) {
            render(shard, per_shard.next(shard), series, &mut body);
            served.fetch_add(1, Ordering::Relaxed);
            std::mem::take(&mut body)
        } else {
            String::new()
        };
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4; charset=utf-8\r\ncontent-length: {}\r\n\r\n",
            reply.len()
        );
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
        if path == "/count" {
            // The driver reads the count until the connection closes.
            return;
        }
        body = reply;
    }
}

// ---- the driver ----------------------------------------------------------

fn scrape_config(exporter: &str, targets: usize) -> String {
    let mut s = String::from("global:\n  scrape_interval: 15s\n  scrape_timeout: 10s\nscrape_configs:\n- job_name: bench\n  static_configs:\n");
    for i in 0..targets {
        s.push_str(&format!(
            "  - targets: ['{exporter}']\n    labels:\n      __metrics_path__: /m/{i}\n      shard: '{i}'\n"
        ));
    }
    s
}

fn start(peer: &str, cpu: &str, dir: &Path, config: &Path) -> (Child, String) {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let data = dir.join(peer);
    std::fs::create_dir_all(&data).expect("data dir");
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", cpu]);
    match peer {
        "nines" => {
            cmd.arg(env!("CARGO_BIN_EXE_nines"))
                .args(["serve", "--listen", &addr, "--log-level", "warn", "--config"])
                .arg(config)
                .arg("--data-dir")
                .arg(&data);
        }
        "prometheus" => {
            cmd.arg("prometheus")
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.tsdb.path={}", data.display()))
                .arg(format!("--web.listen-address={addr}"));
        }
        "victoria-metrics" => {
            cmd.arg("victoria-metrics")
                .arg(format!("-storageDataPath={}", data.display()))
                .arg(format!("-httpListenAddr={addr}"))
                .arg(format!("-promscrape.config={}", config.display()))
                .args(["-loggerLevel=ERROR"]);
        }
        other => panic!("unknown peer {other}"),
    }
    let base = format!("http://{addr}");
    let child = spawn_ready(cmd, peer, &base);
    (child, base)
}

fn exporter_count(exporter: &str) -> u64 {
    let mut s = TcpStream::connect(exporter).expect("exporter");
    s.write_all(b"GET /count HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("ask");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.rsplit("\r\n\r\n")
        .next()
        .and_then(|b| b.trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    if let Ok(spec) = std::env::var(EXPORTER_ENV) {
        let (port, series) = spec.split_once(':').expect("PORT:SERIES");
        exporter_main(port.parse().expect("port"), series.parse().expect("series"));
        return;
    }
    let a = args();
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let exporter_addr = format!("127.0.0.1:{port}");
    let mut exporter = Command::new(std::env::current_exe().expect("self"))
        .env(EXPORTER_ENV, format!("{port}:{}", a.series))
        .stdout(Stdio::null())
        .spawn()
        .expect("start exporter");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&exporter_addr).is_err() {
        assert!(Instant::now() < deadline, "exporter did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let config = dir.path().join("scrape.yml");
    std::fs::write(&config, scrape_config(&exporter_addr, a.targets)).expect("config");
    let ticks = clock_ticks();
    println!(
        "scraping {} targets x {} series every 15s; warmup {}s, measured {}s, scraper on CPU {}",
        a.targets, a.series, a.warmup, a.measure, a.cpu
    );
    println!(
        "{:<18} {:>10} {:>12} {:>10} {:>16} {:>12}",
        "peer", "scrapes", "samples", "CPU s", "CPU s/M samples", "peak RSS MiB"
    );
    for peer in &a.peers {
        let (mut child, _base) = start(peer, &a.cpu, dir.path(), &config);
        std::thread::sleep(Duration::from_secs(a.warmup));
        let (c0, s0) = (cpu_seconds(child.id(), ticks), exporter_count(&exporter_addr));
        std::thread::sleep(Duration::from_secs(a.measure));
        let (c1, s1) = (cpu_seconds(child.id(), ticks), exporter_count(&exporter_addr));
        let rss = rss_mib(child.id(), "VmHWM:");
        let scrapes = s1 - s0;
        let samples = scrapes * a.series as u64;
        let cpu = c1 - c0;
        println!(
            "{:<18} {:>10} {:>12} {:>10.2} {:>16.3} {:>12.1}",
            peer,
            scrapes,
            samples,
            cpu,
            cpu / (samples as f64 / 1e6),
            rss
        );
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = exporter.kill();
    let _ = exporter.wait();
}
