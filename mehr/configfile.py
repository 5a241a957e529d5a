"""The config base: one strict model class, the sections the hub and the web app share, the
defaults they must agree on, and one loader (YAML file, then MEHR_* variables, then overrides)
whose every error names the file or variable, the field and the expectation.

Shared by the kit's config, the hub's and the web app's settings and the hub's registry, so a
typo anywhere reads the same way:
`kit.yaml: sensors.2.pin: Input should be a valid integer (got 'GPIO4')`.
"""

from __future__ import annotations

import json
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

__all__ = [
    "DEFAULT_PUBLIC_URL",
    "DEFAULT_TIME_ZONE",
    "DEFAULT_WEB_PORT",
    "ENV_PREFIX",
    "AlertsLinkSection",
    "ConfigError",
    "DatabaseSection",
    "StrictModel",
    "TimeZoneName",
    "describe_validation_error",
    "env_overrides",
    "load_model",
    "load_settings_model",
]

# The district's zone where a home, kit, rota or recording names none (Uzbekistan: UTC+5, no DST).
DEFAULT_TIME_ZONE = "Asia/Tashkent"
# Where `mehr web` listens by default, and so where the hub's acknowledge links point by default.
DEFAULT_WEB_PORT = 8080
DEFAULT_PUBLIC_URL = f"http://127.0.0.1:{DEFAULT_WEB_PORT}"
# Every settings field `name` can be set by the variable MEHR_NAME; a field of a nested section
# by MEHR_SECTION__NAME (the same convention as pydantic-settings' env_nested_delimiter).
ENV_PREFIX = "MEHR_"
_NESTED = "__"

ModelT = TypeVar("ModelT", bound=BaseModel)


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"expected an IANA time zone such as {DEFAULT_TIME_ZONE!r}") from None
    return value


# A config field naming an IANA time zone (homes, kits and rotas all have one).
TimeZoneName = Annotated[str, AfterValidator(_known_zone)]


class ConfigError(ValueError):
    """A config file that cannot be used; the message is one line meant for a person."""


class StrictModel(BaseModel):
    """Every config model's base: an unknown key is an error (a typo is never a silent default),
    and loaded settings cannot change under the code that reads them."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# What `database_url` may start with (hub/persistence/database.py opens them with psycopg 3).
_POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


class DatabaseSection(StrictModel):
    """The database the hub writes and the web app reads and writes (the same one for both):
    a SQLite file (`db_path`, the default) or a PostgreSQL server (`database_url`)."""

    db_path: Path = Field(default=Path("mehr.db"), description="SQLite database file.")
    database_url: str | None = Field(
        default=None,
        description="postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE (psycopg 3) instead of "
        "the SQLite file; the operator creates the database and its owner, the hub creates "
        "the tables. Set this or db_path, not both.",
        repr=False,  # may carry a password
    )

    @field_validator("database_url")
    @classmethod
    def _a_database_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme, _, rest = value.partition("://")
        if scheme not in _POSTGRES_SCHEMES or not rest.strip("/"):
            raise ValueError(
                "expected postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE "
                "(for a SQLite file, set db_path instead)"
            )
        return value

    @model_validator(mode="after")
    def _one_database(self) -> DatabaseSection:
        if self.database_url is not None and "db_path" in self.model_fields_set:
            raise ValueError(
                "db_path and database_url both set: expected one of the two "
                "(db_path for a SQLite file, database_url for PostgreSQL)"
            )
        return self

    def database(self) -> str | Path:
        """Where the database is, for hub.persistence.database: the PostgreSQL URL when one
        is set, else the SQLite file."""
        return self.database_url if self.database_url is not None else self.db_path

    def uses_sqlite(self) -> bool:
        """True unless a PostgreSQL database_url is set (the SQLite-only parts can run)."""
        return self.database_url is None


class AlertsLinkSection(StrictModel):
    """The district's alerts file and the key that signs acknowledge links: the hub issues the
    links and the web app accepts them, so both must name the same file and key."""

    alerts_config: Path | None = Field(
        default=None,
        description="The district's alerts YAML: people, rotas, policies (docs/alerts.md). "
        "The hub without it stores alerts but routes nothing; the web app requires it "
        "outside the demo.",
    )
    alerts_secret_file: Path | None = Field(
        default=None, description="File holding the key that signs acknowledge links."
    )
    alerts_secret: str | None = Field(
        default=None,
        repr=False,
        description="The signing key itself; only for the demo and tests (prefer the file).",
    )


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
    data = _read_mapping(path)
    if overrides:
        data = {**data, **overrides}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(str(path), exc)) from None


def _section_model(annotation: Any) -> type[BaseModel] | None:
    """The model class of a nested section field (`Section` or `Section | None`), else None."""
    candidates = (
        typing.get_args(annotation)
        if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union
        else (annotation,)
    )
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _env_value(raw: str) -> Any:
    # Lists and mappings are written as JSON (as pydantic-settings reads them); anything else is
    # the plain string, which pydantic converts to the field's type and checks.
    if raw.lstrip()[:1] in {"[", "{"}:
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def env_overrides(
    model: type[BaseModel], environ: Mapping[str, str], prefix: str = ENV_PREFIX
) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    """The values `environ` sets for `model`'s fields (MEHR_FIELD, MEHR_SECTION__FIELD), and for
    each field path the variable that set it (so an error can name the variable)."""
    data: dict[str, Any] = {}
    sources: dict[tuple[str, ...], str] = {}
    for name, field in model.model_fields.items():
        var = f"{prefix}{name.upper()}"
        if var in environ:
            data[name] = _env_value(environ[var])
            sources[(name,)] = var
        section = _section_model(field.annotation)
        if section is not None:
            nested, nested_sources = env_overrides(section, environ, f"{var}{_NESTED}")
            if nested:
                base = data.get(name)
                data[name] = {**(base if isinstance(base, dict) else {}), **nested}
                sources.update({(name, *path): v for path, v in nested_sources.items()})
    return data, sources


def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        below = merged.get(key)
        if isinstance(value, dict) and isinstance(below, dict):
            merged[key] = _deep_merge(below, value)
        else:
            merged[key] = value
    return merged


_FAST_SAFE_LOADER: Final = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _parse_yaml(text: str) -> Any:
    """libyaml's loader when installed: the same safe constructors, and at a district's size
    (an alerts config lists every home) 3x faster and ~1.8 KB less resident memory left per home
    (measured at 20,000 and 50,000 homes). A file it refuses is read again by the pure-Python
    loader, whose messages say more ("found character '\\t' that cannot start any token")."""
    try:
        return yaml.load(text, Loader=_FAST_SAFE_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError:
        return yaml.safe_load(text)


def _read_mapping(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = _parse_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(f"{path}: bad YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: (top level): expected a mapping of settings")
    return data


def load_settings_model(
    path: Path | None,
    model: type[ModelT],
    env_fields: Mapping[str, str],
    overrides: Mapping[str, Any],
    default_source: str,
    environ: Mapping[str, str] | None = None,
) -> tuple[ModelT, str]:
    """Settings from `path` (if given), then MEHR_* variables for every field (MEHR_SECTION__FIELD
    for nested ones; `env_fields` adds older names, variable -> field, which the MEHR_FIELD name
    beats), then non-None `overrides`; return them with the name errors should start with.

    An error in a value that came from the environment names the variable, not the file."""
    environ = os.environ if environ is None else environ
    aliased = {field: environ[var] for var, field in env_fields.items() if var in environ}
    sources: dict[tuple[str, ...], str] = {
        (field,): var for var, field in env_fields.items() if var in environ
    }
    env, env_sources = env_overrides(model, environ)
    sources.update(env_sources)
    data: dict[str, Any] = _read_mapping(path) if path is not None else {}
    source = str(path) if path is not None else default_source
    explicit = {k: v for k, v in overrides.items() if v is not None}
    merged = {**_deep_merge(_deep_merge(data, aliased), env), **explicit}
    try:
        return model.model_validate(merged), source
    except ValidationError as exc:
        loc = tuple(str(part) for part in exc.errors()[0]["loc"])
        var = None if loc[:1] and loc[0] in explicit else _variable_for(loc, sources)
        raise ConfigError(describe_validation_error(var or source, exc)) from None


def _variable_for(loc: tuple[str, ...], sources: Mapping[tuple[str, ...], str]) -> str | None:
    """The variable that set the field at `loc` (or the section around it), if one did."""
    for n in range(len(loc), 0, -1):
        var = sources.get(loc[:n])
        if var is not None:
            return var
    return None
