"""The hub's latency figures: percentiles that never cross, and histogram buckets that count."""

from __future__ import annotations

from prometheus_client import generate_latest

from hub.metrics import build_hub_registry
from hub.stats import HubStats, nearest_rank


def test_p50_never_exceeds_p99_with_two_samples() -> None:
    """Two samples (10 ms and 20 ms) used to give p50 20 ms and p99 10 ms."""
    stats = HubStats()
    stats.observe_latency([0.02, 0.01])
    quantiles = stats.latency_quantiles()
    assert quantiles["p50_ms"] == 10.0
    assert quantiles["p99_ms"] == 20.0


def test_percentiles_are_monotonic_for_every_sample_size() -> None:
    """For 1..300 samples, the nearest-rank quantile never decreases as q grows."""
    for n in range(1, 301):
        values = [i / 1000 for i in range(n)]
        picked = [nearest_rank(values, q) for q in (0.01, 0.25, 0.5, 0.9, 0.99, 1.0)]
        assert picked == sorted(picked), n
        assert picked[-1] == values[-1]


def test_latency_histogram_buckets_are_cumulative_and_count_every_event() -> None:
    """Prometheus buckets: le=0.01 holds the 5 ms event, +Inf holds all three, sum adds up."""
    stats = HubStats()
    stats.observe_latency([0.005, 0.2, 400.0])
    text = generate_latest(build_hub_registry(stats)).decode()
    assert 'mehr_hub_ingest_latency_seconds_bucket{le="0.01"} 1.0' in text
    assert 'mehr_hub_ingest_latency_seconds_bucket{le="0.25"} 2.0' in text
    assert 'mehr_hub_ingest_latency_seconds_bucket{le="300.0"} 2.0' in text
    assert 'mehr_hub_ingest_latency_seconds_bucket{le="+Inf"} 3.0' in text
    assert "mehr_hub_ingest_latency_seconds_count 3.0" in text
    assert "mehr_hub_ingest_latency_seconds_sum 400.205" in text
    # No gauge with a quantile label any more: it could not be aggregated across hubs.
    assert "quantile=" not in text


def test_counters_exist_before_they_move() -> None:
    """Alert rules can query ingest counters of a hub that has received nothing yet."""
    text = generate_latest(build_hub_registry(HubStats())).decode()
    for name in (
        "mehr_hub_received_total 0.0",
        "mehr_hub_stored_total 0.0",
        "mehr_hub_store_errors_total 0.0",
    ):
        assert name in text
