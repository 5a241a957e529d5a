"""The short version of bench/fuzz.py --mqtt: a few thousand hostile payloads on every kit topic
through a real Mosquitto to the hub process leave it running, storing, and clean."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "fuzz.py"


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_fuzz", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_a_few_thousand_hostile_payloads_neither_crash_nor_stall_nor_pollute_the_hub() -> None:
    fuzz = _load_bench()
    args = argparse.Namespace(
        payloads=3000, chunk=1000, kits=3, valid_ratio=0.1, canary_timeout_s=30.0, seed=7
    )
    result = fuzz.run_mqtt(args)
    assert result["hub_crashes"] == 0
    assert result["ingest_stalls"] == 0
    assert result["invalid_rows"] == 0
    assert result["tracebacks_in_log"] == 0
    assert result["valid_events_stored"] == result["valid_events_sent"] > 0
    assert result["rejected_total"] > 0.8 * result["payloads"]
    assert result["healthz_at_end"]["ok"] is True
    # Bounded logging: every reason logged ten times at most, then summaries.
    assert result["log_lines"] < 10 * len(result["rejected"]) + 100
