"""The web app's settings: validated, and refusing default or weak secrets outside the demo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from dashboards.sessions import LoginThrottle
from hub.alerts.tokens import signing_key
from hub.config import SECRET_RULE, check_secret, refuse_demo_switch, secret_problem
from mehr.configfile import (
    DEFAULT_WEB_PORT,
    AlertsLinkSection,
    ConfigError,
    DatabaseSection,
    load_settings_model,
)

__all__ = ["DEMO_SECRET_PREFIX", "EXAMPLE_ALERTS_CONFIG", "WebSettings", "load_web_settings"]

# The example district shipped with the engine: what the demo routes through.
EXAMPLE_ALERTS_CONFIG = Path(__file__).resolve().parents[1] / "hub/alerts/examples/district.yaml"

# Secrets starting with this are only accepted when demo=True, so a copied demo config cannot
# go to production with a known key.
DEMO_SECRET_PREFIX = "demo-only-"  # noqa: S105 - a marker that is refused, not a secret


def _check_web_secret(secret: str, where: str, demo: bool) -> None:
    """The server secret: demo-only ones only in the demo; elsewhere hard to guess."""
    if secret.startswith(DEMO_SECRET_PREFIX):
        if not demo:
            raise ValueError(f"{where}: a demo-only secret is refused outside the demo")
        return
    if demo:
        return
    problem = secret_problem(secret)
    if problem is not None:
        raise ValueError(f"{where}: too easy to guess ({problem}); a secret needs {SECRET_RULE}")


class WebSettings(DatabaseSection, AlertsLinkSection):
    """Everything the dashboards need to run (db_path and the alerts file and link key come from
    the sections they share with the hub)."""

    # First, so the secret validators below can see it. Set only by `mehr demo` (in code):
    # load_web_settings refuses it from a file or the environment.
    demo: bool = Field(
        default=False,
        description="Demo mode (only `mehr demo`): allows demo-only secrets and keys.",
    )
    db_busy_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=300,
        description="How long a request waits for another writer before answering 503 "
        "'try again' (nothing is used up or half-written).",
    )
    secret_key: str = Field(
        default="",
        repr=False,
        description="Server secret (>= 32 characters) used to sign the anonymous CSRF cookie.",
    )
    secret_key_file: Path | None = Field(
        default=None, description="File holding the secret key (preferred over secret_key)."
    )
    host: str = Field(default="127.0.0.1", description="Listen address for `mehr web`.")
    port: int = Field(
        default=DEFAULT_WEB_PORT, ge=0, le=65535, description="Listen port (0: any free)."
    )
    cookie_secure: bool = Field(
        default=True,
        description="Send cookies only over HTTPS; False only for loopback demo and tests.",
    )
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    login_free_failures: int = Field(
        default=3,
        ge=1,
        description="Wrong passwords for one username from one address before delays start.",
    )
    login_base_delay_s: float = Field(
        default=2.0, gt=0, description="The first delay; each further failure doubles it."
    )
    login_max_delay_s: float = Field(
        default=900.0, gt=0, description="The longest delay for one username from one address."
    )
    login_address_max_failures: int = Field(
        default=50,
        ge=1,
        description="Wrong passwords from one address (any usernames) within the window before "
        "that address waits; looser than the per-username rule (offices share an address).",
    )
    login_window_s: float = Field(
        default=900.0, gt=0, description="Failures older than this are forgotten."
    )
    argon2_time_cost: int = Field(default=3, ge=1, description="argon2id passes.")
    argon2_memory_kib: int = Field(default=65536, ge=8, description="argon2id memory (KiB).")
    live_poll_s: float = Field(
        default=2.0, gt=0, description="How often the live stream looks for changes."
    )
    live_max_s: float = Field(
        default=300.0,
        gt=0,
        description="One live stream's lifetime; browsers reconnect by themselves afterwards.",
    )
    stale_heartbeat_s: float = Field(
        default=300.0, gt=0, description="A kit whose heartbeat is older is shown as a problem."
    )
    quiet_attention_s: float = Field(
        default=6 * 3600.0,
        gt=0,
        description="No activity for this long (while not away) means 'needs attention'.",
    )
    metrics_token: str | None = Field(
        default=None, repr=False, description="If set, /metrics requires 'Bearer <token>'."
    )

    @model_validator(mode="after")
    def _check_secret(self) -> WebSettings:
        # Checked here rather than in field validators: a field's error would echo the input,
        # and the input is the secret.
        if self.secret_key_file is not None:
            where = f"secret_key_file ({self.secret_key_file})"
            _check_web_secret(self.resolved_secret(), where, self.demo)
        elif self.secret_key:
            _check_web_secret(self.secret_key, "secret_key", self.demo)
        elif not self.demo:
            raise ValueError(
                f"secret_key_file: required outside the demo; a secret needs {SECRET_RULE}"
            )
        return self

    def login_throttle(self) -> LoginThrottle:
        """The login throttling rule these settings describe."""
        return LoginThrottle(
            free_failures=self.login_free_failures,
            base_delay_s=self.login_base_delay_s,
            max_delay_s=self.login_max_delay_s,
            address_max_failures=self.login_address_max_failures,
            window_s=self.login_window_s,
        )

    def resolved_secret(self) -> str:
        """The secret key, read from the file when one is configured."""
        if self.secret_key_file is not None:
            try:
                return self.secret_key_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"cannot read {self.secret_key_file}: {exc.strerror}") from None
        return self.secret_key

    def alerts_config_path(self) -> Path:
        """The alerts YAML; outside the demo a missing one is a one-line config error."""
        if self.alerts_config is not None:
            return self.alerts_config
        if self.demo:
            return EXAMPLE_ALERTS_CONFIG
        raise ConfigError(
            "web settings: alerts_config: set the district's alerts YAML (the same file as the "
            "hub's alerts_config); the web app acts on alerts through the alert engine"
        )

    def alerts_secret_bytes(self) -> bytes:
        """The acknowledge-link key, resolved (and checked) exactly as the hub does."""
        key = signing_key(self.alerts_secret, self.alerts_secret_file, self.demo)
        if not self.demo:
            where = (
                f"alerts_secret_file ({self.alerts_secret_file})"
                if self.alerts_secret_file is not None
                else "alerts_secret"
            )
            check_secret(key.decode(), where)
        return key


# Every field is MEHR_<FIELD> (mehr.configfile); these are older names that keep working.
_ENV_ALIASES = {"MEHR_DB": "db_path", "MEHR_WEB_SECRET_FILE": "secret_key_file"}


def load_web_settings(path: Path | None, **overrides: Any) -> WebSettings:
    """Load settings from `path` (if given), then MEHR_* variables, then keyword overrides.

    This is how production starts the web app (`mehr web`), so the demo switch is refused here
    (only `mehr demo` builds demo settings, in code) and a configured signing key for links is
    checked now, naming the file.
    """
    settings, source = load_settings_model(
        path, WebSettings, _ENV_ALIASES, overrides, "web settings"
    )
    refuse_demo_switch(source, "demo", settings.demo)
    if settings.alerts_config is not None:
        try:
            settings.alerts_secret_bytes()
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    return settings
