//! Storage-API benchmark: append throughput through `Db::append` on one
//! thread (samples/s per core) and bytes per sample once the data is in a
//! persisted block.
//!
//! Run: `cargo bench -p nines-tsdb --bench append -- [SERIES...]`
//! (default 10000 100000). Data: 2 h at a 15 s interval, half counters,
//! half gauges (see `Workload`), appended one timestamp at a time across
//! all series, in batches of 2,000 series (the remote_write batch size).

use std::time::Instant;

use nines_tsdb::{Db, Options, SeriesSamples};

const STEP_MS: i64 = 15_000;
const SAMPLES_PER_SERIES: usize = 480;
const BATCH: usize = 2_000;

#[path = "workload.rs"]
mod workload;

use workload::{series_labels, Workload};

fn run(series: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = Options {
        retention_ms: None,
        ..Options::default()
    };
    let db = Db::open(dir.path(), opts, nines_clock::system()).expect("open");
    let labels: Vec<Vec<(String, String)>> = (0..series).map(series_labels).collect();
    let borrowed: Vec<Vec<(&str, &str)>> = labels
        .iter()
        .map(|l| l.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect())
        .collect();
    let mut work = Workload::new(series);
    let start_t = 1_700_000_000_000i64 - 1_700_000_000_000 % (2 * 3_600_000);
    let mut append_secs = 0.0;
    let mut samples = 0u64;
    let mut values: Vec<[(i64, f64); 1]> = vec![[(0, 0.0)]; series];
    for k in 0..SAMPLES_PER_SERIES {
        work.step();
        let t = start_t + k as i64 * STEP_MS;
        for (i, v) in values.iter_mut().enumerate() {
            *v = [(t, work.value(i))];
        }
        let timer = Instant::now();
        for part in (0..series).collect::<Vec<_>>().chunks(BATCH) {
            let batch: Vec<SeriesSamples> = part
                .iter()
                .map(|&i| SeriesSamples {
                    labels: &borrowed[i],
                    samples: &values[i],
                })
                .collect();
            let r = db.append(&batch).expect("append");
            samples += r.appended;
        }
        append_secs += timer.elapsed().as_secs_f64();
    }
    let head_bytes = db.head_bytes();
    let timer = Instant::now();
    db.flush().expect("flush");
    let flush_secs = timer.elapsed().as_secs_f64();
    let blocks = db.blocks();
    let block_dir = dir.path().join("blocks");
    let mut chunk_bytes = 0u64;
    let mut total_bytes = 0u64;
    for b in &blocks {
        for f in ["chunks", "index", "meta.json"] {
            let len = std::fs::metadata(block_dir.join(&b.id).join(f))
                .map(|m| m.len())
                .unwrap_or(0);
            total_bytes += len;
            if f == "chunks" {
                chunk_bytes += len;
            }
        }
    }
    println!(
        "series={series} samples={samples} append={:.0} samples/s (one thread, {:.2}s) head={:.2} bytes/sample flush={:.2}s block={:.3} bytes/sample (chunks {:.3}, index {:.3})",
        samples as f64 / append_secs,
        append_secs,
        head_bytes as f64 / samples as f64,
        flush_secs,
        total_bytes as f64 / samples as f64,
        chunk_bytes as f64 / samples as f64,
        (total_bytes - chunk_bytes) as f64 / samples as f64,
    );
}

fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![10_000, 100_000] } else { sizes };
    for n in sizes {
        run(n);
    }
}
