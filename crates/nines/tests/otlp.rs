//! OTLP/HTTP metrics: a real OpenTelemetry SDK as the sender, plus the
//! JSON encoding and the error answers.

mod common;

use std::io::Write;
use std::process::Command;

use common::{points, Server};

fn one(server: &Server, selector: &str) -> serde_json::Value {
    let lines = server.export(selector);
    assert_eq!(lines.len(), 1, "{selector}: {lines:?}");
    lines.into_iter().next().unwrap()
}

#[test]
fn the_python_sdk_exports_into_nines() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/otlp/sdk_export.py");
    let out = Command::new("python3")
        .args([script, &server.url])
        .output()
        .expect("python3 with opentelemetry-sdk and opentelemetry-exporter-otlp-proto-http (see .ci/run)");
    assert!(
        out.status.success(),
        "SDK export failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let card = one(&server, "orders_total{payment_method=\"card\"}");
    assert_eq!(card["metric"]["job"], "checkout");
    assert_eq!(card["metric"]["instance"], "pod-1");
    assert_eq!(card["metric"]["otel_scope_name"], "shop");
    assert_eq!(card["metric"]["otel_scope_version"], "1.2.3");
    assert_eq!(points(&card)[0].1, 3.0);
    assert_eq!(points(&one(&server, "orders_total{payment_method=\"cash\"}"))[0].1, 2.0);
    // The SDK's default buckets: 0, 5, 10, 25, 50, 75, 100, 250, 500, ...
    let bucket = |le: &str| {
        points(&one(
            &server,
            &format!("http_server_duration_milliseconds_bucket{{le=\"{le}\"}}"),
        ))[0]
            .1
    };
    assert_eq!(
        (bucket("5"), bucket("50"), bucket("500"), bucket("+Inf")),
        (1.0, 2.0, 3.0, 3.0)
    );
    let count = one(&server, "http_server_duration_milliseconds_count{http_route=\"/pay\"}");
    assert_eq!(points(&count)[0].1, 3.0);
    assert_eq!(
        points(&one(&server, "http_server_duration_milliseconds_sum"))[0].1,
        555.0
    );
    assert_eq!(points(&one(&server, "queue_size"))[0].1, 7.0);
    assert_eq!(points(&one(&server, "cpu_utilization_ratio"))[0].1, 0.25);
    let info = one(&server, "target_info");
    assert_eq!(info["metric"]["deployment_environment"], "test");
    assert_eq!(info["metric"]["job"], "checkout");
    assert!(info["metric"].get("service_name").is_none());
}

fn post(server: &Server, content_type: &str, encoding: Option<&str>, body: &[u8]) -> (u16, String) {
    let mut req = ureq::post(&format!("{}/v1/metrics", server.url)).set("Content-Type", content_type);
    if let Some(e) = encoding {
        req = req.set("Content-Encoding", e);
    }
    match req.send_bytes(body) {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(c, r)) => (c, r.into_string().unwrap()),
        Err(e) => panic!("{e}"),
    }
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn sum_json(temporality: u8, name: &str) -> String {
    format!(
        r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"api"}}}}]}},
        "scopeMetrics":[{{"metrics":[{{"name":"{name}","sum":{{"aggregationTemporality":{temporality},"isMonotonic":true,
        "dataPoints":[{{"timeUnixNano":"1700000000000000000","asDouble":1.5}}]}}}}]}}]}}]}}"#
    )
}

#[test]
fn json_gzip_partial_success_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let (code, body) = post(
        &server,
        "application/json",
        Some("gzip"),
        &gzip(sum_json(2, "hits").as_bytes()),
    );
    assert_eq!((code, body.as_str()), (200, "{}"));
    assert_eq!(
        points(&one(&server, "hits_total{job=\"api\"}"))[0],
        (1_700_000_000_000, 1.5)
    );

    // Delta temporality alone: nothing stored, 400 with a Status that says why.
    let (code, body) = post(&server, "application/json", None, sum_json(1, "deltas").as_bytes());
    assert_eq!(code, 400);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["code"], 3);
    assert!(
        status["message"].as_str().unwrap().contains("delta temporality"),
        "{body}"
    );
    assert!(server.export("deltas_total").is_empty());

    // Mixed: the cumulative part is stored, the answer is a partial success.
    let mixed = sum_json(2, "mixed").replace(
        r#"]}}]}]}"#,
        r#"]}},{"name":"mixed_delta","sum":{"aggregationTemporality":1,"isMonotonic":true,"dataPoints":[{"timeUnixNano":"1700000000000000000","asInt":"1"}]}}]}]}"#,
    );
    let (code, body) = post(&server, "application/json", None, mixed.as_bytes());
    assert_eq!(code, 200, "{body}");
    let resp: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(resp["partialSuccess"]["rejectedDataPoints"], "1");
    assert_eq!(server.export("mixed_total").len(), 1);

    let (code, _) = post(&server, "text/plain", None, b"x");
    assert_eq!(code, 415);
    let (code, body) = post(&server, "application/x-protobuf", None, b"\xff\xff\xff");
    assert_eq!(code, 400, "{body}");
    let (code, body) = post(&server, "application/json", Some("gzip"), b"not gzip");
    assert_eq!(code, 400, "{body}");
    // A small gzip bomb: 200 MiB of zeros is over the decompressed limit.
    let bomb = gzip(&vec![0u8; 200 << 20]);
    let (code, body) = post(&server, "application/x-protobuf", Some("gzip"), &bomb);
    assert_eq!(code, 413, "{body}");
    assert_eq!(server.get("/-/healthy").0, 200);
}
