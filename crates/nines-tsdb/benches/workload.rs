//! The synthetic workload shared by the storage and end-to-end ingestion
//! benchmarks, so their figures describe the same data.
#![allow(dead_code)]

/// A small deterministic generator (xorshift64*), so runs are comparable.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What a typical exporter exposes: request and byte counters growing by
/// varying integer amounts (some idle), integer gauges (queue lengths,
/// memory bytes in pages) and fractional gauges (ratios, temperatures with
/// two decimals).
pub struct Workload {
    values: Vec<f64>,
    kinds: Vec<u8>,
    rng: Rng,
}

impl Workload {
    pub fn new(series: usize) -> Self {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let kinds: Vec<u8> = (0..series).map(|i| (i % 4) as u8).collect();
        let values = kinds
            .iter()
            .map(|k| match k {
                0 => rng.below(1_000_000) as f64,
                1 => (rng.below(1 << 20) * 4096) as f64,
                2 => rng.below(500) as f64,
                _ => (rng.below(10_000) as f64) / 100.0,
            })
            .collect();
        Self { values, kinds, rng }
    }

    /// Advances every series by one scrape.
    pub fn step(&mut self) {
        for (v, k) in self.values.iter_mut().zip(&self.kinds) {
            match k {
                // Request counter: idle a quarter of the time.
                0 => {
                    if self.rng.below(4) != 0 {
                        *v += self.rng.below(200) as f64;
                    }
                }
                // Byte counter: whole pages.
                1 => *v += (self.rng.below(64) * 4096) as f64,
                // Integer gauge: a small random walk, never negative.
                2 => *v = (*v + self.rng.below(11) as f64 - 5.0).max(0.0),
                // Two-decimal gauge.
                _ => *v = ((*v * 100.0 + (self.rng.unit() * 40.0 - 20.0).round()).max(0.0)).round() / 100.0,
            }
        }
    }

    pub fn value(&self, i: usize) -> f64 {
        self.values[i]
    }
}

pub fn series_labels(i: usize) -> Vec<(String, String)> {
    let name = [
        "http_requests_total",
        "net_bytes_total",
        "queue_length",
        "temperature_celsius",
    ][i % 4];
    vec![
        ("__name__".into(), name.into()),
        ("instance".into(), format!("10.0.{}.{}:9100", (i / 256) % 256, i % 256)),
        ("job".into(), format!("service-{}", i % 50)),
        ("path".into(), format!("/api/v1/resource/{}", i % 20)),
        ("zone".into(), format!("eu-west-{}", i % 3)),
    ]
}

