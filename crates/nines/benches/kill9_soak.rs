//! kill -9 soak: writers of every kind (remote_write and import samples,
//! incidents, silences, deploys, gate overrides) run against a real
//! `nines serve` while it is killed with SIGKILL at a random moment; after
//! each restart every acknowledged write must be found. The data folder
//! carries over from trial to trial, so later trials also restart over
//! everything the earlier ones left.
//!
//! `cargo bench -p nines --bench kill9_soak -- --trials 44 --writers 4`

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::prompb::{encode_labels, encode_series};

struct Args {
    trials: usize,
    writers: usize,
    seed: u64,
}

fn args() -> Args {
    let mut a = Args {
        trials: 20,
        writers: 4,
        seed: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.windows(2) {
        match pair[0].as_str() {
            "--trials" => a.trials = pair[1].parse().expect("--trials N"),
            "--writers" => a.writers = pair[1].parse().expect("--writers N"),
            "--seed" => a.seed = pair[1].parse().expect("--seed N"),
            _ => {}
        }
    }
    a
}

/// One acknowledged write and how to find it again.
#[derive(Debug, Clone)]
enum Ack {
    /// A sample of series `soak{writer, kind}` at `t`.
    Sample {
        kind: &'static str,
        writer: usize,
        t: i64,
        v: f64,
    },
    /// An object a GET of `path` must return, recognised by `needle`.
    Object {
        what: &'static str,
        path: String,
        needle: String,
    },
}

/// xorshift: reproducible kill moments from `--seed`.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn start(data: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nines"))
        .args(["serve", "--listen", "127.0.0.1:0", "--log-level", "error", "--data-dir"])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nines");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the listening line");
    let url = line
        .trim()
        .strip_prefix("nines listening on ")
        .expect("listening line")
        .to_string();
    (child, url)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// POSTs and returns the JSON answer when the write was acknowledged.
fn post(agent: &ureq::Agent, url: &str, content_type: &str, body: &[u8]) -> Option<serde_json::Value> {
    let resp = agent
        .post(url)
        .set("Content-Type", content_type)
        .send_bytes(body)
        .ok()?;
    let status = resp.status();
    let text = resp.into_string().ok()?;
    ((200..300).contains(&status)).then(|| serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
}

/// One writer: every kind in turn until the server is gone.
fn write_until_gone(url: &str, writer: usize, round_base: u64, acks: &Mutex<Vec<Ack>>, stop: &AtomicBool) {
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(10)).build();
    let mut round = 0u64;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        let n = round_base + round;
        let t = now_ms();
        let v = n as f64;
        let labels = encode_labels(&[
            ("__name__".into(), "soak".into()),
            ("kind".into(), "remote_write".into()),
            ("writer".into(), writer.to_string()),
        ]);
        let body = encode_series(&[(&labels, &[(t, v)])]);
        let written = agent
            .post(&format!("{url}/api/v1/write"))
            .set("Content-Encoding", "snappy")
            .send_bytes(&body)
            .is_ok_and(|r| r.status() == 204);
        if !written {
            return;
        }
        acks.lock().unwrap().push(Ack::Sample {
            kind: "remote_write",
            writer,
            t,
            v,
        });

        let line = format!(
            r#"{{"metric":{{"__name__":"soak","kind":"import","writer":"{writer}"}},"values":[{v}],"timestamps":[{t}]}}"#
        );
        if post(
            &agent,
            &format!("{url}/api/v1/import"),
            "application/json",
            line.as_bytes(),
        )
        .is_none()
        {
            return;
        }
        acks.lock().unwrap().push(Ack::Sample {
            kind: "import",
            writer,
            t,
            v,
        });

        let objects = [
            (
                "incident",
                "/api/v1/incidents",
                format!(r#"{{"title":"soak {writer}/{n}","severity":"SEV4","services":["soak"]}}"#),
                "/data/id",
            ),
            (
                "silence",
                "/api/v1/silences",
                format!(
                    r#"{{"matchers":[{{"name":"writer","value":"{writer}-{n}","isRegex":false}}],"startsAt":"2030-01-01T00:00:00Z","endsAt":"2030-01-02T00:00:00Z","createdBy":"soak","comment":"soak"}}"#
                ),
                "/data/silenceID",
            ),
            (
                "deploy",
                "/api/v1/deploys",
                format!(r#"{{"service":"soak","environment":"production","version":"v{writer}.{n}"}}"#),
                "/data/id",
            ),
            (
                "gate override",
                "/api/v1/gate/overrides",
                format!(r#"{{"service":"soak{writer}x{n}","reason":"soak","duration":"1h","created_by":"soak"}}"#),
                "/data/id",
            ),
        ];
        for (what, endpoint, body, id_at) in objects {
            let Some(answer) = post(&agent, &format!("{url}{endpoint}"), "application/json", body.as_bytes()) else {
                return;
            };
            let id = answer.pointer(id_at).cloned().unwrap_or_default();
            let (path, needle) = match (what, &id) {
                ("incident", serde_json::Value::Number(id)) => {
                    (format!("/api/v1/incidents/{id}"), format!("\"id\":{id},"))
                }
                ("silence", serde_json::Value::String(id)) => (format!("/api/v1/silences/{id}"), format!("\"{id}\"")),
                // The log lists by time, then id: a deploy decoded earlier
                // may get the later id, so look a little past it.
                ("deploy", serde_json::Value::Number(id)) => (
                    format!(
                        "/api/v1/events?after={}&limit=100&kind=deploy",
                        id.as_i64().unwrap_or(1) - 1
                    ),
                    format!("\"id\":{id},"),
                ),
                ("gate override", serde_json::Value::Number(id)) => (
                    format!("/api/v1/gate/overrides?service=soak{writer}x{n}"),
                    format!("\"id\":{id},"),
                ),
                _ => panic!("{what}: no id in {answer}"),
            };
            acks.lock().unwrap().push(Ack::Object { what, path, needle });
        }
    }
}

/// Every acknowledged write that cannot be found after the restart.
fn missing(url: &str, acks: &[Ack]) -> Vec<String> {
    let agent = ureq::agent();
    let get = |path: &str| -> String {
        agent
            .get(&format!("{url}{path}"))
            .call()
            .ok()
            .and_then(|r| r.into_string().ok())
            .unwrap_or_default()
    };
    let mut samples: std::collections::HashMap<(String, String), std::collections::HashMap<i64, f64>> =
        std::collections::HashMap::new();
    for line in get("/api/v1/export?match[]=soak").lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
        let key = (
            v["metric"]["kind"].as_str().unwrap_or("").to_string(),
            v["metric"]["writer"].as_str().unwrap_or("").to_string(),
        );
        let entry = samples.entry(key).or_default();
        for (t, val) in v["timestamps"]
            .as_array()
            .into_iter()
            .flatten()
            .zip(v["values"].as_array().into_iter().flatten())
        {
            entry.insert(t.as_i64().unwrap_or(0), val.as_f64().unwrap_or(f64::NAN));
        }
    }
    let mut lost = Vec::new();
    for ack in acks {
        match ack {
            Ack::Sample { kind, writer, t, v } => {
                let found = samples
                    .get(&(kind.to_string(), writer.to_string()))
                    .and_then(|m| m.get(t))
                    .is_some_and(|got| got == v);
                if !found {
                    lost.push(format!("{kind} sample writer {writer} at {t}"));
                }
            }
            Ack::Object { what, path, needle } => {
                let body = get(path);
                if !(body.contains("\"status\":\"success\"") && body.contains(needle.as_str())) {
                    lost.push(format!("{what} {path}: {body:.200}"));
                }
            }
        }
    }
    lost
}

fn main() {
    let a = args();
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let mut rng = a.seed.max(1);
    let mut total_acks = 0usize;
    let mut total_lost = 0usize;
    let mut restarts = Vec::new();
    let mut all: Vec<Ack> = Vec::new();
    println!(
        "kill -9 soak: {} trials, {} writers, seed {}",
        a.trials, a.writers, a.seed
    );
    for trial in 0..a.trials {
        let (mut child, url) = start(&data);
        let acks = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..a.writers)
            .map(|w| {
                let (url, acks, stop) = (url.clone(), acks.clone(), stop.clone());
                let base = (trial as u64) << 32;
                std::thread::spawn(move || write_until_gone(&url, w, base, &acks, &stop))
            })
            .collect();
        // A random moment between 0.2 and 2.2 s into the writes.
        let wait = Duration::from_millis(200 + next(&mut rng) % 2000);
        std::thread::sleep(wait);
        child.kill().expect("kill -9");
        child.wait().expect("reap");
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            let _ = w.join();
        }
        let acked = std::mem::take(&mut *acks.lock().unwrap());
        all.extend(acked.iter().cloned());
        let started = Instant::now();
        let (mut check, url) = start(&data);
        restarts.push(started.elapsed());
        // Everything acknowledged in every trial so far is still there.
        let lost = missing(&url, &all);
        println!(
            "trial {trial:>3}: killed after {:>5} ms, {:>5} writes acknowledged, {} lost, restart {:>4} ms",
            wait.as_millis(),
            acked.len(),
            lost.len(),
            restarts[restarts.len() - 1].as_millis()
        );
        for l in lost.iter().take(5) {
            println!("  lost: {l}");
        }
        total_acks += acked.len();
        total_lost += lost.len();
        check.kill().expect("kill -9");
        check.wait().expect("reap");
    }
    restarts.sort();
    let p = |q: f64| restarts[((restarts.len() - 1) as f64 * q).round() as usize].as_millis();
    println!(
        "total: {total_acks} acknowledged writes over {} trials, {total_lost} lost; restart to listening p50 {} ms, max {} ms",
        a.trials,
        p(0.5),
        p(1.0)
    );
    assert_eq!(total_lost, 0, "acknowledged writes were lost");
}
