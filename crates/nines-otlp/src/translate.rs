//! OTLP metrics to Prometheus series, following the OpenTelemetry
//! specification's "OTLP metric points to Prometheus" rules as the
//! collector's Prometheus exporter applies them with suffixes on:
//! unit and `_total`/`_ratio` suffixes, `_bucket`/`_sum`/`_count` for
//! histograms, `job`/`instance` from `service.*` resource attributes and
//! the other resource attributes on `target_info`.

use std::collections::BTreeMap;

use crate::proto::{
    AnyValue, ExportMetricsServiceRequest, HistogramDataPoint, KeyValue, Metric, MetricData, NumberDataPoint,
    NumberValue, SummaryDataPoint, Value, FLAG_NO_RECORDED_VALUE,
};

/// `aggregation_temporality` of delta points.
const DELTA: i32 = 1;

/// One output series and its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Labels, `__name__` included, sorted by name.
    pub labels: Vec<(String, String)>,
    /// (timestamp ms, value).
    pub samples: Vec<(i64, f64)>,
}

/// The outcome of translating one request.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Translation {
    /// Series to store.
    pub series: Vec<Series>,
    /// Data points refused.
    pub rejected_points: u64,
    /// Why, one line per kind of problem (at most a few).
    pub errors: Vec<String>,
}

impl Translation {
    fn reject(&mut self, points: usize, why: String) {
        self.rejected_points += points as u64;
        if self.errors.len() < 5 && !self.errors.contains(&why) {
            self.errors.push(why);
        }
    }
}

fn unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "",
        "%" => "percent",
        _ => return None,
    })
}

fn per_unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ':'
}

/// Splits into tokens of legal characters: every run of anything else
/// (underscores included) becomes one separator.
fn tokens(s: &str) -> Vec<String> {
    s.split(|c: char| !is_name_char(c))
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// Unit suffix tokens: the main unit and the `per_<unit>` part, with
/// `{annotations}` dropped.
fn unit_tokens(unit: &str) -> (Option<String>, Option<String>) {
    let (main, per) = match unit.split_once('/') {
        Some((m, p)) => (m.trim(), Some(p.trim())),
        None => (unit.trim(), None),
    };
    let clean = |s: &str| tokens(s).join("_");
    let main = (!main.is_empty() && !main.contains(['{', '}']))
        .then(|| clean(unit_word(main).unwrap_or(main)))
        .filter(|m| !m.is_empty());
    let per = per
        .filter(|p| !p.is_empty() && !p.contains(['{', '}']))
        .map(|p| format!("per_{}", clean(per_unit_word(p).unwrap_or(p))))
        .filter(|p| p != "per_");
    (main, per)
}

/// What kind of Prometheus metric a point becomes, for suffixes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    /// A non-monotonic sum: stored as a gauge, but without the `_ratio`
    /// suffix gauges of unit "1" get.
    UpDown,
    Other,
}

/// The Prometheus metric name for an OTLP metric of a kind.
fn build_name(name: &str, unit: &str, kind: Kind) -> String {
    let mut parts = tokens(name);
    let (main, per) = unit_tokens(unit);
    // A unit already named in the metric name is not repeated.
    if let Some(m) = main {
        if !parts.contains(&m) {
            parts.push(m);
        }
    }
    if let Some(p) = per {
        // "per_second" is one suffix but two tokens.
        let joined = parts.join("_");
        if !joined.ends_with(&p) && !joined.contains(&format!("_{p}_")) {
            parts.push(p);
        }
    }
    if kind == Kind::Counter {
        parts.retain(|t| t != "total");
        parts.push("total".into());
    }
    if unit == "1" && kind == Kind::Gauge {
        parts.retain(|t| t != "ratio");
        parts.push("ratio".into());
    }
    let mut out = parts.join("_");
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The Prometheus label name for an attribute key, `None` if nothing
/// usable is left.
pub fn label_name(key: &str) -> Option<String> {
    let mut out = String::with_capacity(key.len());
    let mut last_underscore = false;
    for c in key.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '_' };
        if c == '_' && last_underscore {
            continue;
        }
        last_underscore = c == '_';
        out.push(c);
    }
    if out.chars().all(|c| c == '_') {
        return None;
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    } else if out.starts_with('_') {
        // Names starting with an underscore are reserved in Prometheus.
        out.insert_str(0, "key");
    }
    Some(out)
}

fn any_value_text(v: &AnyValue) -> String {
    match &v.value {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(Value::BytesValue(b)) => String::from_utf8_lossy(b).into_owned(),
        Some(Value::ArrayValue(a)) => {
            let items: Vec<String> = a.values.iter().map(any_value_text).collect();
            serde_json::to_string(&items).unwrap_or_default()
        }
        Some(Value::KvlistValue(kv)) => {
            let map: BTreeMap<&str, String> = kv
                .values
                .iter()
                .map(|e| (e.key.as_str(), e.value.as_ref().map(any_value_text).unwrap_or_default()))
                .collect();
            serde_json::to_string(&map).unwrap_or_default()
        }
        None => String::new(),
    }
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref())
}

/// Labels a series gets from its resource and scope, before point
/// attributes.
struct Context {
    base: BTreeMap<String, String>,
}

/// Adds attributes as labels; keys that collide after sanitising are
/// joined with `;` in key order, as the specification asks.
fn add_attributes(labels: &mut BTreeMap<String, String>, attrs: &[KeyValue]) {
    let mut sorted: Vec<&KeyValue> = attrs.iter().collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    let mut added: BTreeMap<String, String> = BTreeMap::new();
    for kv in sorted {
        let Some(name) = label_name(&kv.key) else {
            continue;
        };
        let value = kv.value.as_ref().map(any_value_text).unwrap_or_default();
        added
            .entry(name)
            .and_modify(|v| {
                v.push(';');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    for (n, v) in added {
        // Resource identity (job, instance) is not overridden by points.
        labels.entry(n).or_insert(v);
    }
}

fn ms(nanos: u64) -> i64 {
    (nanos / 1_000_000) as i64
}

/// The stale marker Prometheus uses; written for points flagged as
/// having no recorded value.
fn stale() -> f64 {
    f64::from_bits(nines_tsdb::STALE_NAN_BITS)
}

struct Out<'a> {
    t: &'a mut Translation,
}

impl Out<'_> {
    fn push(&mut self, labels: &BTreeMap<String, String>, name: &str, extra: Option<(&str, String)>, ts: i64, v: f64) {
        let mut l: Vec<(String, String)> = labels
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        l.push(("__name__".into(), name.to_string()));
        if let Some((n, v)) = extra {
            l.retain(|(k, _)| k != n);
            l.push((n.to_string(), v));
        }
        l.sort();
        self.t.series.push(Series {
            labels: l,
            samples: vec![(ts, v)],
        });
    }
}

fn point_labels(ctx: &Context, attrs: &[KeyValue]) -> BTreeMap<String, String> {
    let mut labels = ctx.base.clone();
    add_attributes(&mut labels, attrs);
    labels
}

fn number(p: &NumberDataPoint) -> f64 {
    if p.flags & FLAG_NO_RECORDED_VALUE != 0 {
        return stale();
    }
    match p.value {
        Some(NumberValue::AsDouble(d)) => d,
        Some(NumberValue::AsInt(i)) => i as f64,
        None => stale(),
    }
}

/// Labels, timestamp and a value filter (stale when the point is flagged
/// as having no recorded value) shared by the series of one point.
fn frame(
    ctx: &Context,
    attrs: &[KeyValue],
    time_unix_nano: u64,
    flags: u32,
) -> (BTreeMap<String, String>, i64, impl Fn(f64) -> f64) {
    let no_value = flags & FLAG_NO_RECORDED_VALUE != 0;
    (point_labels(ctx, attrs), ms(time_unix_nano), move |v: f64| {
        if no_value {
            stale()
        } else {
            v
        }
    })
}

fn histogram(out: &mut Out<'_>, ctx: &Context, name: &str, p: &HistogramDataPoint) {
    let (labels, ts, val) = frame(ctx, &p.attributes, p.time_unix_nano, p.flags);
    if !p.bucket_counts.is_empty() {
        let mut cumulative = 0u64;
        for (i, c) in p.bucket_counts.iter().enumerate() {
            cumulative = cumulative.saturating_add(*c);
            let le = match p.explicit_bounds.get(i) {
                Some(b) => format_bound(*b),
                None => "+Inf".to_string(),
            };
            out.push(
                &labels,
                &format!("{name}_bucket"),
                Some(("le", le)),
                ts,
                val(cumulative as f64),
            );
        }
        if p.bucket_counts.len() <= p.explicit_bounds.len() {
            // Bounds without a final overflow bucket: +Inf holds the count.
            out.push(
                &labels,
                &format!("{name}_bucket"),
                Some(("le", "+Inf".into())),
                ts,
                val(p.count as f64),
            );
        }
    } else {
        out.push(
            &labels,
            &format!("{name}_bucket"),
            Some(("le", "+Inf".into())),
            ts,
            val(p.count as f64),
        );
    }
    if let Some(sum) = p.sum {
        out.push(&labels, &format!("{name}_sum"), None, ts, val(sum));
    }
    out.push(&labels, &format!("{name}_count"), None, ts, val(p.count as f64));
}

fn summary(out: &mut Out<'_>, ctx: &Context, name: &str, p: &SummaryDataPoint) {
    let (labels, ts, val) = frame(ctx, &p.attributes, p.time_unix_nano, p.flags);
    for q in &p.quantile_values {
        out.push(
            &labels,
            name,
            Some(("quantile", format_bound(q.quantile))),
            ts,
            val(q.value),
        );
    }
    out.push(&labels, &format!("{name}_sum"), None, ts, val(p.sum));
    out.push(&labels, &format!("{name}_count"), None, ts, val(p.count as f64));
}

/// Formats a bucket bound or quantile the way Prometheus clients do
/// (`0.5`, `1`, `+Inf`), so `le` values match scraped histograms.
fn format_bound(b: f64) -> String {
    if b == f64::INFINITY {
        "+Inf".into()
    } else if b == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        let s = format!("{b}");
        s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
    }
}

fn numbers(out: &mut Out<'_>, ctx: &Context, name: &str, points: &[NumberDataPoint]) {
    for p in points {
        out.push(
            &point_labels(ctx, &p.attributes),
            name,
            None,
            ms(p.time_unix_nano),
            number(p),
        );
    }
}

fn metric(out: &mut Out<'_>, ctx: &Context, m: &Metric) {
    let Some(data) = &m.data else {
        return;
    };
    match data {
        MetricData::Gauge(g) => numbers(out, ctx, &build_name(&m.name, &m.unit, Kind::Gauge), &g.data_points),
        MetricData::Sum(s) => {
            if s.aggregation_temporality == DELTA {
                out.t.reject(
                    s.data_points.len(),
                    format!(
                        "metric {:?}: delta temporality is not accepted; export cumulative sums \
                         (e.g. OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=cumulative)",
                        m.name
                    ),
                );
                return;
            }
            // An up-down counter is a gauge in Prometheus.
            let kind = if s.is_monotonic { Kind::Counter } else { Kind::UpDown };
            numbers(out, ctx, &build_name(&m.name, &m.unit, kind), &s.data_points);
        }
        MetricData::Histogram(h) => {
            if h.aggregation_temporality == DELTA {
                out.t.reject(
                    h.data_points.len(),
                    format!(
                        "metric {:?}: delta temporality is not accepted; export cumulative histograms",
                        m.name
                    ),
                );
                return;
            }
            let name = build_name(&m.name, &m.unit, Kind::Other);
            for p in &h.data_points {
                histogram(out, ctx, &name, p);
            }
        }
        MetricData::ExponentialHistogram(_) => {
            out.t.reject(
                1,
                format!(
                    "metric {:?}: exponential histograms are not supported until nines stores native \
                     histograms; configure an explicit bucket histogram aggregation",
                    m.name
                ),
            );
        }
        MetricData::Summary(s) => {
            let name = build_name(&m.name, &m.unit, Kind::Other);
            for p in &s.data_points {
                summary(out, ctx, &name, p);
            }
        }
    }
}

/// Translates a whole request.
pub fn translate(req: &ExportMetricsServiceRequest) -> Translation {
    let mut t = Translation::default();
    for rm in &req.resource_metrics {
        let attrs: &[KeyValue] = rm.resource.as_ref().map_or(&[], |r| &r.attributes);
        let text = |k: &str| attr(attrs, k).map(any_value_text).filter(|s| !s.is_empty());
        let job = match (text("service.namespace"), text("service.name")) {
            (Some(ns), Some(name)) => Some(format!("{ns}/{name}")),
            (None, Some(name)) => Some(name),
            _ => None,
        };
        let instance = text("service.instance.id");
        let mut identity = BTreeMap::new();
        if let Some(j) = &job {
            identity.insert("job".to_string(), j.clone());
        }
        if let Some(i) = &instance {
            identity.insert("instance".to_string(), i.clone());
        }
        let mut latest = 0u64;
        let mut out = Out { t: &mut t };
        for sm in &rm.scope_metrics {
            let mut base = identity.clone();
            if let Some(scope) = &sm.scope {
                if !scope.name.is_empty() {
                    base.insert("otel_scope_name".into(), scope.name.clone());
                }
                if !scope.version.is_empty() {
                    base.insert("otel_scope_version".into(), scope.version.clone());
                }
            }
            let ctx = Context { base };
            for m in &sm.metrics {
                latest = latest.max(latest_time(m));
                metric(&mut out, &ctx, m);
            }
        }
        // Other resource attributes go on one target_info series, joined
        // to the metrics by job and instance.
        let others: Vec<KeyValue> = attrs
            .iter()
            .filter(|kv| {
                !matches!(
                    kv.key.as_str(),
                    "service.name" | "service.namespace" | "service.instance.id"
                )
            })
            .cloned()
            .collect();
        if !others.is_empty() && latest > 0 && (job.is_some() || instance.is_some()) {
            let mut labels = identity.clone();
            add_attributes(&mut labels, &others);
            out.push(&labels, "target_info", None, ms(latest), 1.0);
        }
    }
    t
}

fn latest_time(m: &Metric) -> u64 {
    match &m.data {
        Some(MetricData::Gauge(g)) => g.data_points.iter().map(|p| p.time_unix_nano).max(),
        Some(MetricData::Sum(s)) => s.data_points.iter().map(|p| p.time_unix_nano).max(),
        Some(MetricData::Histogram(h)) => h.data_points.iter().map(|p| p.time_unix_nano).max(),
        Some(MetricData::Summary(s)) => s.data_points.iter().map(|p| p.time_unix_nano).max(),
        _ => None,
    }
    .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_specification() {
        assert_eq!(
            build_name("http.server.request.duration", "s", Kind::Other),
            "http_server_request_duration_seconds"
        );
        assert_eq!(build_name("requests.count", "1", Kind::Counter), "requests_count_total");
        assert_eq!(build_name("memory.usage", "By", Kind::Gauge), "memory_usage_bytes");
        assert_eq!(build_name("cpu.utilization", "1", Kind::Gauge), "cpu_utilization_ratio");
        assert_eq!(
            build_name("throughput", "By/s", Kind::Gauge),
            "throughput_bytes_per_second"
        );
        assert_eq!(
            build_name("http.requests", "{request}", Kind::Counter),
            "http_requests_total"
        );
        assert_eq!(build_name("latency_seconds", "s", Kind::Other), "latency_seconds");
        assert_eq!(build_name("jobs_total", "", Kind::Counter), "jobs_total");
        assert_eq!(build_name("2xx.count", "", Kind::Gauge), "_2xx_count");
        assert_eq!(build_name("a__b..c", "", Kind::Gauge), "a_b_c");
    }

    #[test]
    fn label_names_are_sanitised() {
        assert_eq!(label_name("http.method").as_deref(), Some("http_method"));
        assert_eq!(label_name("123abc").as_deref(), Some("key_123abc"));
        assert_eq!(label_name("_private").as_deref(), Some("key_private"));
        assert_eq!(label_name("__name__").as_deref(), Some("key_name_"));
        assert_eq!(label_name("..."), None);
    }

    #[test]
    fn bounds_format_like_prometheus_clients() {
        assert_eq!(format_bound(0.005), "0.005");
        assert_eq!(format_bound(10.0), "10");
        assert_eq!(format_bound(f64::INFINITY), "+Inf");
    }
}
