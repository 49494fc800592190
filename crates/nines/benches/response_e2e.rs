//! The response pipeline end to end, side by side with Debian's
//! Alertmanager: alerts posted over HTTP, routed with `group_wait: 0s`,
//! delivered to a webhook receiver in this process.
//!
//! Run (release build):
//!   cargo bench -p nines --bench response_e2e -- [--latency-runs N]
//!       [--targets nines,alertmanager]
//!
//! Two measures:
//! - latency: one alert at a time, each its own group, from the moment
//!   the POST that makes it firing is sent to the moment the receiver has
//!   the notification (p50, p99, max over N runs, default 200);
//! - throughput: 10,000 firing alerts in 100 groups of 100, each group
//!   posted in one request, four requests in flight; the time until every
//!   group's notification arrived with all of its alerts, and each group's
//!   own latency (so a group held up by another shows in the p99 and max).

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::{free_port, spawn_ready};

const GROUPS: usize = 100;
const PER_GROUP: usize = 100;
const IN_FLIGHT: usize = 4;

/// What the receiver saw: a group label value, how many alerts, when.
type Seen = (String, usize, Instant);

/// A webhook receiver on loopback that reports each notification's
/// group (the `alertname` or `group` group label) and alert count.
fn receiver() -> (String, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let Ok(clone) = conn.try_clone() else { return };
                let mut reader = BufReader::new(clone);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut length = 0usize;
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        if h == "\r\n" {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let at = Instant::now();
                    let mut out = &conn;
                    let _ = out.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    let g = &v["groupLabels"];
                    let key = g["group"]
                        .as_str()
                        .or(g["alertname"].as_str())
                        .unwrap_or("")
                        .to_string();
                    let firing = v["alerts"]
                        .as_array()
                        .map_or(0, |a| a.iter().filter(|x| x["status"] == "firing").count());
                    let _ = tx.send((key, firing, at));
                }
            });
        }
    });
    (url, rx)
}

struct Target {
    name: &'static str,
    child: Child,
    /// POST url and whether the body is nines's generic shape.
    post: String,
    generic: bool,
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `group_interval` matters to the throughput run only: a server that
/// flushes a group on its first alert sends the rest that much later.
fn route(hook: &str, group_by: &str, group_interval: &str) -> String {
    format!(
        "route:\n  receiver: hook\n  group_by: [{group_by}]\n  group_wait: 0s\n  group_interval: {group_interval}\n  repeat_interval: 4h\nreceivers:\n- name: hook\n  webhook_configs:\n  - url: {hook}\n"
    )
}

fn start(name: &'static str, dir: &Path, hook: &str, group_by: &str, group_interval: &str) -> Target {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let config = dir.join(format!("{name}.yml"));
    std::fs::write(&config, route(hook, group_by, group_interval)).expect("write config");
    let data = dir.join(format!("{name}-data"));
    let _ = std::fs::remove_dir_all(&data);
    match name {
        "nines" => {
            let bin = env!("CARGO_BIN_EXE_nines");
            let mut cmd = Command::new(bin);
            cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
                .arg(&data)
                .arg("--config")
                .arg(&config);
            Target {
                name,
                child: spawn_ready(cmd, name, &base),
                post: format!("{base}/api/v1/integrations/generic"),
                generic: true,
            }
        }
        _ => {
            let mut cmd = Command::new("/usr/bin/prometheus-alertmanager");
            cmd.arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.path={}", data.display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--cluster.listen-address=");
            Target {
                name,
                child: spawn_ready(cmd, name, &base),
                post: format!("{base}/api/v2/alerts"),
                generic: false,
            }
        }
    }
}

fn body(t: &Target, alerts: &[serde_json::Value]) -> String {
    if t.generic {
        serde_json::json!({"alerts": alerts}).to_string()
    } else {
        serde_json::Value::Array(alerts.to_vec()).to_string()
    }
}

fn post(t: &Target, body: &str) {
    let r = ureq::post(&t.post)
        .set("Content-Type", "application/json")
        .send_string(body);
    if let Err(e) = r {
        panic!("{}: posting alerts failed: {e}", t.name);
    }
}

fn alert(labels: &[(&str, String)]) -> serde_json::Value {
    let labels: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.clone())))
        .collect();
    serde_json::json!({"labels": labels, "annotations": {"summary": "benchmark"}})
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn summary(mut ms: Vec<f64>) -> String {
    ms.sort_by(|a, b| a.total_cmp(b));
    format!(
        "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        ms.last().copied().unwrap_or(f64::NAN)
    )
}

/// Each alert has a name of its own (`prefix` and a number): a new group.
fn latency(t: &Target, rx: &mpsc::Receiver<Seen>, prefix: &str, runs: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(runs);
    for i in 0..runs {
        let name = format!("{prefix}{i}");
        let sent = Instant::now();
        post(t, &body(t, &[alert(&[("alertname", name.clone())])]));
        loop {
            let (key, _, at) = rx
                .recv_timeout(Duration::from_secs(60))
                .expect("notification within 60 s");
            if key == name {
                out.push(at.duration_since(sent).as_secs_f64() * 1000.0);
                break;
            }
        }
    }
    out
}

fn throughput(t: &Target, rx: &mpsc::Receiver<Seen>) -> Throughput {
    let bodies: Vec<(String, String)> = (0..GROUPS)
        .map(|g| {
            let group = format!("g{g}");
            let alerts: Vec<serde_json::Value> = (0..PER_GROUP)
                .map(|i| {
                    alert(&[
                        ("alertname", "Throughput".into()),
                        ("group", group.clone()),
                        ("instance", format!("i{i}")),
                    ])
                })
                .collect();
            (group, body(t, &alerts))
        })
        .collect();
    let started = Instant::now();
    let mut sent_at: HashMap<String, Instant> = HashMap::new();
    std::thread::scope(|s| {
        let chunks: Vec<&[(String, String)]> = bodies.chunks(GROUPS.div_ceil(IN_FLIGHT)).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|(g, b)| {
                            let at = Instant::now();
                            post(t, b);
                            (g.clone(), at)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            sent_at.extend(h.join().expect("poster"));
        }
    });
    let mut done: HashMap<String, Instant> = HashMap::new();
    let mut first: HashMap<String, Instant> = HashMap::new();
    let mut have: HashMap<String, usize> = HashMap::new();
    while done.len() < GROUPS {
        let (key, firing, at) = rx
            .recv_timeout(Duration::from_secs(600))
            .expect("every group within 10 minutes");
        if !key.starts_with('g') {
            continue;
        }
        first.entry(key.clone()).or_insert(at);
        let n = have.entry(key.clone()).or_default();
        *n = (*n).max(firing);
        if *n == PER_GROUP {
            done.entry(key).or_insert(at);
        }
    }
    let last = done.values().max().copied().unwrap_or(started);
    let since_sent = |m: &HashMap<String, Instant>| {
        m.iter()
            .map(|(g, at)| at.duration_since(sent_at[g]).as_secs_f64() * 1000.0)
            .collect::<Vec<f64>>()
    };
    Throughput {
        total_s: last.duration_since(started).as_secs_f64(),
        first_ms: since_sent(&first),
        complete_ms: since_sent(&done),
    }
}

/// How the 10,000 alerts went.
struct Throughput {
    /// From the first POST to the last group complete.
    total_s: f64,
    /// Per group, from its POST to its first notification.
    first_ms: Vec<f64>,
    /// Per group, from its POST to the notification with all its alerts.
    complete_ms: Vec<f64>,
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let arg = |k: &str| argv.iter().position(|a| a == k).and_then(|i| argv.get(i + 1)).cloned();
    let runs: usize = arg("--latency-runs").and_then(|v| v.parse().ok()).unwrap_or(200);
    let targets = arg("--targets").unwrap_or_else(|| "nines,alertmanager".into());
    let dir = tempfile::tempdir().expect("tempdir");
    for name in targets.split(',') {
        let name: &'static str = if name == "nines" { "nines" } else { "alertmanager" };
        let (hook, rx) = receiver();
        let t = start(name, dir.path(), &hook, "alertname", "5m");
        // Warm up: the first notification opens connections.
        latency(&t, &rx, "Warmup", 3);
        let lat = latency(&t, &rx, "Latency", runs);
        drop(t);
        let (hook, rx) = receiver();
        let t = start(name, dir.path(), &hook, "group", "1s");
        let tp = throughput(&t, &rx);
        println!(
            "{name}: firing to webhook, one alert per group ({runs} runs): {}",
            summary(lat)
        );
        println!(
            "{name}: {} alerts in {GROUPS} groups delivered in {:.2} s ({:.0} alerts/s)",
            GROUPS * PER_GROUP,
            tp.total_s,
            (GROUPS * PER_GROUP) as f64 / tp.total_s,
        );
        println!(
            "{name}:   per group, POST to first notification: {}",
            summary(tp.first_ms)
        );
        println!(
            "{name}:   per group, POST to all its alerts delivered: {}",
            summary(tp.complete_ms)
        );
    }
}
