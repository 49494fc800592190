//! Process measurements shared by the end-to-end benchmarks: ports, CPU
//! time and memory from /proc, disk usage.
#![allow(dead_code)]

pub mod prompb;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// User + system CPU seconds of a process.
pub fn cpu_seconds(pid: u32, ticks: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // utime and stime are fields 14 and 15; count after the command name,
    // which may contain spaces but ends with ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (field(11) + field(12)) / ticks
}

/// A memory figure from /proc/PID/status (`VmHWM:` is the peak RSS).
pub fn rss_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

pub fn du(path: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(path) {
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            total += if m.is_dir() { du(&e.path()) } else { m.len() };
        }
    }
    total
}

pub fn du_entry(path: &Path) -> u64 {
    if path.is_dir() {
        du(path)
    } else {
        std::fs::metadata(path).map_or(0, |m| m.len())
    }
}

/// Starts a server (output discarded) and waits until its readiness
/// endpoint answers: `/health` for VictoriaMetrics, `/-/ready` otherwise.
pub fn spawn_ready(mut cmd: Command, name: &str, base: &str) -> Child {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    let ready = if name == "victoria-metrics" {
        "/health"
    } else {
        "/-/ready"
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while ureq::get(&format!("{base}{ready}")).call().is_err() {
        assert!(Instant::now() < deadline, "{name} did not become ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    child
}
