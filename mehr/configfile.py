"""Load a YAML config file into a pydantic model; every error names the file, field and expectation.

Shared by the kit's config, the hub's settings and the hub's registry, so a typo anywhere reads
the same way: `kit.yaml: sensors.2.pin: Input should be a valid integer (got 'GPIO4')`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator, BaseModel, ValidationError

__all__ = [
    "ConfigError",
    "TimeZoneName",
    "describe_validation_error",
    "load_model",
    "load_settings_model",
]

ModelT = TypeVar("ModelT", bound=BaseModel)


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("expected an IANA time zone such as 'Asia/Tashkent'") from None
    return value


# A config field naming an IANA time zone (homes, kits and rotas all have one).
TimeZoneName = Annotated[str, AfterValidator(_known_zone)]


class ConfigError(ValueError):
    """A config file that cannot be used; the message is one line meant for a person."""


def describe_validation_error(source: str, exc: ValidationError) -> str:
    """Format the first problem of a validation error as 'source: field: what was expected'."""
    err = exc.errors()[0]
    field = ".".join(str(part) for part in err["loc"]) or "(top level)"
    got = err.get("input")
    got_text = ""
    if err["type"] != "missing" and not isinstance(got, dict | list):
        got_text = f" (got {got!r})"
    more = len(exc.errors()) - 1
    tail = f" [and {more} more problem{'s' if more > 1 else ''}]" if more else ""
    return f"{source}: {field}: {err['msg']}{got_text}{tail}"


def load_model(path: Path, model: type[ModelT], overrides: dict[str, Any] | None = None) -> ModelT:
    """Read `path` as YAML and validate it as `model`; raise ConfigError naming what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(f"{path}: bad YAML{where}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: (top level): expected a mapping of settings")
    if overrides:
        data = {**data, **overrides}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(str(path), exc)) from None


def load_settings_model(
    path: Path | None,
    model: type[ModelT],
    env_fields: Mapping[str, str],
    overrides: Mapping[str, Any],
    default_source: str,
) -> tuple[ModelT, str]:
    """Settings from `path` (if given), then environment variables (`env_fields`: variable ->
    field), then non-None `overrides`; return them with the name errors should start with."""
    env = {field: os.environ[var] for var, field in env_fields.items() if var in os.environ}
    merged = {**env, **{k: v for k, v in overrides.items() if v is not None}}
    if path is not None:
        return load_model(path, model, merged), str(path)
    try:
        return model.model_validate(merged), default_source
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(default_source, exc)) from None
