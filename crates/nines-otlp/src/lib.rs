//! OTLP metrics for nines: the OTLP/HTTP request in protobuf or JSON, its
//! translation to Prometheus series (see [`translate`]), and the response
//! and error bodies OTLP/HTTP clients expect.

use prost::Message;

pub mod proto;
pub mod translate;

pub use translate::{translate, Series, Translation};

/// The body encodings of OTLP/HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`
    Protobuf,
    /// `application/json`
    Json,
}

impl Encoding {
    /// Picks the encoding from a `Content-Type`; `None` for anything else.
    pub fn from_content_type(ct: &str) -> Option<Self> {
        let base = ct.split(';').next().unwrap_or("").trim();
        match base {
            "application/x-protobuf" | "application/protobuf" => Some(Encoding::Protobuf),
            "application/json" => Some(Encoding::Json),
            _ => None,
        }
    }

    /// The `Content-Type` of responses.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// A request body that does not decode.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Invalid protobuf.
    #[error("invalid OTLP protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// Invalid OTLP/JSON.
    #[error("invalid OTLP JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Decodes an `ExportMetricsServiceRequest`.
pub fn decode(body: &[u8], encoding: Encoding) -> Result<proto::ExportMetricsServiceRequest, DecodeError> {
    Ok(match encoding {
        Encoding::Protobuf => proto::ExportMetricsServiceRequest::decode(body)?,
        Encoding::Json => serde_json::from_slice(body)?,
    })
}

/// The success body: empty, or a partial success naming what was refused.
pub fn response_body(encoding: Encoding, rejected: u64, message: &str) -> Vec<u8> {
    let partial = (rejected > 0).then(|| proto::ExportMetricsPartialSuccess {
        rejected_data_points: i64::try_from(rejected).unwrap_or(i64::MAX),
        error_message: message.to_string(),
    });
    match encoding {
        Encoding::Protobuf => proto::ExportMetricsServiceResponse {
            partial_success: partial,
        }
        .encode_to_vec(),
        Encoding::Json => {
            let v = match partial {
                Some(p) => serde_json::json!({"partialSuccess": {
                    "rejectedDataPoints": p.rejected_data_points.to_string(),
                    "errorMessage": p.error_message,
                }}),
                None => serde_json::json!({}),
            };
            v.to_string().into_bytes()
        }
    }
}

/// The body of a 4xx/5xx answer: a `google.rpc.Status`.
pub fn status_body(encoding: Encoding, code: i32, message: &str) -> Vec<u8> {
    match encoding {
        Encoding::Protobuf => proto::Status {
            code,
            message: message.to_string(),
        }
        .encode_to_vec(),
        Encoding::Json => serde_json::json!({"code": code, "message": message})
            .to_string()
            .into_bytes(),
    }
}

/// Decodes and translates arbitrary bytes for fuzzing: never panics.
#[doc(hidden)]
pub fn fuzz_decode(body: &[u8], json: bool) -> usize {
    let enc = if json { Encoding::Json } else { Encoding::Protobuf };
    decode(body, enc).map(|r| translate(&r).series.len()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::proto::*;
    use super::*;

    fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(v.into())),
            }),
        }
    }

    fn sample_request() -> ExportMetricsServiceRequest {
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource {
                    attributes: vec![
                        kv("service.name", "checkout"),
                        kv("service.instance.id", "i-1"),
                        kv("host.name", "h1"),
                    ],
                }),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: "shop".into(),
                        version: "1.2".into(),
                    }),
                    metrics: vec![
                        Metric {
                            name: "orders".into(),
                            unit: "{order}".into(),
                            data: Some(MetricData::Sum(Sum {
                                data_points: vec![NumberDataPoint {
                                    attributes: vec![kv("payment.method", "card")],
                                    time_unix_nano: 1_700_000_000_000_000_000,
                                    value: Some(NumberValue::AsInt(42)),
                                    flags: 0,
                                }],
                                aggregation_temporality: 2,
                                is_monotonic: true,
                            })),
                            ..Default::default()
                        },
                        Metric {
                            name: "http.server.duration".into(),
                            unit: "ms".into(),
                            data: Some(MetricData::Histogram(Histogram {
                                data_points: vec![HistogramDataPoint {
                                    attributes: vec![],
                                    time_unix_nano: 1_700_000_000_000_000_000,
                                    count: 6,
                                    sum: Some(120.5),
                                    bucket_counts: vec![1, 2, 3],
                                    explicit_bounds: vec![10.0, 100.0],
                                    flags: 0,
                                }],
                                aggregation_temporality: 2,
                            })),
                            ..Default::default()
                        },
                    ],
                }],
            }],
        }
    }

    const SAMPLE_JSON: &str = r#"{"resourceMetrics":[{"resource":{"attributes":[
        {"key":"service.name","value":{"stringValue":"checkout"}},
        {"key":"service.instance.id","value":{"stringValue":"i-1"}},
        {"key":"host.name","value":{"stringValue":"h1"}}]},
      "scopeMetrics":[{"scope":{"name":"shop","version":"1.2"},"metrics":[
        {"name":"orders","unit":"{order}","sum":{"aggregationTemporality":2,"isMonotonic":true,
          "dataPoints":[{"attributes":[{"key":"payment.method","value":{"stringValue":"card"}}],
            "timeUnixNano":"1700000000000000000","asInt":"42"}]}},
        {"name":"http.server.duration","unit":"ms","histogram":{"aggregationTemporality":2,
          "dataPoints":[{"timeUnixNano":1700000000000000000,"count":"6","sum":120.5,
            "bucketCounts":["1","2",3],"explicitBounds":[10,100]}]}}]}]}]}"#;

    #[test]
    fn json_and_protobuf_decode_to_the_same_request() {
        let from_proto = decode(&sample_request().encode_to_vec(), Encoding::Protobuf).unwrap();
        let from_json = decode(SAMPLE_JSON.as_bytes(), Encoding::Json).unwrap();
        assert_eq!(from_proto, sample_request());
        assert_eq!(from_json, sample_request());
    }

    fn find<'a>(t: &'a Translation, name: &str, extra: Option<(&str, &str)>) -> &'a Series {
        t.series
            .iter()
            .find(|s| {
                s.labels.iter().any(|(n, v)| n == "__name__" && v == name)
                    && extra.is_none_or(|(en, ev)| s.labels.iter().any(|(n, v)| n == en && v == ev))
            })
            .unwrap_or_else(|| panic!("{name} {extra:?} missing from {t:?}"))
    }

    #[test]
    fn translation_maps_names_resources_and_buckets() {
        let t = translate(&sample_request());
        let orders = find(&t, "orders_total", None);
        let labels: Vec<(&str, &str)> = orders.labels.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert_eq!(
            labels,
            vec![
                ("__name__", "orders_total"),
                ("instance", "i-1"),
                ("job", "checkout"),
                ("otel_scope_name", "shop"),
                ("otel_scope_version", "1.2"),
                ("payment_method", "card"),
            ]
        );
        assert_eq!(orders.samples, vec![(1_700_000_000_000, 42.0)]);
        let b = |le| find(&t, "http_server_duration_milliseconds_bucket", Some(("le", le))).samples[0].1;
        assert_eq!((b("10"), b("100"), b("+Inf")), (1.0, 3.0, 6.0));
        assert_eq!(
            find(&t, "http_server_duration_milliseconds_sum", None).samples[0].1,
            120.5
        );
        assert_eq!(
            find(&t, "http_server_duration_milliseconds_count", None).samples[0].1,
            6.0
        );
        let info = find(&t, "target_info", None);
        assert!(info.labels.contains(&("host_name".into(), "h1".into())));
        assert!(info.labels.contains(&("job".into(), "checkout".into())));
        assert!(!info.labels.iter().any(|(n, _)| n == "service_name"));
    }

    #[test]
    fn delta_and_exponential_histograms_are_refused_with_reasons() {
        let mut req = sample_request();
        let metrics = &mut req.resource_metrics[0].scope_metrics[0].metrics;
        if let Some(MetricData::Sum(s)) = &mut metrics[0].data {
            s.aggregation_temporality = 1;
        }
        metrics[1].data = Some(MetricData::ExponentialHistogram(ExponentialHistogram {
            aggregation_temporality: 2,
        }));
        let t = translate(&req);
        assert_eq!(t.rejected_points, 2);
        assert!(t.errors[0].contains("delta temporality"), "{:?}", t.errors);
        assert!(t.errors[1].contains("exponential histograms"), "{:?}", t.errors);
    }

    #[test]
    fn no_recorded_value_becomes_a_stale_marker() {
        let mut req = sample_request();
        if let Some(MetricData::Sum(s)) = &mut req.resource_metrics[0].scope_metrics[0].metrics[0].data {
            s.data_points[0].flags = FLAG_NO_RECORDED_VALUE;
        }
        let t = translate(&req);
        assert!(nines_tsdb::is_stale_nan(find(&t, "orders_total", None).samples[0].1));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            fuzz_decode(&body, false);
            fuzz_decode(&body, true);
        }
    }

    #[test]
    fn malformed_point_times_are_errors_not_silence() {
        for ts in [r#""NaN""#, r#""18446744073709551616""#, "1e300", r#""-1""#] {
            let json = format!(
                r#"{{"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[{{"name":"x","gauge":{{"dataPoints":[{{"timeUnixNano":{ts},"asDouble":1}}]}}}}]}}]}}]}}"#
            );
            let err = decode(json.as_bytes(), Encoding::Json).expect_err(ts);
            assert!(err.to_string().contains("line 1"), "{ts}: {err}");
        }
    }
}
