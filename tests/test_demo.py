"""`mehr demo --for … --json` with the embedded broker shows a help-button alert within 60 s."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_reports_the_help_button_alert_of_the_simulated_home(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEHR_")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mehr_app",
            "demo",
            "--for",
            "14",
            "--json",
            "--workdir",
            str(tmp_path / "demo"),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["events_stored"] > 10
    assert {"home": "home-2", "kind": "help_button"}.items() <= summary["alerts"][0].items()
    assert [a["home"] for a in summary["alerts"]] == ["home-2"]
    assert summary["hub"]["rejected_total"] == 0
    # The urgent lane is on in the demo and stayed connected to the end.
    assert summary["urgent_lane_connected"] is True
    assert "urgent lane: mehr-demo-hub-urgent (connected" in result.stderr
    assert "embedded amqtt" in result.stderr
