//! The OTLP metrics messages nines reads, written by hand after
//! `opentelemetry/proto/metrics/v1/metrics.proto` (and the common,
//! resource and collector protos). One set of types serves both
//! encodings: prost for protobuf, serde for OTLP/JSON (lowerCamelCase
//! names, 64-bit integers as strings or numbers, enums as integers).
//! Fields nines does not use (exemplars, schema URLs, dropped counts) are
//! left out: protobuf skips unknown fields and serde ignores unknown keys.

use serde::{Deserialize, Deserializer};

/// Accepts a JSON number or a string, as OTLP/JSON writes 64-bit integers
/// as strings and may write doubles as "NaN" or "Infinity".
fn lenient<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + std::str::FromStr,
    T::Err: std::fmt::Display,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N<T> {
        Num(T),
        Str(String),
    }
    match N::<T>::deserialize(d)? {
        N::Num(n) => Ok(n),
        N::Str(s) => s.parse().map_err(serde::de::Error::custom),
    }
}

fn opt_lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + std::str::FromStr,
    T::Err: std::fmt::Display,
{
    lenient(d).map(Some)
}

fn vec_lenient<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + std::str::FromStr,
    T::Err: std::fmt::Display,
{
    #[derive(Deserialize)]
    #[serde(bound = "T: Deserialize<'de> + std::str::FromStr, T::Err: std::fmt::Display")]
    struct W<T>(#[serde(deserialize_with = "lenient")] T);
    Ok(Vec::<W<T>>::deserialize(d)?.into_iter().map(|w| w.0).collect())
}

fn bytes_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    String::deserialize(d).map(String::into_bytes)
}

/// `ExportMetricsServiceRequest`
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExportMetricsServiceRequest {
    /// Metrics grouped by resource.
    #[prost(message, repeated, tag = "1")]
    pub resource_metrics: Vec<ResourceMetrics>,
}

/// `ResourceMetrics`
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResourceMetrics {
    /// The resource (service) that produced the metrics.
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    /// Metrics grouped by instrumentation scope.
    #[prost(message, repeated, tag = "2")]
    pub scope_metrics: Vec<ScopeMetrics>,
}

/// `Resource`
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Resource {
    /// Resource attributes such as `service.name`.
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
}

/// `ScopeMetrics`
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScopeMetrics {
    /// The instrumentation library.
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    /// Its metrics.
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
}

/// `InstrumentationScope`
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct InstrumentationScope {
    /// Scope name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Scope version.
    #[prost(string, tag = "2")]
    pub version: String,
}

/// `Metric`
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(from = "MetricJson")]
pub struct Metric {
    /// Instrument name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Description.
    #[prost(string, tag = "2")]
    pub description: String,
    /// UCUM unit.
    #[prost(string, tag = "3")]
    pub unit: String,
    /// The points, by kind.
    #[prost(oneof = "MetricData", tags = "5, 7, 9, 10, 11")]
    pub data: Option<MetricData>,
}

/// `Metric` as JSON writes it: the oneof's member is a key of its own. A
/// flattened `Option` would turn a malformed point into a metric with no
/// data, dropped without a word; these fields make it an error.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct MetricJson {
    name: String,
    description: String,
    unit: String,
    gauge: Option<Gauge>,
    sum: Option<Sum>,
    histogram: Option<Histogram>,
    exponential_histogram: Option<ExponentialHistogram>,
    summary: Option<Summary>,
}

impl From<MetricJson> for Metric {
    fn from(j: MetricJson) -> Self {
        let data = j
            .gauge
            .map(MetricData::Gauge)
            .or(j.sum.map(MetricData::Sum))
            .or(j.histogram.map(MetricData::Histogram))
            .or(j.exponential_histogram.map(MetricData::ExponentialHistogram))
            .or(j.summary.map(MetricData::Summary));
        Metric {
            name: j.name,
            description: j.description,
            unit: j.unit,
            data,
        }
    }
}

/// The `data` oneof of `Metric`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum MetricData {
    /// Gauge points.
    #[prost(message, tag = "5")]
    Gauge(Gauge),
    /// Sum points.
    #[prost(message, tag = "7")]
    Sum(Sum),
    /// Explicit-bucket histogram points.
    #[prost(message, tag = "9")]
    Histogram(Histogram),
    /// Exponential histogram points (refused).
    #[prost(message, tag = "10")]
    ExponentialHistogram(ExponentialHistogram),
    /// Summary points.
    #[prost(message, tag = "11")]
    Summary(Summary),
}

/// `Gauge`
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Gauge {
    /// Points.
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<NumberDataPoint>,
}

/// `Sum`
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Sum {
    /// Points.
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<NumberDataPoint>,
    /// 1 delta, 2 cumulative.
    #[prost(int32, tag = "2")]
    pub aggregation_temporality: i32,
    /// A counter (never decreases) rather than an up-down counter.
    #[prost(bool, tag = "3")]
    pub is_monotonic: bool,
}

/// `Histogram`
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Histogram {
    /// Points.
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<HistogramDataPoint>,
    /// 1 delta, 2 cumulative.
    #[prost(int32, tag = "2")]
    pub aggregation_temporality: i32,
}

/// `ExponentialHistogram`: only its presence and temporality matter.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExponentialHistogram {
    /// 1 delta, 2 cumulative.
    #[prost(int32, tag = "2")]
    pub aggregation_temporality: i32,
}

/// `Summary`
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Summary {
    /// Points.
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<SummaryDataPoint>,
}

/// Set in `flags` when a point has no value (the series went away).
pub const FLAG_NO_RECORDED_VALUE: u32 = 1;

/// `NumberDataPoint`
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NumberDataPoint {
    /// Point attributes: become labels.
    #[prost(message, repeated, tag = "7")]
    pub attributes: Vec<KeyValue>,
    /// When the point was taken.
    #[prost(fixed64, tag = "3")]
    #[serde(deserialize_with = "lenient")]
    pub time_unix_nano: u64,
    /// The value.
    #[prost(oneof = "NumberValue", tags = "4, 6")]
    #[serde(flatten)]
    pub value: Option<NumberValue>,
    /// Flags.
    #[prost(uint32, tag = "8")]
    pub flags: u32,
}

/// The value oneof of `NumberDataPoint`.
#[derive(Clone, PartialEq, prost::Oneof, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum NumberValue {
    /// A double.
    #[prost(double, tag = "4")]
    AsDouble(#[serde(deserialize_with = "lenient")] f64),
    /// An integer.
    #[prost(sfixed64, tag = "6")]
    AsInt(#[serde(deserialize_with = "lenient")] i64),
}

/// `HistogramDataPoint`
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HistogramDataPoint {
    /// Point attributes.
    #[prost(message, repeated, tag = "9")]
    pub attributes: Vec<KeyValue>,
    /// When the point was taken.
    #[prost(fixed64, tag = "3")]
    #[serde(deserialize_with = "lenient")]
    pub time_unix_nano: u64,
    /// Observations.
    #[prost(fixed64, tag = "4")]
    #[serde(deserialize_with = "lenient")]
    pub count: u64,
    /// Sum of observations, when meaningful.
    #[prost(double, optional, tag = "5")]
    #[serde(deserialize_with = "opt_lenient")]
    pub sum: Option<f64>,
    /// Observations per bucket (not cumulative); one more than bounds.
    #[prost(fixed64, repeated, tag = "6")]
    #[serde(deserialize_with = "vec_lenient")]
    pub bucket_counts: Vec<u64>,
    /// Upper bounds of all buckets but the last.
    #[prost(double, repeated, tag = "7")]
    #[serde(deserialize_with = "vec_lenient")]
    pub explicit_bounds: Vec<f64>,
    /// Flags.
    #[prost(uint32, tag = "10")]
    pub flags: u32,
}

/// `SummaryDataPoint`
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SummaryDataPoint {
    /// Point attributes.
    #[prost(message, repeated, tag = "7")]
    pub attributes: Vec<KeyValue>,
    /// When the point was taken.
    #[prost(fixed64, tag = "3")]
    #[serde(deserialize_with = "lenient")]
    pub time_unix_nano: u64,
    /// Observations.
    #[prost(fixed64, tag = "4")]
    #[serde(deserialize_with = "lenient")]
    pub count: u64,
    /// Sum of observations.
    #[prost(double, tag = "5")]
    #[serde(deserialize_with = "lenient")]
    pub sum: f64,
    /// Quantiles.
    #[prost(message, repeated, tag = "6")]
    pub quantile_values: Vec<ValueAtQuantile>,
    /// Flags.
    #[prost(uint32, tag = "8")]
    pub flags: u32,
}

/// `ValueAtQuantile`
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ValueAtQuantile {
    /// The quantile, 0..=1.
    #[prost(double, tag = "1")]
    #[serde(deserialize_with = "lenient")]
    pub quantile: f64,
    /// Its value.
    #[prost(double, tag = "2")]
    #[serde(deserialize_with = "lenient")]
    pub value: f64,
}

/// `KeyValue`
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KeyValue {
    /// Attribute key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Attribute value.
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

/// `AnyValue`
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AnyValue {
    /// The value, by type.
    #[prost(oneof = "Value", tags = "1, 2, 3, 4, 5, 6, 7")]
    #[serde(flatten)]
    pub value: Option<Value>,
}

/// The oneof of `AnyValue`.
#[derive(Clone, PartialEq, prost::Oneof, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Value {
    /// A string.
    #[prost(string, tag = "1")]
    StringValue(String),
    /// A boolean.
    #[prost(bool, tag = "2")]
    BoolValue(bool),
    /// An integer.
    #[prost(int64, tag = "3")]
    IntValue(#[serde(deserialize_with = "lenient")] i64),
    /// A double.
    #[prost(double, tag = "4")]
    DoubleValue(#[serde(deserialize_with = "lenient")] f64),
    /// A list.
    #[prost(message, tag = "5")]
    ArrayValue(ArrayValue),
    /// A map.
    #[prost(message, tag = "6")]
    KvlistValue(KeyValueList),
    /// Bytes (base64 in JSON, kept as that text).
    #[prost(bytes, tag = "7")]
    BytesValue(#[serde(deserialize_with = "bytes_lenient")] Vec<u8>),
}

/// `ArrayValue`
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ArrayValue {
    /// Items.
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<AnyValue>,
}

/// `KeyValueList`
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KeyValueList {
    /// Entries.
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<KeyValue>,
}

/// `ExportMetricsPartialSuccess`, for the response.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportMetricsPartialSuccess {
    /// Points refused.
    #[prost(int64, tag = "1")]
    pub rejected_data_points: i64,
    /// Why.
    #[prost(string, tag = "2")]
    pub error_message: String,
}

/// `ExportMetricsServiceResponse`
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportMetricsServiceResponse {
    /// Set when some points were refused.
    #[prost(message, optional, tag = "1")]
    pub partial_success: Option<ExportMetricsPartialSuccess>,
}

/// `google.rpc.Status`, the body of OTLP/HTTP error responses.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Status {
    /// A gRPC code (3 = INVALID_ARGUMENT).
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// What went wrong.
    #[prost(string, tag = "2")]
    pub message: String,
}
