//! Shared helpers: run the real `nines` binary on a loopback port and talk
//! to it the way senders do.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prost::Message;

pub mod exporter;
pub mod prometheus;
pub mod raw;
pub mod receiver;
pub mod traffic;

pub struct Server {
    pub child: Child,
    pub url: String,
    pub data_dir: PathBuf,
    /// Everything the server logged so far.
    pub stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `nines serve` on an ephemeral port; extra args are appended.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nines"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(["--log-level", "warn"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nines");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read stdout");
        let Some(url) = line.trim().strip_prefix("nines listening on ") else {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("nines did not start: {line:?} {err}");
        };
        // Drain stderr so a chatty server never blocks on a full pipe.
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(mut e) = child.stderr.take() {
            let sink = stderr.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = e.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        Server {
            url: url.to_string(),
            child,
            data_dir: data_dir.to_path_buf(),
            stderr,
        }
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill9(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("wait");
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM");
        assert!(status.success());
        let exit = self.child.wait().expect("wait");
        assert!(exit.success(), "nines exited with {exit}");
    }

    /// GETs `path`, expecting 200 and JSON.
    pub fn get_json(&self, path: &str) -> serde_json::Value {
        let (code, body) = self.get(path);
        assert_eq!(code, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        response(ureq::get(&format!("{}{path}", self.url)).call())
    }

    pub fn post(&self, path: &str, content_type: &str, body: &[u8]) -> (u16, String) {
        response(
            ureq::post(&format!("{}{path}", self.url))
                .set("Content-Type", content_type)
                .send_bytes(body),
        )
    }

    /// Runs the `nines` CLI against this server: whether it succeeded,
    /// and its stdout followed by its stderr.
    pub fn cli(&self, args: &[&str]) -> (bool, String) {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_nines"))
            .args(args)
            .args(["--server", &self.url])
            .env("USER", "ana")
            .output()
            .expect("run nines");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    }

    pub fn delete(&self, path: &str) -> (u16, String) {
        response(ureq::delete(&format!("{}{path}", self.url)).call())
    }

    pub fn remote_write(&self, req: &WriteRequest) -> (u16, String) {
        remote_write_to(&self.url, req)
    }

    /// Every exported line for a selector, as JSON values.
    pub fn export(&self, selector: &str) -> Vec<serde_json::Value> {
        let (code, body) = self.get(&format!("/api/v1/export?match[]={}", encode(selector)));
        assert_eq!(code, 200, "{body}");
        body.lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn response(r: Result<ureq::Response, ureq::Error>) -> (u16, String) {
    match r {
        Ok(resp) => (resp.status(), resp.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, resp)) => (code, resp.into_string().unwrap_or_default()),
        Err(e) => panic!("transport error: {e}"),
    }
}

// The remote_write v1 messages, hand-declared for prost: the same wire
// format Prometheus's prompb package produces.
#[derive(Clone, PartialEq, Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}
#[derive(Clone, PartialEq, Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}
#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}
#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

pub fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: labels
            .iter()
            .map(|(n, v)| Label {
                name: n.to_string(),
                value: v.to_string(),
            })
            .collect(),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| Sample { value, timestamp })
            .collect(),
    }
}

/// (timestamps, values) of an exported line.
pub fn points(line: &serde_json::Value) -> Vec<(i64, f64)> {
    let ts = line["timestamps"].as_array().expect("timestamps");
    let vs = line["values"].as_array().expect("values");
    ts.iter()
        .zip(vs)
        .map(|(t, v)| (t.as_i64().unwrap(), v.as_f64().unwrap_or(f64::NAN)))
        .collect()
}

/// Polls `check` until it returns `Some`, failing after `limit`. For
/// waiting on what a running server does on its own schedule.
pub fn wait_until<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends a remote_write 1.0 request to any receiver (nines, Prometheus).
pub fn remote_write_to(base_url: &str, req: &WriteRequest) -> (u16, String) {
    let raw = req.encode_to_vec();
    let body = snap::raw::Encoder::new().compress_vec(&raw).expect("snappy");
    response(
        ureq::post(&format!("{base_url}/api/v1/write"))
            .set("Content-Type", "application/x-protobuf")
            .set("Content-Encoding", "snappy")
            .set("X-Prometheus-Remote-Write-Version", "0.1.0")
            .send_bytes(&body),
    )
}

/// Writes `yaml` as a config in `dir` and runs `nines check` on it:
/// whether it passed, and what it printed to stderr.
pub fn check_config(dir: &Path, yaml: &str) -> (bool, String) {
    let config = dir.join("nines.yaml");
    std::fs::write(&config, yaml).expect("write config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nines"))
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .expect("run nines check");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}
