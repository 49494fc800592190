"""Exports a few metrics to nines with the real OpenTelemetry Python SDK
and its OTLP/HTTP (protobuf, gzip) exporter. Usage: sdk_export.py URL"""
import sys

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExportResult, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

url = sys.argv[1]


class Recording(OTLPMetricExporter):
    """Remembers whether every export succeeded."""

    ok = True

    def export(self, metrics_data, timeout_millis=10_000, **kwargs):
        result = super().export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        Recording.ok = Recording.ok and result == MetricExportResult.SUCCESS
        return result


exporter = Recording(endpoint=url + "/v1/metrics", compression=Compression.Gzip)
reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
resource = Resource.create(
    {"service.name": "checkout", "service.instance.id": "pod-1", "deployment.environment": "test"}
)
provider = MeterProvider(resource=resource, metric_readers=[reader])
meter = provider.get_meter("shop", "1.2.3")

orders = meter.create_counter("orders", unit="{order}", description="Orders placed")
orders.add(3, {"payment.method": "card"})
orders.add(2, {"payment.method": "cash"})
latency = meter.create_histogram("http.server.duration", unit="ms")
for v in (5, 50, 500):
    latency.record(v, {"http.route": "/pay"})
queue = meter.create_up_down_counter("queue.size", unit="{item}")
queue.add(7)
cpu = meter.create_gauge("cpu.utilization", unit="1")
cpu.set(0.25)

provider.force_flush()
provider.shutdown()
sys.exit(0 if Recording.ok else 1)
