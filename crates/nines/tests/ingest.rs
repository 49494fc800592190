//! The real binary on a loopback port: remote_write, import/export,
//! metadata, bad input, flush and backup.

mod common;

use common::{points, series, Server, WriteRequest};

fn start() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    (dir, server)
}

#[test]
fn remote_write_then_export_and_metadata() {
    let (_d, s) = start();
    let req = WriteRequest {
        timeseries: vec![
            series(
                &[("__name__", "http_requests_total"), ("job", "api"), ("code", "200")],
                &[(1000, 1.0), (16_000, 5.0)],
            ),
            series(
                &[("__name__", "http_requests_total"), ("job", "web"), ("code", "500")],
                &[(1000, 2.0)],
            ),
            series(&[("__name__", "up"), ("job", "api")], &[(1000, 1.0)]),
        ],
    };
    let (code, body) = s.remote_write(&req);
    assert_eq!(code, 204, "{body}");

    let lines = s.export(r#"http_requests_total{job="api"}"#);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["metric"]["code"], "200");
    assert_eq!(points(&lines[0]), vec![(1000, 1.0), (16_000, 5.0)]);

    let (code, body) = s.get("/api/v1/series?match[]=http_requests_total&match[]=up");
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"].as_array().unwrap().len(), 3);

    let (_, body) = s.get("/api/v1/labels");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"], serde_json::json!(["__name__", "code", "job"]));

    let (_, body) = s.get("/api/v1/label/job/values?match[]=http_requests_total");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"], serde_json::json!(["api", "web"]));

    let (_, body) = s.get("/api/v1/label/__name__/values?limit=1");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"], serde_json::json!(["http_requests_total"]));
    assert_eq!(v["warnings"][0], "results truncated due to limit");

    // Time range: only the series with a sample after 10 s.
    let (_, body) = s.get("/api/v1/series?match[]=%7Bjob%3D~%22.%2B%22%7D&start=10&end=20");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 1, "{v}");

    let (code, body) = s.post("/api/v1/series", "application/x-www-form-urlencoded", b"match[]=up");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"up\""), "{body}");
}

#[test]
fn import_and_export_round_trip_special_values() {
    let (_d, s) = start();
    let lines = concat!(
        r#"{"metric":{"__name__":"g","k":"v"},"values":[1.5,"NaN","+Inf","-Inf","StaleNaN",1e300],"timestamps":[1,2,3,4,5,6]}"#,
        "\n",
        r#"{"metric":{"__name__":"h"},"values":[3,1],"timestamps":[20,10]}"#,
    );
    let (code, body) = s.post("/api/v1/import", "application/json", lines.as_bytes());
    assert_eq!(code, 204, "{body}");
    let (code, exported) = s.get("/api/v1/export?match[]=%7B__name__%3D~%22g%7Ch%22%7D");
    assert_eq!(code, 200);
    let out: Vec<&str> = exported.lines().collect();
    assert_eq!(out.len(), 2);
    assert!(
        out[0].contains(r#""values":[1.5,"NaN","+Inf","-Inf","StaleNaN",1e+300]"#),
        "{}",
        out[0]
    );
    // Samples of a line are sorted by time on the way in.
    assert!(
        out[1].contains(r#""values":[1.0,3.0],"timestamps":[10,20]"#),
        "{}",
        out[1]
    );
    // What export wrote, import takes back unchanged.
    let dir2 = tempfile::tempdir().unwrap();
    let s2 = Server::start(dir2.path(), &[]);
    let (code, body) = s2.post("/api/v1/import", "application/json", exported.as_bytes());
    assert_eq!(code, 204, "{body}");
    let (_, again) = s2.get("/api/v1/export?match[]=%7B__name__%3D~%22g%7Ch%22%7D");
    assert_eq!(again, exported);
}

#[test]
fn bad_input_gets_400_or_413_and_stored_data_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(
        dir.path(),
        &[
            "--config",
            &write_config(
                dir.path(),
                "ingest:\n  max_body_size: 4KiB\n  max_decompressed_size: 8KiB\n",
            ),
        ],
    );
    let good = WriteRequest {
        timeseries: vec![series(&[("__name__", "kept"), ("a", "1")], &[(1000, 42.0)])],
    };
    assert_eq!(s.remote_write(&good).0, 204);
    let before = s.export("kept");

    let write = |body: &[u8], enc: Option<&str>| {
        let mut r = ureq::post(&format!("{}/api/v1/write", s.url)).set("Content-Type", "application/x-protobuf");
        if let Some(e) = enc {
            r = r.set("Content-Encoding", e);
        }
        match r.send_bytes(body) {
            Ok(resp) => (resp.status(), resp.into_string().unwrap()),
            Err(ureq::Error::Status(c, resp)) => (c, resp.into_string().unwrap()),
            Err(e) => panic!("{e}"),
        }
    };
    // Not snappy.
    let (c, b) = write(b"\xff\xff\xff\xff\xff\xff", Some("snappy"));
    assert_eq!(c, 400, "{b}");
    assert!(b.contains("invalid snappy block"), "{b}");
    assert!(b.contains("\"errorType\":\"bad_data\""), "{b}");
    // Snappy, but not protobuf.
    let junk = snap::raw::Encoder::new().compress_vec(b"\x0a\xff\x01garbage").unwrap();
    let (c, b) = write(&junk, Some("snappy"));
    assert_eq!(c, 400, "{b}");
    assert!(b.contains("malformed remote_write protobuf at byte"), "{b}");
    // Invalid UTF-8 in a label value.
    let mut raw = prost::Message::encode_to_vec(&WriteRequest {
        timeseries: vec![series(&[("__name__", "x"), ("a", "zz")], &[(1, 1.0)])],
    });
    let pos = raw.windows(2).position(|w| w == b"zz").unwrap();
    raw[pos] = 0xff;
    let (c, b) = write(&snap::raw::Encoder::new().compress_vec(&raw).unwrap(), Some("snappy"));
    assert_eq!(c, 400, "{b}");
    assert!(b.contains("label value is not valid UTF-8"), "{b}");
    // Wrong encoding header.
    let (c, b) = write(b"x", Some("gzip"));
    assert_eq!(c, 400, "{b}");
    assert!(b.contains("Content-Encoding"), "{b}");
    // Over the compressed limit.
    let (c, b) = write(&vec![0u8; 5000], Some("snappy"));
    assert_eq!(c, 413, "{b}");
    assert!(b.contains("ingest.max_body_size"), "{b}");
    // A small body that claims a huge decompressed size.
    let (c, b) = write(&[0xff, 0xff, 0xff, 0x7f, 0x00], Some("snappy"));
    assert_eq!(c, 413, "{b}");
    assert!(b.contains("ingest.max_decompressed_size"), "{b}");
    // Invalid label name, too many labels, missing metric name: the valid
    // series of the same batch is stored, the answer names the problems.
    let many: Vec<(String, String)> = (0..70).map(|i| (format!("l{i}"), "v".into())).collect();
    let mut many_ref: Vec<(&str, &str)> = many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    many_ref.push(("__name__", "many"));
    let mixed = WriteRequest {
        timeseries: vec![
            series(&[("__name__", "x"), ("bad-name", "v")], &[(1000, 1.0)]),
            series(&many_ref, &[(1000, 1.0)]),
            series(&[("job", "nameless")], &[(1000, 1.0)]),
            series(&[("__name__", "also_kept")], &[(1000, 7.0)]),
        ],
    };
    let (c, b) = s.remote_write(&mixed);
    assert_eq!(c, 400, "{b}");
    assert!(b.contains("1 samples stored, 3 refused"), "{b}");
    assert!(b.contains("invalid label name \\\"bad-name\\\""), "{b}");
    assert!(b.contains("more than the limit of 64"), "{b}");
    assert!(b.contains("no metric name"), "{b}");
    assert_eq!(points(&s.export("also_kept")[0]), vec![(1000, 7.0)]);
    // Out of order and conflicting samples are refused and counted.
    let late = WriteRequest {
        timeseries: vec![series(&[("__name__", "kept"), ("a", "1")], &[(500, 1.0), (1000, 43.0)])],
    };
    let (c, b) = s.remote_write(&late);
    assert_eq!(c, 400, "{b}");
    assert!(b.contains("out of order 1, conflicting duplicates 1"), "{b}");
    // Bad import lines and selectors.
    let (c, b) = s.post(
        "/api/v1/import",
        "application/json",
        b"{\"metric\":{\"__name__\":\"i\"},\"values\":[1],\"timestamps\":[]}\n",
    );
    assert_eq!(c, 400);
    assert!(b.contains("line 1: 1 values but 0 timestamps"), "{b}");
    let (c, b) = s.get("/api/v1/series?match[]=%7Bjob%3D%22%22%7D");
    assert_eq!(c, 400);
    assert!(b.contains("at least one non-empty matcher"), "{b}");
    let (c, b) = s.get("/api/v1/series?match[]=up&start=yesterday");
    assert_eq!(c, 400);
    assert!(b.contains("cannot parse \\\"yesterday\\\""), "{b}");
    let (c, _) = s.get("/api/v1/label/bad-name/values");
    assert_eq!(c, 400);

    // Nothing stored was disturbed, and the server still serves.
    assert_eq!(s.export("kept"), before);
    assert_eq!(s.get("/-/healthy").0, 200);
}

#[test]
fn flush_then_restart_and_backup_restore() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let backups = dir.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    let s = Server::start(&data, &["--backup-root", backups.to_str().unwrap()]);
    let req = WriteRequest {
        timeseries: (0..50)
            .map(|i| {
                series(
                    &[("__name__", "m"), ("i", &i.to_string())],
                    &[(1000, i as f64), (2000, 1.0)],
                )
            })
            .collect(),
    };
    assert_eq!(s.remote_write(&req).0, 204);
    let (code, body) = s.post("/api/v1/admin/flush", "text/plain", b"");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"blocks\":1"), "{body}");
    assert!(std::fs::read_dir(data.join("blocks")).unwrap().count() == 1);
    // Ingestion continues after a flush.
    let more = WriteRequest {
        timeseries: vec![series(&[("__name__", "m"), ("i", "0")], &[(3000, 9.0)])],
    };
    assert_eq!(s.remote_write(&more).0, 204);
    let want = s.export("m");
    assert_eq!(want.len(), 50);

    let backup = backups.join("nightly");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nines"))
        .args(["backup", "--server", &s.url])
        .arg(&backup)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    s.stop();

    let restarted = Server::start(&data, &[]);
    assert_eq!(restarted.export("m"), want);
    let restored = Server::start(&backup, &[]);
    assert_eq!(restored.export("m"), want);
}

fn write_config(dir: &std::path::Path, text: &str) -> String {
    let p = dir.join("nines.yaml");
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().to_string()
}

#[test]
fn import_backfills_history_that_remote_write_refuses() {
    let (_d, s) = start();
    let recent = WriteRequest {
        timeseries: vec![series(&[("__name__", "hist")], &[(100_000_000, 1.0)])],
    };
    assert_eq!(s.remote_write(&recent).0, 204);
    assert_eq!(s.post("/api/v1/admin/flush", "text/plain", b"").0, 200);
    // remote_write refuses samples behind the head, as Prometheus does...
    let old = WriteRequest {
        timeseries: vec![series(&[("__name__", "hist")], &[(1000, 5.0)])],
    };
    let (code, body) = s.remote_write(&old);
    assert_eq!(code, 400);
    assert!(body.contains("too old 1"), "{body}");
    // ...import writes them into blocks.
    let line = r#"{"metric":{"__name__":"hist"},"values":[5,6,7],"timestamps":[1000,16000,31000]}"#;
    let (code, body) = s.post("/api/v1/import", "application/json", line.as_bytes());
    assert_eq!(code, 204, "{body}");
    assert_eq!(
        points(&s.export("hist")[0]),
        vec![(1000, 5.0), (16_000, 6.0), (31_000, 7.0), (100_000_000, 1.0)]
    );
}
