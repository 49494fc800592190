//! The Prometheus query API, checked with Debian's real `promtool` and
//! against Prometheus's JSON shapes.

mod common;

use std::process::Command;

use common::Server;

fn load(server: &Server) {
    // Two counters at a 15 s step over 10 minutes, ending at t = 600 s.
    let mut body = String::new();
    for (code, step) in [("200", 10.0), ("500", 1.0)] {
        let ts: Vec<String> = (0..=40).map(|i| (i * 15_000).to_string()).collect();
        let vs: Vec<String> = (0..=40).map(|i| (i as f64 * step).to_string()).collect();
        body.push_str(&format!(
            "{{\"metric\":{{\"__name__\":\"http_requests_total\",\"job\":\"api\",\"code\":\"{code}\"}},\"values\":[{}],\"timestamps\":[{}]}}\n",
            vs.join(","),
            ts.join(",")
        ));
    }
    let (code, text) = server.post("/api/v1/import", "application/json", body.as_bytes());
    assert_eq!(code, 204, "{text}");
}

fn promtool(args: &[&str]) -> (bool, String) {
    let bin = std::env::var("PROMTOOL_BIN").unwrap_or_else(|_| "/usr/bin/promtool".into());
    assert!(
        std::path::Path::new(&bin).exists(),
        "{bin} not found: apt-get install prometheus"
    );
    let out = Command::new(bin).args(args).output().expect("run promtool");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn promtool_queries_nines() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    load(&server);
    let (ok, out) = promtool(&[
        "query",
        "instant",
        "--time=600",
        &server.url,
        "sum by (code) (rate(http_requests_total[5m]))",
    ]);
    assert!(ok, "{out}");
    // rate over a perfect 15 s counter: 10/15 and 1/15 per second.
    assert!(out.contains("{code=\"200\"} => 0.6666666666666666 @[600]"), "{out}");
    assert!(out.contains("{code=\"500\"} => 0.06666666666666667 @[600]"), "{out}");
    let (ok, out) = promtool(&[
        "query",
        "range",
        "--start=540",
        "--end=600",
        "--step=30s",
        &server.url,
        "sum(http_requests_total{code=\"500\"}) / sum(http_requests_total)",
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("{} =>"), "{out}");
    assert!(out.contains("0.09090909090909091 @[600]"), "{out}");
    assert_eq!(out.matches(" @[").count(), 3, "{out}");
}

#[test]
fn json_shapes_and_errors_follow_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    load(&server);
    let get = |q: &str| {
        let (code, body) = server.get(q);
        (code, serde_json::from_str::<serde_json::Value>(&body).unwrap())
    };
    let (code, v) = get("/api/v1/query?query=1%2B1&time=600");
    assert_eq!(code, 200);
    assert_eq!(
        v["data"],
        serde_json::json!({"resultType": "scalar", "result": [600.0, "2"]})
    );
    let (_, v) = get("/api/v1/query?query=%22hi%22&time=600");
    assert_eq!(v["data"]["resultType"], "string");
    let (_, v) = get("/api/v1/query?query=http_requests_total%7Bcode%3D%22500%22%7D%20%2F%200&time=600.5");
    assert_eq!(v["data"]["result"][0]["value"], serde_json::json!([600.5, "+Inf"]));
    let (_, v) = get("/api/v1/query?query=http_requests_total%5B30s%5D&time=600");
    assert_eq!(v["data"]["resultType"], "matrix");
    assert_eq!(v["data"]["result"][0]["values"].as_array().unwrap().len(), 2);
    let (_, v) = get("/api/v1/query_range?query=time()&start=0&end=60&step=30");
    assert_eq!(
        v["data"]["result"][0]["values"],
        serde_json::json!([[0.0, "0"], [30.0, "30"], [60.0, "60"]])
    );
    let (_, v) = get("/api/v1/query?query=http_requests_total&time=600&limit=1");
    assert_eq!(v["data"]["result"].as_array().unwrap().len(), 1);
    assert!(v["warnings"][0].as_str().unwrap().contains("truncated"));

    let (code, v) = get("/api/v1/query?query=sum(");
    assert_eq!(code, 400);
    assert_eq!(v["errorType"], "bad_data");
    let (code, v) = get("/api/v1/query_range?query=up&start=0&end=60&step=0");
    assert_eq!((code, v["errorType"].as_str()), (400, Some("bad_data")));
    let (code, v) = get("/api/v1/query?query=http_requests_total%20%2B%20on()%20http_requests_total&time=600");
    assert_eq!((code, v["errorType"].as_str()), (422, Some("execution")));
    assert!(v["error"].as_str().unwrap().contains("many-to-many"), "{v}");
    let (code, v) = get("/api/v1/status/buildinfo");
    assert_eq!(code, 200);
    assert_eq!(v["data"]["application"], "nines");
    let (code, v) = get("/api/v1/metadata");
    assert_eq!((code, &v["data"]), (200, &serde_json::json!({})));
}

#[test]
fn hostile_queries_are_refused_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nines.yaml");
    std::fs::write(
        &config,
        "query:\n  timeout: 2s\n  max_samples: 100000\n  max_series: 1\n",
    )
    .unwrap();
    let server = Server::start(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);
    load(&server);
    let query = |q: &str| {
        let body = format!("query={}&time=600", common::encode(q));
        let (code, text) = server.post("/api/v1/query", "application/x-www-form-urlencoded", body.as_bytes());
        (
            code,
            serde_json::from_str::<serde_json::Value>(&text).unwrap_or_default(),
        )
    };
    // Nesting deep enough to overflow a recursive parser.
    let deep = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
    let (code, v) = query(&deep);
    assert_eq!(code, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("nests deeper"), "{v}");
    let chain = format!("1{}", "+1".repeat(20_000));
    let (code, v) = query(&chain);
    assert_eq!(code, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("operators"), "{v}");
    // A long chain within the limit evaluates (on a thread with room).
    let (code, v) = query(&format!("1{}", "+1".repeat(5_000)));
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["result"][1], "5001");
    // A regex too large to compile is refused, not run.
    let (code, v) = query("{__name__=~\"(a{1000}){1000}\"}");
    assert_eq!((code, v["errorType"].as_str()), (400, Some("bad_data")), "{v}");
    // A subquery with a huge range and a tiny step runs into the timeout
    // (its steps find no data, so the sample limit never triggers).
    let (code, v) = query("sum_over_time(http_requests_total[100y:1s])");
    assert_eq!((code, v["errorType"].as_str()), (503, Some("timeout")), "{v}");
    // One whose steps do find data hits the sample limit first.
    let (code, v) = query("sum_over_time(http_requests_total[10m:1ms])");
    assert_eq!((code, v["errorType"].as_str()), (422, Some("execution")), "{v}");
    // Too many series returned.
    let (code, v) = query("http_requests_total");
    assert_eq!((code, v["errorType"].as_str()), (422, Some("execution")), "{v}");
    assert!(v["error"].as_str().unwrap().contains("max_series"), "{v}");
    // A range far larger than the data is fine.
    let (code, v) = query("sum(rate(http_requests_total{code=\"200\"}[100y]))");
    assert_eq!(code, 200, "{v}");
    assert_eq!(server.get("/-/healthy").0, 200);
}
