//! Hostile input against the real binary, family by family: truncated
//! and oversized bodies, wrong content types, invalid UTF-8, extreme
//! numbers and times, deep nesting, path-like parameters. Every answer is
//! a 4xx (or a harmless 2xx for a read) with the error envelope, the
//! server stays up, and nothing stored changes. Then the regressions of
//! the faults an attack found, one test each.

mod common;

use std::io::Write;
use std::time::Duration;

use common::raw::{request, send, send_truncated, Answer};
use common::{series, wait_until, Server, WriteRequest};
use prost::Message;

/// One hostile request.
struct Probe {
    method: &'static str,
    path: Vec<u8>,
    content_type: &'static str,
    body: Vec<u8>,
}

fn probe(
    method: &'static str,
    path: impl Into<Vec<u8>>,
    content_type: &'static str,
    body: impl Into<Vec<u8>>,
) -> Probe {
    Probe {
        method,
        path: path.into(),
        content_type,
        body: body.into(),
    }
}

fn get(path: impl Into<Vec<u8>>) -> Probe {
    probe("GET", path, "", Vec::new())
}

fn json(path: &str, body: impl Into<Vec<u8>>) -> Probe {
    probe("POST", path.as_bytes().to_vec(), "application/json", body)
}

fn deep_json(depth: usize) -> Vec<u8> {
    let mut v = "[".repeat(depth).into_bytes();
    v.extend("]".repeat(depth).bytes());
    v
}

fn snappy(bytes: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(bytes).unwrap()
}

/// The bodies every JSON endpoint gets.
fn json_garbage(path: &'static str) -> Vec<Probe> {
    vec![
        json(path, ""),
        json(path, "{\"title\": \"cut off"),
        json(path, b"{\"title\": \"\xff\xfe\"}".to_vec()),
        json(path, deep_json(100_000)),
        json(path, "{\"startsAt\": 1e400, \"id\": 99999999999999999999999}"),
        json(path, "[1,2,3]"),
        json(path, "null"),
        probe("POST", path, "text/plain", "not json at all"),
        probe(
            "POST",
            path,
            "application/x-www-form-urlencoded",
            "a=%ff&b=..%2F..%2Fetc",
        ),
    ]
}

/// The families, each a list of hostile requests.
fn families() -> Vec<(&'static str, Vec<Probe>)> {
    let extreme_sample = WriteRequest {
        timeseries: vec![
            series(&[("__name__", "seeded")], &[(i64::MIN, 1.0), (i64::MAX, f64::NAN)]),
            series(&[("__name__", "")], &[(1, 1.0)]),
            series(&[("__name__", "bad\u{0}name"), ("le", "x")], &[(1, 1.0)]),
        ],
    }
    .encode_to_vec();
    let otlp_nan = br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"x","gauge":{"dataPoints":[{"timeUnixNano":"NaN","asDouble":1}]}}]}]}]}"#;
    vec![
        (
            "remote_write",
            vec![
                probe("POST", "/api/v1/write", "application/x-protobuf", ""),
                probe("POST", "/api/v1/write", "application/x-protobuf", b"\x00\x01garbage".to_vec()),
                probe("POST", "/api/v1/write", "application/x-protobuf", snappy(b"\x0a\xff\xff\xff\xff\x0f")),
                probe("POST", "/api/v1/write", "application/x-protobuf", snappy(&extreme_sample)),
                probe("POST", "/api/v1/write", "application/json", "{}"),
                probe("POST", "/api/v1/write", "application/x-protobuf;proto=io.prometheus.write.v2.Request", ""),
                // Claims a decompressed size far past the limit.
                probe("POST", "/api/v1/write", "application/x-protobuf", vec![0xff, 0xff, 0xff, 0xff, 0x7f]),
            ],
        ),
        (
            "import",
            vec![
                probe("POST", "/api/v1/import", "application/json", "{\"metric\":"),
                probe("POST", "/api/v1/import", "application/json", b"\xff\xfe\n".to_vec()),
                probe("POST", "/api/v1/import", "application/json", deep_json(100_000)),
                probe(
                    "POST",
                    "/api/v1/import",
                    "application/json",
                    r#"{"metric":{"__name__":"seeded"},"values":[1e400],"timestamps":[99999999999999999999]}"#,
                ),
                probe(
                    "POST",
                    "/api/v1/import",
                    "application/json",
                    r#"{"metric":{"__name__":"seeded"},"values":[1,2],"timestamps":[-9223372036854775808]}"#,
                ),
            ],
        ),
        (
            "otlp",
            vec![
                probe("POST", "/v1/metrics", "application/json", otlp_nan.to_vec()),
                probe("POST", "/v1/metrics", "application/json", deep_json(100_000)),
                probe("POST", "/v1/metrics", "application/x-protobuf", b"\x0a\xff\xff\xff\xff\x0f".to_vec()),
                probe("POST", "/v1/metrics", "text/yaml", "a: b"),
            ],
        ),
        (
            "query",
            vec![
                get("/api/v1/query?query=1&time=NaN"),
                get("/api/v1/query?query=1&time=1e300"),
                get("/api/v1/query?query=seeded%5B100000000y%5D%20offset%20-100000000y"),
                get(format!("/api/v1/query?query={}1{}", "(".repeat(5000), ")".repeat(5000))),
                get("/api/v1/query?query=%FF%FE"),
                get("/api/v1/query?query=up&timeout=-1s"),
                get("/api/v1/query?query=up&limit=-1"),
                get("/api/v1/query_range?query=1&start=-9000000000000000&end=9000000000000000&step=1"),
                get("/api/v1/query_range?query=1&start=0&end=100&step=0"),
                get("/api/v1/query_range?query=1&start=0&end=100&step=1e300"),
                get("/api/v1/query_range?query=1&start=100&end=0&step=1"),
                get("/api/v1/query_range?query=rate(seeded%5B5m%5D)%20%40%209e15&start=9e15&end=9.2e15&step=1e12"),
                probe(
                    "POST",
                    "/api/v1/query",
                    "application/x-www-form-urlencoded",
                    b"query=%ff&time=\xff".to_vec(),
                ),
            ],
        ),
        (
            "metadata",
            vec![
                get("/api/v1/series?match[]=%7B__name__%3D~%22(a%2B)%2B%24%22%7D&start=-1e300&end=1e300"),
                get("/api/v1/series?match[]=%7B%7D"),
                get("/api/v1/labels?start=yesterday"),
                get("/api/v1/label/..%2F..%2Fetc/values"),
                get(b"/api/v1/label/\xff/values".to_vec()),
                get("/api/v1/export?match[]=seeded&start=NaN"),
                get("/api/v1/targets?state=%00"),
            ],
        ),
        (
            "integrations",
            [
                json_garbage("/api/v1/integrations/alertmanager"),
                json_garbage("/api/v1/integrations/pagerduty"),
                json_garbage("/api/v1/integrations/generic"),
                json_garbage("/api/v1/integrations/github"),
            ]
            .into_iter()
            .flatten()
            .chain([
                json("/api/v1/integrations/alertmanager", r#"{"version":"4","alerts":[{"status":"firing","labels":{},"startsAt":"9999-99-99T99:99:99Z"}]}"#),
                probe("POST", "/api/v1/heartbeats/..%2F..%2Fetc", "text/plain", ""),
                probe("POST", "/api/v1/heartbeats/nope", "text/plain", ""),
            ])
            .collect(),
        ),
        (
            "silences",
            json_garbage("/api/v1/silences")
                .into_iter()
                .chain([
                    json(
                        "/api/v1/silences",
                        r#"{"matchers":[{"name":"a","value":"(a+)+$","isRegex":true}],"startsAt":"2030-01-01T00:00:00Z","endsAt":"2020-01-01T00:00:00Z","createdBy":"x","comment":"y"}"#,
                    ),
                    json(
                        "/api/v1/silences",
                        r#"{"matchers":[],"startsAt":"0000-01-01T00:00:00Z","endsAt":"9999-12-31T23:59:59Z","createdBy":"x","comment":"y"}"#,
                    ),
                    get("/api/v1/silences/..%2F..%2Fetc"),
                    probe("DELETE", "/api/v1/silences/%FF", "", ""),
                ])
                .collect(),
        ),
        (
            "incidents",
            json_garbage("/api/v1/incidents")
                .into_iter()
                .chain(json_garbage("/api/v1/deploys"))
                .chain(json_garbage("/api/v1/changes"))
                .chain([
                    get("/api/v1/incidents/abc"),
                    get("/api/v1/incidents/99999999999999999999999"),
                    get("/api/v1/incidents/-1/timeline?lookback=1000000y"),
                    json("/api/v1/incidents/1/update", "{\"state\": \"closed\", \"severity\": \"SEV99\"}"),
                    json("/api/v1/incidents/1/notes", deep_json(100_000)),
                    json("/api/v1/incidents/1/postmortem/edit", "{\"actionItems\": [{\"due\": \"9999-99-99\"}]}"),
                    json(
                        "/api/v1/deploys",
                        r#"{"service":"../../etc","version":"v1","at":"-9999999999999999999","commits":[{"sha":"x","at":1e400}]}"#,
                    ),
                    get("/api/v1/dora?from=-1e300&to=1e300"),
                    get("/api/v1/incidents/metrics?from=NaN"),
                    get("/api/v1/postmortems/report?limit=99999999999999999999"),
                ])
                .collect(),
        ),
        (
            "events",
            vec![
                get(format!("/api/v1/events?kind={}", vec!["x"; 20_000].join(","))),
                get("/api/v1/events?from=1e300&to=-1e300"),
                get("/api/v1/events?limit=0"),
                get("/api/v1/events?limit=99999999999999999999"),
                get("/api/v1/events?after=abc"),
            ],
        ),
        (
            "release",
            json_garbage("/api/v1/gate/overrides")
                .into_iter()
                .chain(json_garbage("/api/v1/maintenance"))
                .chain([
                    json(
                        "/api/v1/gate/overrides",
                        r#"{"service":"checkout","reason":"x","duration":"9999999999999999y","createdBy":"x"}"#,
                    ),
                    json(
                        "/api/v1/gate/overrides",
                        r#"{"service":"checkout","reason":"x","until":"9999-12-31T23:59:59Z","createdBy":"x"}"#,
                    ),
                    probe("DELETE", "/api/v1/gate/overrides/abc", "", ""),
                    probe("DELETE", "/api/v1/maintenance/..%2F..", "", ""),
                ])
                .collect(),
        ),
        (
            "oncall",
            vec![
                get("/api/v1/oncall?at=1e300"),
                get("/api/v1/oncall/load?start=-1e300&end=1e300"),
                get("/api/v1/schedules/..%2F..%2Fetc/shifts"),
                get("/api/v1/schedules/primary/shifts?start=-9e15&end=9e15"),
                get("/p/schedules/primary/calendar.ics?sig=00&expires=99999999999999999999"),
                probe("POST", "/api/v1/pages/abc/ack", "application/json", "{}"),
                probe("POST", "/api/v1/pages/99999999999999999999/resolve", "application/json", deep_json(10_000)),
                get("/p/1/ack?user=%FF&expires=1e300&sig=zz"),
            ],
        ),
        (
            "admin",
            vec![
                probe("POST", "/api/v1/admin/backup?dir=..%2F..%2Fdata%2Fblocks%2Fevil", "", ""),
                probe("POST", "/api/v1/admin/backup?dir=%2Fetc%2Fnines", "", ""),
                probe("POST", "/api/v1/admin/backup", "", ""),
                probe("PUT", "/api/v1/admin/flush", "", ""),
                probe("GET", "/api/v1/nonexistent/..%2F..", "", ""),
            ],
        ),
    ]
}

/// What must not change: every series, incidents, silences, events.
fn stored(s: &Server) -> Vec<String> {
    [
        "/api/v1/export?match[]=%7B__name__%3D~%22.%2B%22%7D",
        "/api/v1/incidents",
        "/api/v1/silences",
        "/api/v1/events?limit=10000",
        "/api/v1/gate/overrides",
    ]
    .iter()
    .map(|p| {
        let (code, body) = s.get(p);
        assert_eq!(code, 200, "{p}: {body}");
        body
    })
    .collect()
}

fn seed(s: &Server) {
    let now = common::traffic::now_ms();
    let line = format!(
        r#"{{"metric":{{"__name__":"seeded","job":"a"}},"values":[1,2],"timestamps":[{},{}]}}"#,
        now - 60_000,
        now
    );
    assert_eq!(s.post("/api/v1/import", "application/json", line.as_bytes()).0, 204);
    let (code, body) = s.post(
        "/api/v1/incidents",
        "application/json",
        br#"{"title":"seeded","severity":"SEV3","services":["checkout"]}"#,
    );
    assert!(code < 300, "{body}");
    let (code, body) = s.post(
        "/api/v1/silences",
        "application/json",
        br#"{"matchers":[{"name":"job","value":"a","isRegex":false}],"startsAt":"2030-01-01T00:00:00Z","endsAt":"2030-01-02T00:00:00Z","createdBy":"ana","comment":"seeded"}"#,
    );
    assert!(code < 300, "{body}");
}

fn check_answer(family: &str, p: &Probe, a: &Answer) {
    let what = format!("{family}: {} {}", p.method, String::from_utf8_lossy(&p.path));
    assert!(
        (200..500).contains(&a.status),
        "{what} answered {}: {}",
        a.status,
        a.body
    );
    // OTLP and PagerDuty's Events API answer in their own protocols' shapes.
    let own_shape = [&b"/v1/metrics"[..], b"/v2/enqueue", b"/api/v1/integrations/pagerduty"]
        .iter()
        .any(|p2| p.path.starts_with(p2));
    if a.status >= 400 && !own_shape && !a.head.contains("text/html") {
        let body: serde_json::Value = serde_json::from_str(&a.body)
            .unwrap_or_else(|e| panic!("{what} answered {} without the envelope ({e}): {:?}", a.status, a.body));
        assert_eq!(body["status"], "error", "{what}: {body}");
        assert!(!body["error"].as_str().unwrap_or("").is_empty(), "{what}: {body}");
    }
}

#[test]
fn every_endpoint_family_survives_hostile_input_and_keeps_what_it_stored() {
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    let s = Server::start(&dir.path().join("data"), &["--backup-root", backups.to_str().unwrap()]);
    seed(&s);
    let before = stored(&s);
    for (family, probes) in families() {
        let started = std::time::Instant::now();
        for p in &probes {
            let headers: Vec<(&str, &str)> = if p.content_type.is_empty() {
                Vec::new()
            } else {
                vec![("Content-Type", p.content_type)]
            };
            let answer = request(&s.url, p.method, &p.path, &headers, &p.body);
            check_answer(family, p, &answer);
        }
        // A truncated body: declared longer than sent, then closed.
        let cut = send_truncated(
            &s.url,
            b"POST /api/v1/import HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n{\"metric\"",
        );
        assert!(cut.status == 0 || (400..500).contains(&cut.status), "{cut:?}");
        assert_eq!(s.get("/-/healthy").0, 200, "after {family}");
        assert_eq!(stored(&s), before, "{family} changed what was stored");
        eprintln!("{family}: {} probes in {:?}", probes.len(), started.elapsed());
    }
    // Tests build with overflow checks: wrapped arithmetic would panic.
    let logs = s.stderr.lock().unwrap().clone();
    assert!(!logs.contains("panicked"), "{logs}");
}

#[test]
fn query_ranges_at_the_ends_of_time_are_refused_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&dir.path().join("data"), &[]);
    let (code, body) = s.get("/api/v1/query_range?query=1&start=-9000000000000000&end=9000000000000000&step=1");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("exceeded maximum resolution"), "{body}");
    // Near the end of time, steps that would pass it stop instead of
    // wrapping around.
    let (code, body) =
        s.get("/api/v1/query_range?query=time()&start=9223309901257973&end=9223309901257974&step=9000000000000000");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"]["result"][0]["values"].as_array().unwrap().len(), 1, "{body}");
    for q in [
        "/api/v1/query?query=count_over_time(up%5B100000000y%5D)&time=-9000000000000000",
        "/api/v1/query?query=up%20offset%20-100000000y&time=9000000000000000",
        "/api/v1/query?query=rate(up%5B5m%5D%20%40%209e15)&time=1e300",
    ] {
        let (code, body) = s.get(q);
        assert_eq!(code, 200, "{q}: {body}");
    }
    assert_eq!(s.get("/-/healthy").0, 200);
}

#[test]
fn a_sample_from_the_future_is_refused_and_counted_and_others_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&dir.path().join("data"), &[]);
    let now = common::traffic::now_ms();
    let skewed = WriteRequest {
        timeseries: vec![series(&[("__name__", "skewed")], &[(now + 86_400_000, 1.0)])],
    };
    let (code, body) = s.remote_write(&skewed);
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("too far in the future"), "{body}");
    let ancient = WriteRequest {
        timeseries: vec![series(&[("__name__", "ancient")], &[(i64::MIN, 1.0)])],
    };
    let (code, body) = s.remote_write(&ancient);
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("out of bounds 1"), "{body}");
    assert!(!body.contains("conflicting duplicates 1"), "{body}");
    let fine = WriteRequest {
        timeseries: vec![series(&[("__name__", "fine")], &[(now, 1.0)])],
    };
    assert_eq!(s.remote_write(&fine).0, 204);
    assert_eq!(s.post("/api/v1/admin/flush", "text/plain", b"").0, 200);
    let later = WriteRequest {
        timeseries: vec![series(&[("__name__", "fine")], &[(now + 1000, 2.0)])],
    };
    assert_eq!(s.remote_write(&later).0, 204, "a flush must not shut out the present");
    let (_, metrics) = s.get("/metrics");
    assert!(
        metrics.contains("nines_storage_samples_total{outcome=\"too_far_in_future\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("nines_storage_samples_total{outcome=\"out_of_bounds\"} 1"),
        "{metrics}"
    );
}

#[test]
fn listen_shorthands_that_reach_the_network_are_refused_without_tokens() {
    let dir = tempfile::tempdir().unwrap();
    for listen in ["0:0", "[::]:0", "0.0.0.0:0"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_nines"))
            .args(["serve", "--listen", listen, "--data-dir"])
            .arg(dir.path().join("data"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{listen}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("refusing to listen on {listen}")), "{err}");
        assert!(!dir.path().join("data").exists(), "nothing may be created");
    }
}

#[test]
fn backups_over_http_go_only_under_the_backup_root() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let without = Server::start(&data, &[]);
    let (code, body) = without.post("/api/v1/admin/backup?dir=x", "text/plain", b"");
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("storage.backup_root"), "{body}");
    without.stop();

    let backups = dir.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    let s = Server::start(&data, &["--backup-root", backups.to_str().unwrap()]);
    let evil = data.join("blocks").join("evil");
    for dir_param in [
        common::encode(evil.to_str().unwrap()),
        "..%2Fdata%2Fblocks%2Fevil".into(),
    ] {
        let (code, body) = s.post(&format!("/api/v1/admin/backup?dir={dir_param}"), "text/plain", b"");
        assert_eq!(code, 400, "{body}");
    }
    assert!(!evil.exists());
    let (code, body) = s.post("/api/v1/admin/backup?dir=nightly", "text/plain", b"");
    assert_eq!(code, 200, "{body}");
    assert!(backups.join("nightly").join("blocks").exists());
    s.stop();
    // The next start is not disturbed.
    let again = Server::start(&data, &[]);
    assert_eq!(again.get("/-/healthy").0, 200);
}

#[test]
fn a_stalled_body_loses_its_connection_and_its_slot() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nines.yaml");
    std::fs::write(
        &config,
        "server:\n  read_body_timeout: 1s\n  max_concurrent_requests_per_client: 2\n",
    )
    .unwrap();
    let s = Server::start(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);
    let stalled: Vec<_> = (0..2)
        .map(|_| {
            let mut c = std::net::TcpStream::connect(common::raw::authority(&s.url)).unwrap();
            c.write_all(b"POST /api/v1/import HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
                .unwrap();
            c
        })
        .collect();
    // Both stalled requests are cut off with a 408 and their slots come
    // back: the client is served again (its health check included).
    for mut c in stalled {
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut out = Vec::new();
        let _ = std::io::Read::read_to_end(&mut c, &mut out);
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(text.contains("stalled"), "{text}");
    }
    wait_until("slots back", Duration::from_secs(10), || {
        (s.get("/-/healthy").0 == 200).then_some(())
    });
    assert_eq!(s.get("/api/v1/labels").0, 200);
}

fn many_series(s: &Server, n: usize) {
    let now = common::traffic::now_ms();
    let mut lines = String::new();
    for i in 0..n {
        lines.push_str(&format!(
            "{{\"metric\":{{\"__name__\":\"x\",\"i\":\"{i}\"}},\"values\":[1,2],\"timestamps\":[{},{}]}}\n",
            now - 60_000,
            now
        ));
    }
    assert_eq!(s.post("/api/v1/import", "application/json", lines.as_bytes()).0, 204);
}

#[test]
fn heavy_queries_are_bounded_and_canceled_when_their_client_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nines.yaml");
    std::fs::write(
        &config,
        "query:\n  max_samples_processed: 1000000\n  max_concurrency: 1\n  timeout: 10m\n",
    )
    .unwrap();
    let s = Server::start(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);
    many_series(&s, 2000);
    // count_over_time(x[1d:1s]) reads 2,000 series at 86,400 steps: far
    // past the bound, refused once it is reached.
    let (code, body) = s.get("/api/v1/query?query=count_over_time(x%5B1d%3A1s%5D)");
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("max_samples_processed"), "{body}");
    s.stop();

    // Unbounded work, one query at a time: a client that leaves frees the
    // only query slot at once, so the next query is answered.
    std::fs::write(
        &config,
        "query:\n  max_samples_processed: 1000000000000000\n  max_samples: 1000000000000\n  max_concurrency: 1\n  timeout: 10m\n",
    )
    .unwrap();
    let s = Server::start(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);
    let mut heavy = std::net::TcpStream::connect(common::raw::authority(&s.url)).unwrap();
    heavy
        .write_all(b"GET /api/v1/query?query=count_over_time(count_over_time(x%5B1d%3A1s%5D)%5B1d%3A1s%5D) HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // Give the heavy query the slot before leaving.
    wait_until("the heavy query running", Duration::from_secs(20), || {
        let (_, m) = s.get("/metrics");
        m.lines()
            .any(|l| l.starts_with("nines_queries_running ") && l.ends_with(" 1"))
            .then_some(())
    });
    drop(heavy);
    let (code, body) = s.get("/api/v1/query?query=1%2B1");
    assert_eq!(code, 200, "{body}");
    let (_, m) = s.get("/metrics");
    assert!(m.contains("nines_queries_canceled_total 1"), "{m}");
}

#[test]
fn error_answers_always_carry_the_envelope() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&dir.path().join("data"), &[]);
    // Over the documented 64 KiB head limit, well under twice it.
    let big_head = format!(
        "GET /-/healthy HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(100 << 10)
    );
    let a = send(&s.url, big_head.as_bytes());
    assert_eq!(a.status, 431, "{a:?}");
    assert!(a.body.contains("server.max_header_size"), "{a:?}");
    let a = request(&s.url, "DELETE", b"/api/v1/query", &[], b"");
    assert_eq!(a.status, 405, "{a:?}");
    assert!(a.body.contains("\"errorType\":\"bad_data\""), "{a:?}");
    assert!(a.head.contains("allow:"), "{a:?}");
    // hyper's own refusals (a URI over 64 KiB, bytes that are not a URI).
    let long_uri = format!("/api/v1/query?query={}", "1".repeat(70_000));
    let a = request(&s.url, "GET", long_uri.as_bytes(), &[], b"");
    assert_eq!(a.status, 414, "{a:?}");
    assert!(a.body.contains("\"errorType\":\"bad_data\""), "{a:?}");
    let a = request(&s.url, "GET", b"/api/v1/label/\xff/values", &[], b"");
    assert_eq!(a.status, 400, "{a:?}");
    assert!(a.body.contains("not valid HTTP"), "{a:?}");
    let a = request(&s.url, "GET", b"/api/v1/incidents/abc", &[], b"");
    assert_eq!(a.status, 400, "{a:?}");
    assert!(a.body.starts_with('{') && a.body.contains("abc"), "{a:?}");
    let kinds = vec!["x"; 20_000].join(",");
    let (code, body) = s.get(&format!("/api/v1/events?kind={kinds}"));
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("more than the limit of 100"), "{body}");
    let (code, body) = s.post(
        "/v1/metrics",
        "application/json",
        br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"x","gauge":{"dataPoints":[{"timeUnixNano":"18446744073709551616","asDouble":1}]}}]}]}]}"#,
    );
    assert_eq!(code, 400, "{body}");
}
