"""Cost of parse_message (the hub's first step for every message), side by side with another
version of mehr/contract.py in the same process, alternating rounds; prints one JSON line.

    git show <rev>:mehr/contract.py > /tmp/contract_other.py
    .venv/bin/python bench/contract_parse.py /tmp/contract_other.py
"""

from __future__ import annotations

import importlib.util
import json
import statistics
import sys
import timeit
from pathlib import Path
from types import ModuleType


def load(path: Path, name: str) -> ModuleType:
    """Import one contract.py under its own name (it imports nothing of the project)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


old = load(Path(sys.argv[1]), "contract_other")
new = load(Path(__file__).resolve().parents[1] / "mehr" / "contract.py", "contract_here")
ev = json.dumps(
    {
        "v": 1,
        "kit": "kit-1",
        "epoch": 7305112,
        "seq": 41,
        "sensor": "pir-kitchen",
        "kind": "motion",
        "value": True,
        "ts": "2026-11-23T05:40:12.250Z",
    }
).encode()
acc = json.dumps(
    {
        "v": 1,
        "kit": "kit-1",
        "epoch": 1,
        "seq": 43,
        "sensor": "pendant",
        "kind": "accel_window",
        "ts": "2026-11-23T06:10:00.080Z",
        "rate_hz": 50,
        "start": "2026-11-23T06:10:00Z",
        "trigger_index": 2,
        "samples": [[0.0123, -0.9812, 0.0534]] * 600,
    }
).encode()
out = {}
for label, kind, p, n in (("event", "events", ev, 5000), ("accel_600", "accel", acc, 50)):
    res: dict[str, list[float]] = {"other": [], "here": []}
    for _ in range(7):
        for name, m in (("other", old), ("here", new)):
            t = f"mehr/v1/homes/home-1/kits/kit-1/{kind}"
            call = lambda m=m, t=t, p=p: m.parse_message(t, p)  # noqa: E731 -- bound now
            res[name].append(timeit.timeit(call, number=n) / n * 1e6)
    mo, br = statistics.median(res["other"]), statistics.median(res["here"])
    out[label] = {"other_us": round(mo, 1), "here_us": round(br, 1), "ratio": round(br / mo, 2)}
print(json.dumps(out))
