"""Load fall-classifier parameters from a path, bytes, or the file shipped in the package.

Kept apart from `detectors.fall` so the classifier itself never reads a file.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from detectors.errors import BadParameters
from detectors.fall import FallParams

__all__ = ["default_fall_params_path", "load_fall_params"]

_PACKAGE = "detectors.params"
_FALLS = "falls.json"


def default_fall_params_path() -> Path:
    """Where the shipped fall parameters live in a source checkout (for `mehr train falls`)."""
    return Path(__file__).resolve().parent / "params" / _FALLS


def load_fall_params(source: Path | bytes | str | None = None) -> FallParams:
    """Load fall parameters from a path, raw JSON bytes/str, or (None) the shipped file."""
    if source is None:
        raw: bytes | str = resources.files(_PACKAGE).joinpath(_FALLS).read_bytes()
        origin = f"{_PACKAGE}/{_FALLS}"
    elif isinstance(source, Path):
        raw = source.read_bytes()
        origin = str(source)
    else:
        raw = source
        origin = "<bytes>"
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadParameters(f"{origin}: not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise BadParameters(f"{origin}: expected a JSON object")
    try:
        return FallParams.from_dict(data)
    except BadParameters as exc:
        raise BadParameters(f"{origin}: {exc}") from exc
