"""The acknowledge link from an alert message: GET shows the alert, POST acknowledges it once.

GET never changes state: mail scanners and link previews fetch links. The signed single-use
token in the path is the credential (a capability URL), so POST needs no session or CSRF token:
a forged cross-site POST would have to know the token already. The app puts an `AckContext` on
`app.state.mehr_ack`; without one the links answer 503.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Annotated, Any, Final
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Connection

from dashboards.accounts import get_user_by_name
from dashboards.alert_actions import display_actor, phase
from dashboards.db import DATABASE_ERRORS, DEFAULT_BUSY_TIMEOUT_S, Database, is_busy
from dashboards.i18n import pick_lang
from dashboards.visit_card import VisitCard, visit_card
from hub.alerts.config import AlertsConfig, Language
from hub.alerts.lifecycle import AlertService, AlertView, TokenError, TokenProblem
from hub.alerts.messages import what_happened
from hub.alerts.tokens import TokenSigner
from hub.persistence.read_models import HomeScope, home_if_visible
from hub.persistence.web_database import driver_connection
from mehr.catalogue import relation_name, room_name, text
from mehr.clock import Clock

__all__ = ["AckContext", "router"]

router = APIRouter(tags=["ack"])


@dataclass(frozen=True)
class AckContext:
    """What the acknowledge pages need: the database, the alerts config, the signer, a clock."""

    db_path: str | Path  # the SQLite file or the PostgreSQL URL
    config: AlertsConfig
    signer: TokenSigner
    clock: Clock
    busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S
    database: Database = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # One engine per app, not per request (it holds no connection: see dashboards.db).
        object.__setattr__(self, "database", Database(self.db_path, self.busy_timeout_s))


def _context(request: Request) -> AckContext:
    ctx: AckContext | None = getattr(request.app.state, "mehr_ack", None)
    if ctx is None:
        raise HTTPException(503, "acknowledge links are not configured on this server")
    return ctx


def _connection(request: Request) -> Iterator[Connection]:
    # The web app's one way to open a connection: a connection of this request's own, which
    # may move between worker threads with it (a driver's default connection may not: that
    # was issue #10's "8 % of valid links fail").
    with _context(request).database.connection() as conn:
        yield conn


AckConnection = Annotated[Connection, Depends(_connection)]


def _service(request: Request, conn: AckConnection) -> AlertService:
    # The same connection as the page's own reads (FastAPI gives one per request).
    ctx = _context(request)
    return AlertService(driver_connection(conn), ctx.config, ctx.clock, ctx.signer)


Service = Annotated[AlertService, Depends(_service)]

_PROBLEM_KEYS: Final = {
    TokenProblem.INVALID: "ack_invalid",
    TokenProblem.EXPIRED: "ack_expired",
    TokenProblem.USED: "ack_used",
}
_STATUS: Final = {TokenProblem.INVALID: 404, TokenProblem.EXPIRED: 410, TokenProblem.USED: 409}
# The same three problems in the OpenAPI document: a page (in the link's language) each.
_PROBLEM_PAGES: Final[dict[int | str, dict[str, Any]]] = {
    status: {
        "description": f"A page saying the link is {problem.value}.",
        "content": {"text/html": {"schema": {"type": "string"}}},
    }
    for problem, status in _STATUS.items()
}
# The page is self-contained (it is also served without the app's static files), so its one
# inline style is allowed by hash; the dashboards' CSP would otherwise block it.
_STYLE: Final = (
    "body{font:1.1rem/1.5 system-ui,sans-serif;max-width:36rem;margin:1rem auto;"
    "padding:0 1rem;color:#111}button{font-size:1.2rem;padding:.8rem 1.2rem;"
    "background:#1b5e20;color:#fff;border:0;border-radius:.4rem}"
    "button:focus-visible,textarea:focus,a:focus-visible{outline:3px solid #ffbf47;"
    "outline-offset:2px}textarea{width:100%;font-size:1rem}.k{color:#444}"
)
_STYLE_HASH: Final = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
_HEADERS: Final = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    # The token is in the URL: keep it out of caches, referrers and search engines.
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
}


def _lang(request: Request, fallback: Language | None = None) -> Language:
    # The link's ?lang=, else the person's first language, else what the browser asks for: a
    # Russian phone opening a broken link is answered in Russian, not in Uzbek.
    asked = request.query_params.get("lang")
    if asked in {lang.value for lang in Language}:
        return Language(asked)
    return fallback or Language(pick_lang(request.headers.get("accept-language")))


def _t(key: str, lang: Language) -> str:
    return text(key, lang.value)


def _page(lang: Language, body: str, status: int = 200) -> HTMLResponse:
    switch = " · ".join(
        f'<a href="?lang={code.value}" lang="{code.value}">{code.value.upper()}</a>'
        for code in Language
    )
    html = (
        f'<!doctype html><html lang="{lang.value}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Mehr — {escape(_t('ack_title', lang))}</title>"
        f"<style>{_STYLE}</style></head><body>"
        f'<nav aria-label="{escape(_t("language", lang))}">{switch}</nav>'
        f"<main>{body}</main></body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def _card(conn: Connection, service: AlertService, alert: AlertView) -> tuple[VisitCard, str]:
    """Where to go for the alert, and the home's time zone (the district's if unknown)."""
    home = home_if_visible(conn, HomeScope(all_homes=True), alert.home_id)
    name = home.name if home else ""
    tz = home.timezone if home else service.config.district.timezone
    now = service.clock.now()
    return visit_card(
        conn, service.config, service, alert.home_id, name, alert.mahalla or "", now
    ), tz


def _visit_html(card: VisitCard, lang: Language, tz: str) -> str:
    """The visit card as the link page shows it: the same facts as the worker's alert page."""
    if card.address:
        directions = text(
            "visit_directions", lang.value, address=card.address, mahalla=card.mahalla
        )
    else:
        directions = _t("visit_no_address", lang)
    rows = [
        f"<h2>{escape(_t('visit_title', lang))}</h2>",
        f"<p><strong>{escape(card.resident)}</strong><br>{escape(directions)}</p>",
    ]
    if card.mode:
        until = card.mode.ends_at.astimezone(ZoneInfo(tz))
        mode = _t("mode_" + card.mode.mode, lang)
        said = text("visit_mode", lang.value, mode=mode, until=f"{until:%d.%m %H:%M}")
        rows.append(f"<p>{escape(said)}</p>")
    phones = []
    for p in card.phones:
        whose = (
            _t("visit_home_phone", lang) if p.is_resident else relation_name(p.relation, lang.value)
        )
        label = f"{p.name} ({whose})" if whose else p.name
        phones.append(f'<li>{escape(label)} <a href="{escape(p.href)}">{escape(p.number)}</a></li>')
    rows.append(
        f"<h2>{escape(_t('visit_phones', lang))}</h2><ul>"
        + ("".join(phones) or f"<li>{escape(_t('visit_no_phones', lang))}</li>")
        + "</ul>"
    )
    return "".join(rows)


def _taken_by(conn: Connection, config: AlertsConfig, alert: AlertView) -> str:
    """Who acknowledged, by name: a web user's display name, a link's person's name."""
    kind, _, value = (alert.acknowledged_by or "").partition(":")
    if kind == "user":
        found = get_user_by_name(conn, value)
        return (found[0].display_name or value) if found else value
    return display_actor(alert.acknowledged_by, {p.id: p.name for p in config.people})


def _summary(
    alert: AlertView, config: AlertsConfig, lang: Language, card_html: str = "", taken_by: str = ""
) -> str:
    local = alert.raised_at.astimezone(ZoneInfo(config.district.timezone))
    rows = [
        f"<h1>{escape(what_happened(alert.kind, lang))}</h1>",
        card_html,
        f"<p class=k>{local:%Y-%m-%d %H:%M}"
        + (
            f" · {escape(room_name(str(alert.detail['room']), lang.value))}"
            if alert.detail.get("room")
            else ""
        )
        + "</p>",
        f"<p>{escape(_t('ack_state', lang))}: "
        f"<strong>{escape(_t('state_' + phase(alert), lang))}</strong>",
    ]
    if alert.acknowledged_by:
        who_took = taken_by or display_actor(alert.acknowledged_by)
        rows.append(f"<br>{escape(_t('ack_by', lang))}: {escape(who_took)}")
    rows.append("</p>")
    return "".join(rows)


def _busy(request: Request) -> HTMLResponse:
    # The transaction rolled back, so the link is as unused as before: say so, and when to retry.
    lang = _lang(request)
    page = _page(lang, f"<h1>{escape(_t('ack_busy', lang))}</h1>", 503)
    page.headers["Retry-After"] = "5"
    return page


def _problem(request: Request, exc: TokenError, service: AlertService, token: str) -> HTMLResponse:
    # A used link still knows its person: answer "already used" in that person's language.
    known = None
    if exc.problem is TokenProblem.USED:
        try:
            person = service.config.person(service.check_token(token).person_id)
        except TokenError:
            person = None
        known = person.languages[0] if person else None
    lang = _lang(request, known)
    body = f"<h1>{escape(_t(_PROBLEM_KEYS[exc.problem], lang))}</h1>"
    return _page(lang, body, _STATUS[exc.problem])


@router.get("/ack/{token}", response_class=HTMLResponse, responses=_PROBLEM_PAGES)
def ack_page(token: str, request: Request, service: Service, conn: AckConnection) -> HTMLResponse:
    """Show what the link is for, where to go, whom to call, and a button; changes nothing
    (scanners prefetch links)."""
    address = request.client.host if request.client else ""
    try:
        info = service.token_info(token, address=address)
        card, tz = _card(conn, service, info.alert)
        taken_by = _taken_by(conn, service.config, info.alert)
    except TokenError as exc:
        return _problem(request, exc, service, token)
    except DATABASE_ERRORS as exc:
        if not is_busy(exc):
            raise
        return _busy(request)
    person = service.config.person(info.person_id)
    lang = _lang(request, person.languages[0] if person else None)
    body = _summary(info.alert, service.config, lang, _visit_html(card, lang, tz), taken_by)
    body += f"<p class=k>{escape(_t('ack_link_for', lang))}: {escape(info.person_name)}</p>"
    if info.alert.state in ("raised", "notified"):
        body += (
            f'<form method="post" action="?lang={lang.value}">'
            f'<label for="comment">{escape(_t("ack_comment", lang))}</label>'
            '<textarea id="comment" name="comment" rows="2" maxlength="500"></textarea>'
            f"<p><button type=submit>{escape(_t('ack_button', lang))}</button></p></form>"
        )
    else:
        body += f"<p>{escape(_t('ack_late', lang))}</p>"
    return _page(lang, body)


@router.post("/ack/{token}", response_class=HTMLResponse, responses=_PROBLEM_PAGES)
def ack_submit(
    token: str,
    request: Request,
    service: Service,
    conn: AckConnection,
    comment: Annotated[str | None, Form(max_length=500)] = None,
) -> HTMLResponse:
    """Acknowledge as the link's person; the link works once."""
    address = request.client.host if request.client else ""
    try:
        done = service.acknowledge_with_token(token, comment or None, address=address)
        card, tz = _card(conn, service, done.alert)
        taken_by = _taken_by(conn, service.config, done.alert)
    except TokenError as exc:
        return _problem(request, exc, service, token)
    except DATABASE_ERRORS as exc:
        if not is_busy(exc):
            raise
        return _busy(request)
    person = service.config.person(done.person_id)
    lang = _lang(request, person.languages[0] if person else None)
    message = _t("ack_done", lang) if done.acknowledged else _t("ack_late", lang)
    summary = _summary(done.alert, service.config, lang, _visit_html(card, lang, tz), taken_by)
    return _page(lang, summary + f"<p>{escape(message)}</p>")
