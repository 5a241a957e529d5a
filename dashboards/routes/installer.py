"""The installer's pages, made for a phone in the home: every kit in scope, and one kit's walk
test that ticks each sensor off live as the hub hears it, with test mode on and off, saved as
the kit's commissioning report and printed as the household's handover sheet."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection

from dashboards.accounts import Role
from dashboards.alert_actions import display_actor
from dashboards.audit import audit
from dashboards.context import AppContext
from dashboards.deps import Ctx, CurrentAuth, Db, KitViewer, VisibleKit, csrf_protect, require
from dashboards.live import sse_response
from dashboards.queries import KitView, kits_view, resident
from dashboards.routes.api_test_mode import end_kit_test_mode, start_kit_test_mode
from dashboards.tenancy import HomeRow, visible_homes
from dashboards.walk_test import WalkProgress, walk_progress
from hub.alerts.testmode import DEFAULT_DURATION_S, MAX_DURATION_S, TestModes
from hub.handover import HandoverError, handover_facts, render_html, render_pdf
from hub.persistence.web_database import driver_connection

__all__ = ["kit_page_data", "router"]

router = APIRouter(
    dependencies=[Depends(csrf_protect), Depends(require(Role.INSTALLER, Role.ADMIN))],
    include_in_schema=False,
)

# What the phone offers; the API takes any minute count up to the hub's limit.
TEST_MINUTES = (15, int(DEFAULT_DURATION_S // 60), 60, 120, int(MAX_DURATION_S // 60))


def _kits(
    ctx: AppContext, db: Connection, homes: list[HomeRow], kit_id: str | None = None
) -> list[KitView]:
    store = ctx.db.store()
    try:
        return kits_view(db, homes, store.commissioning_reports, kit_id=kit_id)
    finally:
        store.close()


def _places(ctx: AppContext, home_id: str, kit_id: str) -> dict[str, str]:
    store = ctx.db.store()
    try:
        places = store.sensor_places(home_id)
    finally:
        store.close()
    return {sensor: place for (kit, sensor), place in places.items() if kit == kit_id}


def _local(zone: ZoneInfo, now: datetime) -> Callable[[datetime | None], str]:
    """Times as the installer reads them: the home's zone; the date only when not today."""

    def show(moment: datetime | None) -> str:
        if moment is None:
            return "–"
        local = moment.astimezone(zone)
        if local.date() == now.astimezone(zone).date():
            return local.strftime("%H:%M:%S")
        return local.strftime("%d.%m.%Y %H:%M")

    return show


def kit_page_data(ctx: AppContext, db: Connection, kit_id: str, home: HomeRow) -> dict[str, Any]:
    """Everything the walk-test page shows about one kit, in the home's local time."""
    now = ctx.now()
    kit = _kits(ctx, db, [home], kit_id)[0]
    modes = TestModes(driver_connection(db), ctx.clock)
    period = modes.current(home.id, kit_id)
    progress = walk_progress(
        kit, _places(ctx, home.id, kit_id), None if period is None else period.starts_at
    )
    heartbeat_late = kit.last_heartbeat_at is not None and (
        (now - kit.last_heartbeat_at).total_seconds() > ctx.settings.stale_heartbeat_s
    )
    test_alerts = [] if period is None else modes.test_alerts(period.id)
    for a in test_alerts:
        a["raised_at"] = datetime.fromisoformat(a["raised_at"])
    return {
        "home": home,
        "kit": kit,
        # A kit the broker never saw has neither an availability nor a heartbeat.
        "never_connected": kit.availability_at is None and kit.last_heartbeat_at is None,
        "heartbeat_late": heartbeat_late,
        "period": period,
        "period_by": None if period is None else display_actor(period.set_by, ctx.person_names),
        "progress": progress,
        "test_alerts": test_alerts,
        "report_finished": (
            datetime.fromisoformat(str(kit.report["finished"]))
            if kit.report and kit.report.get("finished")
            else None
        ),
        "at": _local(ZoneInfo(home.timezone), now),
        "minutes": TEST_MINUTES,
        "sheet_lang": household_lang(db, home),
        "default_minutes": int(DEFAULT_DURATION_S // 60),
    }


_SHEET_LANGS: dict[str, Literal["uz", "ru", "en"]] = {"uz": "uz", "ru": "ru", "en": "en"}


def household_lang(db: Connection, home: HomeRow) -> Literal["uz", "ru", "en"]:
    """The language the handover sheet is printed in: the resident's first, else Uzbek."""
    person = resident(db, home.id) or {}
    for lang in person.get("languages", []):
        if lang in _SHEET_LANGS:
            return _SHEET_LANGS[lang]
    return "uz"


def _live_state(ctx: AppContext, kit_id: str, home: HomeRow) -> Callable[[Connection], Hashable]:
    """What a kit page shows beyond the home's data: its test mode, on or off by the clock."""

    def state(conn: Connection) -> tuple[int | None, bool]:
        period = TestModes(driver_connection(conn), ctx.clock).current(home.id, kit_id)
        return (None, False) if period is None else (period.id, period.active_at(ctx.now()))

    return state


@router.get("/installer", response_class=HTMLResponse)
def installer_page(
    request: Request, ctx: Ctx, db: Db, auth: CurrentAuth, viewer: KitViewer
) -> Response:
    """Every kit the installer may walk-test, by home, each with a link to its walk test."""
    homes = visible_homes(db, viewer)
    by_id = {h.id: h for h in homes}
    kits = _kits(ctx, db, homes)
    return ctx.render(request, "installer.html", auth, kits=kits, homes=by_id)


@router.get("/installer/kits/{kit_id}", response_class=HTMLResponse)
def kit_page(request: Request, ctx: Ctx, db: Db, auth: CurrentAuth, found: VisibleKit) -> Response:
    """One kit's walk test: connection, heartbeat, test mode, each sensor ticked off live."""
    kit_id, home = found
    return ctx.render(
        request, "installer_kit.html", auth, tz=home.timezone,
        **kit_page_data(ctx, db, kit_id, home),
    )  # fmt: skip


@router.get("/installer/kits/{kit_id}/panel", response_class=HTMLResponse)
def kit_panel(request: Request, ctx: Ctx, db: Db, auth: CurrentAuth, found: VisibleKit) -> Response:
    """The live part of the walk-test page, fetched again on every update."""
    kit_id, home = found
    return ctx.render(
        request, "_installer_kit_panel.html", auth, tz=home.timezone,
        **kit_page_data(ctx, db, kit_id, home),
    )  # fmt: skip


@router.get("/installer/kits/{kit_id}/live")
def kit_live(request: Request, ctx: Ctx, found: VisibleKit) -> Response:
    """Server-sent 'update' whenever the kit's sensors, heartbeat or test mode move."""
    kit_id, home = found

    def payload(conn: Connection) -> dict[str, Any]:
        data = kit_page_data(ctx, conn, kit_id, home)
        progress = data["progress"]
        return {
            "kit_id": kit_id,
            "test_mode": data["period"] is not None,
            "fired": progress.fired,
            "total": progress.total,
        }

    return sse_response(request, ctx, [home.id], payload, also=_live_state(ctx, kit_id, home))


@router.post("/installer/kits/{kit_id}/test-mode")
def kit_test_mode(
    ctx: Ctx,
    db: Db,
    auth: CurrentAuth,
    found: VisibleKit,
    action: Annotated[Literal["start", "end"], Form()],
    minutes: Annotated[int, Form(ge=1, le=int(MAX_DURATION_S // 60))] = int(
        DEFAULT_DURATION_S // 60
    ),
) -> Response:
    """Start (or extend) or end the kit's test mode, then back to its walk test."""
    kit_id, home = found
    if action == "start":
        start_kit_test_mode(ctx, db, auth.user, kit_id, home, minutes)
        flash = "test_mode_started"
    else:
        end_kit_test_mode(ctx, db, auth.user, kit_id, home)
        flash = "test_mode_ended"
    return RedirectResponse(f"/installer/kits/{kit_id}?flash={flash}", status_code=303)


@router.post("/installer/kits/{kit_id}/finish")
def finish_walk_test(ctx: Ctx, db: Db, auth: CurrentAuth, found: VisibleKit) -> Response:
    """Save the walk test as the kit's commissioning report and end test mode (as kit check)."""
    kit_id, home = found
    data = kit_page_data(ctx, db, kit_id, home)
    progress: WalkProgress = data["progress"]
    if progress.started_at is None:
        return RedirectResponse(f"/installer/kits/{kit_id}?flash=walk_not_started", 303)
    finished = ctx.now()
    body = progress.report(home.id, kit_id, finished)
    store = ctx.db.store()
    try:
        report_id = store.save_commissioning_report(
            kit_id, home.id, finished, bool(body["passed"]), body
        )
    finally:
        store.close()
    end_kit_test_mode(ctx, db, auth.user, kit_id, home)
    audit(
        db, auth.user, "kit.walk_test.save", f"kit:{kit_id}", ctx.now(),
        report=report_id, passed=body["passed"], missing=body["missing"],
    )  # fmt: skip
    return RedirectResponse(f"/installer/kits/{kit_id}?flash=walk_saved", status_code=303)


@router.get("/installer/kits/{kit_id}/handover")
def handover_sheet(
    db: Db,
    found: VisibleKit,
    lang: Literal["uz", "ru", "en"] = "uz",
    format: Literal["html", "pdf"] = "html",
) -> Response:
    """The household's handover sheet of the kit's latest walk test (hub/handover.py)."""
    kit_id, _ = found
    try:
        facts = handover_facts(driver_connection(db), kit_id)
    except HandoverError:
        raise HTTPException(404, "no_report") from None
    if format == "pdf":
        return Response(
            render_pdf(facts, lang),
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="handover-{kit_id}.pdf"'},
        )
    return HTMLResponse(render_html(facts, lang))
