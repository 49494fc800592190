//! nines observing itself: `GET /metrics` in the Prometheus text format.
//!
//! Request counts and latencies are recorded as requests happen; store and
//! scrape figures are read from their counters when `/metrics` is
//! scraped, so the hot paths pay nothing for being observed.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use nines_scrape::{Health, ScrapeManager};
use nines_tsdb::Db;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::TypedMetric;
use prometheus_client::registry::Registry;

use crate::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    handler: String,
    method: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandlerLabels {
    handler: String,
}

/// The self-metrics registry and the instruments recorded directly.
pub struct Telemetry {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<HandlerLabels, Histogram>,
    wal_fsync: Histogram,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Telemetry")
    }
}

impl Telemetry {
    /// A registry covering the store, the query gate and, if given, the
    /// scrape manager.
    pub fn new(db: Arc<Db>, scrape: Option<Arc<ScrapeManager>>, queries: &crate::query_gate::QueryGate) -> Arc<Self> {
        let mut registry = Registry::default();
        registry.register(
            "nines_queries_running",
            "PromQL queries evaluating now",
            queries.running.clone(),
        );
        registry.register(
            "nines_queries_canceled",
            "PromQL queries called off because their client went away",
            queries.canceled.clone(),
        );
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "nines_http_requests",
            "HTTP requests answered, by route, method and status code",
            requests.clone(),
        );
        let latency = Family::<HandlerLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 4.0, 9))
        });
        registry.register(
            "nines_http_request_duration_seconds",
            "Time to answer an HTTP request, by route",
            latency.clone(),
        );
        let wal_fsync = Histogram::new(exponential_buckets(0.0001, 4.0, 9));
        registry.register(
            "nines_wal_fsync_duration_seconds",
            "Time a WAL fsync took",
            wal_fsync.clone(),
        );
        registry.register_collector(Box::new(StateCollector { db, scrape }));
        Arc::new(Self {
            registry,
            requests,
            latency,
            wal_fsync,
        })
    }

    /// Records one WAL fsync.
    pub fn observe_wal_fsync(&self, seconds: f64) {
        self.wal_fsync.observe(seconds);
    }

    /// The exposition text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!("encoding self-metrics failed: {e}");
        }
        out
    }
}

/// Middleware counting and timing every request by its route pattern
/// (never by raw path, which would let clients create series at will).
pub async fn track(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let handler = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "other".to_string(), |p| p.as_str().to_string());
    let method = req.method().as_str().to_string();
    let started = Instant::now();
    let resp = next.run(req).await;
    if let Some(t) = &st.telemetry {
        t.latency
            .get_or_create(&HandlerLabels {
                handler: handler.clone(),
            })
            .observe(started.elapsed().as_secs_f64());
        t.requests
            .get_or_create(&RequestLabels {
                handler,
                method,
                code: resp.status().as_u16().to_string(),
            })
            .inc();
    }
    resp
}

/// `GET /metrics`
pub async fn metrics(State(st): State<AppState>) -> Response {
    let body = st.telemetry.as_ref().map(|t| t.encode()).unwrap_or_default();
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// Reads the store's and the scrapers' counters at exposition time.
#[derive(Clone)]
struct StateCollector {
    db: Arc<Db>,
    scrape: Option<Arc<ScrapeManager>>,
}

impl std::fmt::Debug for StateCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateCollector")
    }
}

fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, v: i64) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(v);
    g.encode(enc.encode_descriptor(name, help, None, g.metric_type())?)
}

fn counter(enc: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> Result<(), std::fmt::Error> {
    let c = ConstCounter::new(v);
    c.encode(enc.encode_descriptor(name, help, None, c.metric_type())?)
}

/// One family with a single label, one constant sample per label value.
fn family_by<M: EncodeMetric + TypedMetric, const N: usize>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &'static str,
    values: [(&'static str, M); N],
) -> Result<(), std::fmt::Error> {
    let mut family = enc.encode_descriptor(name, help, None, M::TYPE)?;
    for (value, metric) in values {
        metric.encode(family.encode_family(&[(label, value)])?)?;
    }
    Ok(())
}

impl Collector for StateCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.db.stats();
        family_by(
            &mut enc,
            "nines_storage_samples",
            "Samples handed to the store, by outcome",
            "outcome",
            [
                ("appended", ConstCounter::new(s.samples_appended.load(Relaxed))),
                ("duplicate", ConstCounter::new(s.samples_duplicate.load(Relaxed))),
                ("out_of_order", ConstCounter::new(s.samples_out_of_order.load(Relaxed))),
                ("conflict", ConstCounter::new(s.samples_conflict.load(Relaxed))),
                ("too_old", ConstCounter::new(s.samples_too_old.load(Relaxed))),
                (
                    "too_far_in_future",
                    ConstCounter::new(s.samples_too_far_in_future.load(Relaxed)),
                ),
                (
                    "out_of_bounds",
                    ConstCounter::new(s.samples_out_of_bounds.load(Relaxed)),
                ),
                (
                    "invalid_series",
                    ConstCounter::new(s.samples_invalid_series.load(Relaxed)),
                ),
            ],
        )?;
        gauge(
            &mut enc,
            "nines_head_series",
            "Series in the in-memory head",
            self.db.head_series() as i64,
        )?;
        gauge(
            &mut enc,
            "nines_head_chunks_bytes",
            "Bytes of compressed samples in the head",
            self.db.head_bytes() as i64,
        )?;
        gauge(
            &mut enc,
            "nines_wal_bytes",
            "Size of the write-ahead log on disk",
            self.db.wal_bytes() as i64,
        )?;
        let blocks = self.db.blocks();
        gauge(&mut enc, "nines_blocks", "Persisted blocks", blocks.len() as i64)?;
        counter(
            &mut enc,
            "nines_head_blocks_written",
            "Blocks cut from the head",
            s.head_blocks_written.load(Relaxed),
        )?;
        counter(
            &mut enc,
            "nines_compactions",
            "Compactions run",
            s.compactions.load(Relaxed),
        )?;
        counter(
            &mut enc,
            "nines_retention_blocks_deleted",
            "Blocks deleted by retention",
            s.blocks_deleted.load(Relaxed),
        )?;
        if let Some(m) = &self.scrape {
            let c = m.counters();
            family_by(
                &mut enc,
                "nines_scrapes",
                "Scrapes run, by result",
                "result",
                [
                    ("success", ConstCounter::new(c.scrapes_ok.load(Relaxed))),
                    ("failure", ConstCounter::new(c.scrapes_failed.load(Relaxed))),
                ],
            )?;
            counter(
                &mut enc,
                "nines_scrape_samples",
                "Samples scraped after metric relabeling",
                c.samples.load(Relaxed),
            )?;
            counter(
                &mut enc,
                "nines_scrape_samples_rejected",
                "Scraped samples the store refused",
                c.samples_rejected.load(Relaxed),
            )?;
            let (mut up, mut down, mut unknown) = (0, 0, 0);
            for pool in m.status() {
                for t in pool.active {
                    match t.health {
                        Health::Up => up += 1,
                        Health::Down => down += 1,
                        Health::Unknown => unknown += 1,
                    }
                }
            }
            family_by(
                &mut enc,
                "nines_scrape_targets",
                "Scrape targets by health of their last scrape",
                "health",
                [
                    ("up", ConstGauge::new(up)),
                    ("down", ConstGauge::new(down)),
                    ("unknown", ConstGauge::new(unknown)),
                ],
            )?;
        }
        Ok(())
    }
}
