"""What one app instance holds (settings, database, clock, hashing, templates); page rendering."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import Connection

from dashboards.accounts import LANGS, Passwords, User, list_users
from dashboards.alert_actions import phase
from dashboards.db import Database
from dashboards.i18n import ago, pick_lang, translator
from dashboards.labels import label_helpers
from dashboards.sessions import Session, anon_csrf
from dashboards.settings import WebSettings
from hub.alerts.config import AlertsConfig
from hub.alerts.lifecycle import AlertService
from hub.alerts.tokens import TokenSigner
from hub.persistence.web_database import driver_connection
from hub.stats import HubStats
from mehr.catalogue import has
from mehr.clock import Clock
from mehr.configfile import DEFAULT_TIME_ZONE

__all__ = ["ANON_COOKIE", "LANG_COOKIE", "LARGE_COOKIE", "SESSION_COOKIE", "AppContext", "Auth"]

SESSION_COOKIE = "mehr_session"
ANON_COOKIE = "mehr_csrf"
LANG_COOKIE = "mehr_lang"
LARGE_COOKIE = "mehr_large"
_TEMPLATES = Path(__file__).parent / "templates"


def _templates() -> Jinja2Templates:
    """The pages' templates: texts come from the catalogue through calls like `_("save")`
    (gettext's name), bound per request to the reader's language."""
    templates = Jinja2Templates(directory=str(_TEMPLATES))
    templates.env.add_extension("jinja2.ext.i18n")
    return templates


@dataclass(frozen=True, slots=True)
class Auth:
    """Who is asking, through which session, and whether by bearer token (no CSRF needed)."""

    user: User
    session: Session
    bearer: bool


@dataclass
class AppContext:
    """Everything one app instance needs; lives on app.state.mehr (no module globals)."""

    settings: WebSettings
    db: Database
    clock: Clock
    passwords: Passwords
    alerts_config: AlertsConfig
    signer: TokenSigner
    hub_stats: HubStats | None = None
    extra_queues: dict[str, Any] = field(default_factory=dict)
    templates: Jinja2Templates = field(default_factory=_templates)

    @property
    def secret(self) -> str:
        """The server secret."""
        return self.settings.resolved_secret()

    def alerts(self, conn: Connection) -> AlertService:
        """The alert engine's service on this request's connection (same clock, same key)."""
        return AlertService(driver_connection(conn), self.alerts_config, self.clock, self.signer)

    @property
    def person_names(self) -> dict[str, str]:
        """Names of the people in the alerts config, for actors like `person:<id>`."""
        return {p.id: p.name for p in self.alerts_config.people}

    def now(self) -> datetime:
        """The injected clock's time."""
        return self.clock.now()

    def lang_of(self, request: Request, auth: Auth | None) -> str:
        """The user's language, else the cookie's, else the browser's."""
        if auth is not None:
            return auth.user.lang
        cookie = request.cookies.get(LANG_COOKIE)
        return cookie if cookie in LANGS else pick_lang(request.headers.get("accept-language"))

    def render(
        self,
        request: Request,
        name: str,
        auth: Auth | None,
        status_code: int = 200,
        tz: str = DEFAULT_TIME_ZONE,
        **context: Any,
    ) -> HTMLResponse:
        """Render a page with the user's language, text size and the right CSRF token."""
        lang = self.lang_of(request, auth)
        t = translator(lang)
        now = self.now()
        zone = ZoneInfo(tz)
        nonce = request.cookies.get(ANON_COOKIE)
        new_nonce = None
        if auth is not None:
            csrf = auth.session.csrf
        else:
            if not nonce:
                nonce = new_nonce = secrets.token_urlsafe(24)
            csrf = anon_csrf(self.secret, nonce)
        large = auth.user.large_text if auth else request.cookies.get(LARGE_COOKIE) == "1"

        def user_names() -> dict[str, str]:
            with self.db.connection() as conn:
                return {u.username: u.display_name or u.username for u in list_users(conn)}

        flash = request.query_params.get("flash", "")
        page = self.templates.TemplateResponse(
            request,
            name,
            {
                "t": t,
                "_": t,
                "gettext": t,
                **label_helpers(lang, t, user_names, self.person_names),
                "lang": lang,
                "large": large,
                "user": auth.user if auth else None,
                "csrf": csrf,
                "ago": lambda moment: ago(t, moment, now),
                "local": lambda moment: moment.astimezone(zone).strftime("%d.%m %H:%M"),
                "local_ts": lambda ts: (
                    datetime.fromtimestamp(ts, UTC).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
                ),
                "phase": phase,
                # Only the catalogue's own notices: a crafted ?flash= shows nothing.
                "flash": t(flash) if flash and has(flash) else None,
                **context,
            },
            status_code=status_code,
        )
        if new_nonce:
            page.set_cookie(
                ANON_COOKIE,
                new_nonce,
                httponly=True,
                samesite="strict",
                secure=self.settings.cookie_secure,
            )
        page.headers["Cache-Control"] = "no-store"
        return page
