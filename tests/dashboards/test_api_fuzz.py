"""The API fuzz, short: schemathesis cases from the app's OpenAPI against `mehr web` (a real
process on loopback), anonymous and per role; no answer may be a 5xx (bench/fuzz_api.py runs
the long version)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.fuzz_api import CALLERS, fuzz, seed_world, serve_mehr_web, write_web_config

CASES = 400


@pytest.mark.slow
def test_schemathesis_cases_from_every_caller_get_no_server_error(tmp_path: Path) -> None:
    """Every operation, caller and generation mode once (seed 7): 0 HTTP 5xx, the server alive
    afterwards, and both refusals and successes among the answers (the fuzz reaches handlers)."""
    db_path = tmp_path / "mehr.db"
    world = seed_world(db_path, datetime.now(UTC))
    config = write_web_config(tmp_path, db_path)
    with serve_mehr_web(config) as base:
        result = fuzz(base, world, CASES, seed=7, per_target=1)
    assert result.cases >= CASES
    assert result.failures == []
    nonconforming = sorted({(f.method, f.path, f.status, f.body[:120]) for f in
                            result.nonconforming})
    assert nonconforming == [], "\n".join(map(str, nonconforming))
    assert set(result.by_caller) == {c or "anonymous" for c in CALLERS}
    statuses = set(result.by_status)
    assert 200 in statuses and {401, 403, 404, 422} <= statuses, result.by_status
