//! End-to-end remote_write ingestion, side by side: the same load sent to a
//! running `nines serve`, Debian's Prometheus (`--web.enable-remote-write-receiver`)
//! and VictoriaMetrics, each pinned to one core with `taskset`. Reports
//! samples per CPU-second of the server, peak RSS and disk bytes per sample.
//!
//! Run (release build of nines is used):
//!   taskset -c 0 cargo bench -p nines --bench ingest_e2e -- [--series N] [--hours H]
//!       [--targets nines,prometheus,victoria-metrics] [--server-cpu 1] [--shuffle]
//!
//! The load: N series (default 100,000) of `Workload` data, H hours
//! (default 2) at a 15 s interval filling the most recent complete 2 h
//! window (as data settles in every store: one block range), sent one scrape at a time in
//! remote_write requests of 2,000 series × 1 sample (Prometheus's default
//! `max_samples_per_send`), 4 requests in flight.

mod support;
#[path = "../../nines-tsdb/benches/workload.rs"]
mod workload;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::prompb::{encode_labels, put_field_bytes, put_varint};
use support::{clock_ticks, cpu_seconds, du, du_entry, free_port, rss_mib, spawn_ready};
use workload::{series_labels, Workload};

const STEP_MS: i64 = 15_000;
const BATCH: usize = 2_000;
const IN_FLIGHT: usize = 4;

struct Args {
    series: usize,
    hours: f64,
    targets: Vec<String>,
    cpu: String,
    /// Send the series in a new random order every scrape: the worst case
    /// for nines's series-order hint (real senders keep their order).
    shuffle: bool,
}

fn args() -> Args {
    let mut a = Args {
        series: 100_000,
        hours: 2.0,
        targets: vec!["nines".into(), "prometheus".into(), "victoria-metrics".into()],
        cpu: "1".into(),
        shuffle: false,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let val = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--series" => a.series = val.parse().expect("--series N"),
            "--hours" => a.hours = val.parse().expect("--hours H"),
            "--targets" => a.targets = val.split(',').map(String::from).collect(),
            "--server-cpu" => a.cpu = val,
            "--shuffle" => {
                a.shuffle = true;
                i += 1;
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

/// One snappy-compressed `WriteRequest` for series `range` at time `t`.
fn encode_request(labels: &[Vec<u8>], values: &[f64], series: &[usize], t: i64) -> Vec<u8> {
    let mut req = Vec::with_capacity(series.len() * 200);
    let mut ts = Vec::with_capacity(256);
    let mut sample = Vec::with_capacity(20);
    for &i in series {
        ts.clear();
        ts.extend_from_slice(&labels[i]);
        sample.clear();
        sample.push(0x09);
        sample.extend_from_slice(&values[i].to_bits().to_le_bytes());
        sample.push(0x10);
        put_varint(&mut sample, t as u64);
        put_field_bytes(&mut ts, 0x12, &sample);
        put_field_bytes(&mut req, 0x0a, &ts);
    }
    snap::raw::Encoder::new().compress_vec(&req).expect("snappy")
}

struct Target {
    name: String,
    child: Child,
    base: String,
    data: PathBuf,
}

fn start(name: &str, cpu: &str, dir: &Path) -> Target {
    let port = free_port();
    let data = dir.join(name);
    std::fs::create_dir_all(&data).expect("data dir");
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", cpu]);
    match name {
        "nines" => {
            cmd.arg(env!("CARGO_BIN_EXE_nines"))
                .args(["serve", "--listen", &addr, "--log-level", "warn", "--data-dir"])
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
        "victoria-metrics" => {
            cmd.arg("victoria-metrics")
                .arg(format!("-storageDataPath={}", data.display()))
                .arg(format!("-httpListenAddr={addr}"))
                .args(["-retentionPeriod=10y", "-loggerLevel=ERROR"]);
        }
        other => panic!("unknown target {other}"),
    }
    let base = format!("http://{addr}");
    let child = spawn_ready(cmd, name, &base);
    Target {
        name: name.into(),
        child,
        base,
        data,
    }
}

fn main() {
    let a = args();
    let ticks = clock_ticks();
    let dir = tempfile::tempdir().expect("tempdir");
    let labels: Vec<Vec<u8>> = (0..a.series).map(|i| encode_labels(&series_labels(i))).collect();
    let steps = (a.hours * 3_600_000.0 / STEP_MS as f64) as usize;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let window = 2 * 3_600_000;
    let first = now - now % window - steps as i64 * STEP_MS;
    let samples = (steps * a.series) as f64;
    println!(
        "load: {} series x {steps} samples = {samples} samples, server pinned to CPU {}",
        a.series, a.cpu
    );
    let batches: Vec<std::ops::Range<usize>> = (0..a.series)
        .step_by(BATCH)
        .map(|s| s..(s + BATCH).min(a.series))
        .collect();
    for name in &a.targets {
        let mut t = start(name, &a.cpu, dir.path());
        let pid = t.child.id();
        let cpu0 = cpu_seconds(pid, ticks);
        let wall = Instant::now();
        let agent = ureq::AgentBuilder::new()
            .max_idle_connections_per_host(IN_FLIGHT)
            .build();
        let url = format!("{}/api/v1/write", t.base);
        let mut work = Workload::new(a.series);
        let mut values = vec![0.0; a.series];
        let mut order: Vec<usize> = (0..a.series).collect();
        let mut rng = workload::Rng(0x5EED);
        for k in 0..steps {
            work.step();
            for (i, v) in values.iter_mut().enumerate() {
                *v = work.value(i);
            }
            if a.shuffle {
                for i in (1..order.len()).rev() {
                    order.swap(i, rng.below(i as u64 + 1) as usize);
                }
            }
            let ts = first + k as i64 * STEP_MS;
            let next = AtomicUsize::new(0);
            // Requests of one scrape go out in parallel; the next scrape
            // waits, so each series' samples arrive in order.
            std::thread::scope(|s| {
                for _ in 0..IN_FLIGHT {
                    s.spawn(|| loop {
                        let b = next.fetch_add(1, Ordering::Relaxed);
                        let Some(range) = batches.get(b) else { break };
                        let body = encode_request(&labels, &values, &order[range.clone()], ts);
                        let r = agent
                            .post(&url)
                            .set("Content-Type", "application/x-protobuf")
                            .set("Content-Encoding", "snappy")
                            .set("X-Prometheus-Remote-Write-Version", "0.1.0")
                            .send_bytes(&body);
                        if let Err(e) = r {
                            panic!("{name}: write failed: {e}");
                        }
                    });
                }
            });
        }
        let ingest_wall = wall.elapsed().as_secs_f64();
        let rss_ingested = rss_mib(pid, "VmRSS:");
        // Let each server persist what it holds the way it does on its own
        // (nines: flush the head to a block; VictoriaMetrics: flush parts).
        match name.as_str() {
            "nines" => {
                ureq::post(&format!("{}/api/v1/admin/flush", t.base))
                    .call()
                    .expect("flush");
            }
            "victoria-metrics" => {
                ureq::get(&format!("{}/internal/force_flush", t.base))
                    .call()
                    .expect("force_flush");
                std::thread::sleep(Duration::from_secs(5));
            }
            _ => {}
        }
        let cpu = cpu_seconds(pid, ticks) - cpu0;
        let rss = rss_mib(pid, "VmHWM:");
        let disk = du(&t.data);
        let mut parts: Vec<String> = std::fs::read_dir(&t.data)
            .map(|rd| {
                rd.flatten()
                    .map(|e| {
                        format!(
                            "{}={:.3}",
                            e.file_name().to_string_lossy(),
                            du_entry(&e.path()) as f64 / samples
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        parts.sort();
        println!(
            "{:<17} {:>6.2} CPU-s per million samples  {:>10.0} samples/CPU-s  peak RSS {:>7.1} MiB (after ingest {:>7.1})  disk {:>5.2} bytes/sample  (wall {:.1}s)",
            t.name,
            cpu / samples * 1e6,
            samples / cpu,
            rss,
            rss_ingested,
            disk as f64 / samples,
            ingest_wall
        );
        println!(
            "{:<17} disk bytes/sample by top-level entry: {}",
            t.name,
            parts.join(" ")
        );
        if name == "nines" {
            for b in std::fs::read_dir(t.data.join("blocks")).into_iter().flatten().flatten() {
                let meta = std::fs::read_to_string(b.path().join("meta.json")).unwrap_or_default();
                println!("  block {}", meta.split_whitespace().collect::<Vec<_>>().join(" "));
            }
        }
        let _ = t.child.kill();
        let _ = t.child.wait();
    }
}
