"""An alerts config for runs with several hubs: every person is a path on one loopback webhook.

Step 0 goes to the on-call worker (`/sw`), step 1 to the duty officer (`/duty`) after
`second_step_after_s`; no re-notify and one delivery attempt, so every request a person's path
receives is one step of one alert (what the exactly-once checks count).
"""

from __future__ import annotations

from typing import Any

__all__ = ["two_step_alerts"]


def two_step_alerts(webhook_port: int, second_step_after_s: float, district: str) -> dict[str, Any]:
    """The config as a dict (write it with yaml.safe_dump)."""
    hook = f"json://127.0.0.1:{webhook_port}"
    steps = [
        {"after_s": 0, "notify": ["on_call"]},
        {"after_s": second_step_after_s, "notify": ["duty_officer"]},
    ]
    return {
        "district": {
            "name": district,
            "supervisor": "sup",
            "duty_officers": [{"person": "duty", "start": "00:00", "end": "00:00"}],
        },
        "mahallas": [
            {"name": "Navbahor", "rota": [{"person": "sw", "start": "00:00", "end": "00:00"}]}
        ],
        "people": [
            {"id": "sw", "name": "Aziza", "methods": [{"url": f"{hook}/sw"}]},
            {"id": "duty", "name": "Bekzod", "methods": [{"url": f"{hook}/duty"}]},
            {"id": "sup", "name": "Nodira", "methods": [{"url": f"{hook}/sup"}]},
        ],
        "homes": [],
        "policies": {s: {"steps": steps} for s in ("critical", "high", "medium", "low")},
        "delivery": {"attempts_per_method": 1, "backoff_s": [1]},
    }
