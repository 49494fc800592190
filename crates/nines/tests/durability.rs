//! Every acknowledged sample survives a kill -9 of a real `nines serve`.

mod common;

use std::sync::mpsc;

use common::{points, series, Server, WriteRequest};

#[test]
fn kill_9_mid_ingestion_loses_no_acknowledged_sample() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let url = server.url.clone();
    let (tx, rx) = mpsc::channel::<usize>();
    // The writer sends batches back to back and reports each acknowledged
    // one; it stops at the first failure (the server is gone).
    let writer = std::thread::spawn(move || {
        let agent = ureq::agent();
        let mut acked = Vec::new();
        for batch in 0..100_000usize {
            let req = WriteRequest {
                timeseries: (0..20)
                    .map(|i| {
                        series(
                            &[("__name__", "load"), ("i", &i.to_string())],
                            &[(batch as i64 * 1000, batch as f64)],
                        )
                    })
                    .collect(),
            };
            let body = snap::raw::Encoder::new()
                .compress_vec(&prost::Message::encode_to_vec(&req))
                .unwrap();
            let r = agent
                .post(&format!("{url}/api/v1/write"))
                .set("Content-Encoding", "snappy")
                .send_bytes(&body);
            match r {
                Ok(resp) if resp.status() == 204 => {
                    acked.push(batch);
                    let _ = tx.send(batch);
                }
                _ => break,
            }
        }
        acked
    });
    // Kill once a good number of batches is in, while the writer keeps going.
    for _ in 0..200 {
        rx.recv().expect("writer stopped early");
    }
    server.kill9();
    let acked = writer.join().unwrap();
    assert!(acked.len() >= 200);

    let restarted = Server::start(&data, &[]);
    let lines = restarted.export("load");
    assert_eq!(lines.len(), 20);
    for line in &lines {
        let got: Vec<i64> = points(line).iter().map(|p| p.0 / 1000).collect();
        for b in &acked {
            assert!(
                got.binary_search(&(*b as i64)).is_ok(),
                "acknowledged batch {b} lost for {}",
                line["metric"]
            );
        }
    }
    // The restarted server keeps ingesting after the replay.
    let next = WriteRequest {
        timeseries: vec![series(&[("__name__", "load"), ("i", "0")], &[(10_000_000_000, 1.0)])],
    };
    assert_eq!(restarted.remote_write(&next).0, 204);
}

#[test]
fn torn_wal_tail_is_cut_and_the_server_starts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    for b in 0..10 {
        let req = WriteRequest {
            timeseries: vec![series(&[("__name__", "torn")], &[(b * 1000, b as f64)])],
        };
        assert_eq!(server.remote_write(&req).0, 204);
    }
    server.kill9();
    // Append half a record to the newest segment, as a crash mid-write would.
    let wal = data.join("wal");
    let mut segments: Vec<_> = std::fs::read_dir(&wal).unwrap().flatten().map(|e| e.path()).collect();
    segments.sort();
    let last = segments
        .iter()
        .rev()
        .find(|p| std::fs::metadata(p).unwrap().len() > 0)
        .unwrap()
        .clone();
    let mut bytes = std::fs::read(&last).unwrap();
    bytes.extend_from_slice(&[200, 0, 0, 0, 1, 2, 3, 4, 2, 9]);
    std::fs::write(&last, &bytes).unwrap();

    let restarted = Server::start(&data, &[]);
    let lines = restarted.export("torn");
    assert_eq!(points(&lines[0]).len(), 10);
}

#[test]
fn otlp_and_scraped_samples_survive_kill_9() {
    use common::exporter::Exporter;
    use common::wait_until;
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let exporter = Exporter::start();
    exporter.text("/metrics", "scraped_gauge 42\n");
    let config = dir.path().join("nines.yaml");
    std::fs::write(
        &config,
        format!(
            "scrape_configs:\n- job_name: app\n  scrape_interval: 1s\n  static_configs:\n  - targets: ['{}']\n",
            exporter.addr
        ),
    )
    .unwrap();
    let server = Server::start(&data, &["--config", config.to_str().unwrap()]);
    let otlp = r#"{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},
        "scopeMetrics":[{"metrics":[{"name":"otlp_gauge","gauge":{"dataPoints":[{"timeUnixNano":"1700000000000000000","asDouble":7}]}}]}]}]}"#;
    let (code, body) = server.post("/v1/metrics", "application/json", otlp.as_bytes());
    assert_eq!(code, 200, "{body}");
    // A scrape is acknowledged once its series is readable.
    wait_until("a scrape stored", Duration::from_secs(10), || {
        (!server.export("scraped_gauge").is_empty()).then_some(())
    });
    server.kill9();

    let server = Server::start(&data, &[]);
    let otlp_line = server.export("otlp_gauge");
    assert_eq!(points(&otlp_line[0]), vec![(1_700_000_000_000, 7.0)]);
    let scraped = server.export("scraped_gauge");
    assert_eq!(points(&scraped[0])[0].1, 42.0);
}
