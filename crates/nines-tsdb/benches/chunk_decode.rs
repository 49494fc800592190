//! Chunk decoding speed: nanoseconds per sample to decode 120-sample
//! chunks of the shared synthetic workload: Gorilla XOR over all series,
//! and XOR against packed over the series whose values pack (sealed head
//! chunks and blocks use the smaller). Query latency over raw data is
//! mostly this.
//!
//! Run: `cargo bench -p nines-tsdb --bench chunk_decode -- [ROUNDS]`
//! (default 200 rounds over 1,000 series' chunks).

use std::hint::black_box;
use std::time::Instant;

use nines_tsdb::chunk::{encode_all, encode_compact, ChunkIter, Encoding};

#[path = "workload.rs"]
mod workload;

use workload::Workload;

const SERIES: usize = 1_000;
const SAMPLES: usize = 120;

fn main() {
    let rounds: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(200);
    let mut w = Workload::new(SERIES);
    let mut samples: Vec<Vec<(i64, f64)>> = (0..SERIES).map(|_| Vec::with_capacity(SAMPLES)).collect();
    for n in 0..SAMPLES {
        w.step();
        for (i, s) in samples.iter_mut().enumerate() {
            s.push((1_700_000_000_000 + n as i64 * 15_000, w.value(i)));
        }
    }
    let xor: Vec<(Encoding, Vec<u8>)> = samples.iter().map(|s| (Encoding::Xor, encode_all(s))).collect();
    let compact: Vec<(Encoding, Vec<u8>)> = samples.iter().map(|s| encode_compact(s, None)).collect();
    // The series whose values the packed form holds (short decimals).
    let packable: Vec<usize> = (0..SERIES).filter(|&i| compact[i].0 == Encoding::Packed).collect();
    let packed: Vec<(Encoding, Vec<u8>)> = packable.iter().map(|&i| compact[i].clone()).collect();
    let packed_xor: Vec<(Encoding, Vec<u8>)> = packable.iter().map(|&i| xor[i].clone()).collect();
    let packed_samples: Vec<Vec<(i64, f64)>> = packable.iter().map(|&i| samples[i].clone()).collect();
    println!("{} of {SERIES} series pack", packable.len());
    for (name, chunks, samples) in [
        ("xor, all series", &xor, &samples),
        ("xor, packable series", &packed_xor, &packed_samples),
        ("packed", &packed, &packed_samples),
    ] {
        let t0 = Instant::now();
        let mut decoded = 0usize;
        // As a query reads: into one reused buffer.
        let mut out = Vec::with_capacity(SAMPLES);
        for _ in 0..rounds {
            for (s, (enc, bytes)) in samples.iter().zip(chunks.iter()) {
                out.clear();
                let it = ChunkIter::new(*enc, bytes, s[0].0).expect("chunk header");
                it.decode_range_into(i64::MIN, i64::MAX, &mut out).expect("decode");
                decoded += black_box(&out).len();
            }
        }
        let ns = t0.elapsed().as_nanos() as f64 / decoded as f64;
        println!("{name:<22} {ns:>6.2} ns/sample over {decoded} samples");
    }
}
