//! The synthetic workload shared by the storage and end-to-end ingestion
//! benchmarks, so their figures describe the same data.
#![allow(dead_code)]

/// A small deterministic generator (xorshift64*), so runs are comparable.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What a typical exporter exposes, by series number modulo 10:
///
/// - 0–2: request counters growing by 0–199 per scrape, idle a quarter of
///   the time;
/// - 3: byte counters growing by 0–63 whole pages (4 KiB);
/// - 4–5: integer gauges (queue lengths, connections) moving by −5…+5 in
///   three scrapes out of ten;
/// - 6–7: constant gauges (`up`, limits, `*_info`);
/// - 8–9: two-decimal gauges (temperatures, ratios) moving by up to ±0.20.
pub struct Workload {
    values: Vec<f64>,
    kinds: Vec<u8>,
    rng: Rng,
}

impl Workload {
    pub fn new(series: usize) -> Self {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let kinds: Vec<u8> = (0..series).map(|i| (i % 10) as u8).collect();
        let values = kinds
            .iter()
            .map(|k| match k {
                0..=2 => rng.below(1_000_000) as f64,
                3 => (rng.below(1 << 20) * 4096) as f64,
                4 | 5 => rng.below(500) as f64,
                6 | 7 => rng.below(3) as f64,
                _ => (rng.below(10_000) as f64) / 100.0,
            })
            .collect();
        Self { values, kinds, rng }
    }

    /// Advances every series by one scrape.
    pub fn step(&mut self) {
        for (v, k) in self.values.iter_mut().zip(&self.kinds) {
            match k {
                0..=2 => {
                    if self.rng.below(4) != 0 {
                        *v += self.rng.below(200) as f64;
                    }
                }
                3 => *v += (self.rng.below(64) * 4096) as f64,
                4 | 5 => {
                    if self.rng.below(10) < 3 {
                        *v = (*v + self.rng.below(11) as f64 - 5.0).max(0.0);
                    }
                }
                6 | 7 => {}
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
        "rpc_calls_total",
        "db_queries_total",
        "net_bytes_total",
        "queue_length",
        "open_connections",
        "up",
        "process_max_fds",
        "temperature_celsius",
        "cache_hit_ratio",
    ][i % 10];
    vec![
        ("__name__".into(), name.into()),
        (
            "instance".into(),
            format!("10.0.{}.{}:9100", (i / 2560) % 256, (i / 10) % 256),
        ),
        ("job".into(), format!("service-{}", (i / 10) % 50)),
        ("path".into(), format!("/api/v1/resource/{}", i % 20)),
        ("zone".into(), format!("eu-west-{}", i % 3)),
    ]
}
