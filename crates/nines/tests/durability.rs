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
