"""API: an installer's test mode for a kit (the phone page of a walk test).

While a kit is in test mode its alerts reach nobody and show here (docs/alerts.md, "Test
mode"). Installer and admin only; the kit must be in a home the user may see.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from dashboards.accounts import Role, User
from dashboards.alert_actions import actor_of
from dashboards.audit import audit
from dashboards.context import AppContext
from dashboards.deps import Ctx, CurrentAuth, Db, VisibleKit, csrf_protect, require
from dashboards.openapi import refusals
from dashboards.tenancy import HomeRow
from hub.alerts.testmode import (
    DEFAULT_DURATION_S,
    MAX_DURATION_S,
    TestModeError,
    TestModePeriod,
    TestModes,
)
from hub.persistence.web_database import driver_connection

__all__ = ["TestModeIn", "TestModeOut", "end_kit_test_mode", "router", "start_kit_test_mode"]

router = APIRouter(
    prefix="/api/v1",
    tags=["kits"],
    dependencies=[Depends(csrf_protect), Depends(require(Role.INSTALLER, Role.ADMIN))],
    responses=refusals(401, 403, 404),
)


class TestModeIn(BaseModel):
    """How long the kit stays in test mode (it ends by itself then)."""

    __test__ = False
    model_config = ConfigDict(extra="forbid")

    minutes: int = Field(
        default=int(DEFAULT_DURATION_S // 60),
        ge=1,
        le=int(MAX_DURATION_S // 60),
        description="Minutes from now; at most the hub's limit (4 h).",
    )


class TestAlertOut(BaseModel):
    """An alert the test mode kept from everyone but the installer."""

    id: int
    kind: str
    raised_at: datetime
    raised_at_local: str = Field(description="Raised, in the home's time zone (HH:MM:SS).")
    count: int
    sensor: str | None
    room: str | None


class TestModeOut(BaseModel):
    """A kit's test mode now: on or off, until when, and the alerts it turned into tests."""

    __test__ = False

    kit_id: str
    home_id: str
    active: bool
    period_id: int | None
    ends_at: datetime | None
    ends_at_local: str | None = Field(description="End time in the home's time zone (HH:MM).")
    time_zone: str
    set_by: str | None
    alerts: list[TestAlertOut]


def _local(moment: datetime, zone: ZoneInfo, fmt: str) -> str:
    return moment.astimezone(zone).strftime(fmt)


def _out(modes: TestModes, kit_id: str, home_id: str, zone_name: str) -> TestModeOut:
    zone = ZoneInfo(zone_name)
    period: TestModePeriod | None = modes.current(home_id, kit_id)
    alerts = []
    if period is not None:
        for a in modes.test_alerts(period.id):
            raised = datetime.fromisoformat(a["raised_at"])
            alerts.append(TestAlertOut(**a, raised_at_local=_local(raised, zone, "%H:%M:%S")))
    return TestModeOut(
        kit_id=kit_id,
        home_id=home_id,
        active=period is not None,
        period_id=None if period is None else period.id,
        ends_at=None if period is None else period.ends_at,
        ends_at_local=None if period is None else _local(period.ends_at, zone, "%H:%M"),
        time_zone=zone_name,
        set_by=None if period is None else period.set_by,
        alerts=alerts,
    )


def start_kit_test_mode(
    ctx: AppContext, db: Connection, user: User, kit_id: str, home: HomeRow, minutes: int
) -> TestModePeriod:
    """Put the kit in test mode for `minutes` as `user` (audited); 409 if the hub refuses."""
    try:
        period = TestModes(driver_connection(db), ctx.clock).start(
            home.id, actor_of(user), kit_id=kit_id, duration_s=minutes * 60.0
        )
    except TestModeError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    audit(
        db,
        user,
        "kit.test_mode.start",
        f"kit:{kit_id}",
        ctx.now(),
        period=period.id,
        ends_at=period.ends_at.isoformat(),
    )
    return period


def end_kit_test_mode(
    ctx: AppContext, db: Connection, user: User, kit_id: str, home: HomeRow
) -> int:
    """End the kit's test mode now as `user` (audited); how many periods ended."""
    ended = TestModes(driver_connection(db), ctx.clock).end(home.id, actor_of(user), kit_id=kit_id)
    audit(db, user, "kit.test_mode.end", f"kit:{kit_id}", ctx.now(), ended=ended)
    return ended


@router.get("/kits/{kit_id}/test-mode", operation_id="get_kit_test_mode")
def get_test_mode(ctx: Ctx, db: Db, found: VisibleKit) -> TestModeOut:
    """Whether the kit is in test mode, until when, and its test alerts."""
    kit_id, home = found
    return _out(TestModes(driver_connection(db), ctx.clock), kit_id, home.id, home.timezone)


@router.put(
    "/kits/{kit_id}/test-mode",
    operation_id="start_kit_test_mode",
    responses=refusals(409, 415, 422),
)
def start_test_mode(
    ctx: Ctx, db: Db, auth: CurrentAuth, found: VisibleKit, body: TestModeIn | None = None
) -> TestModeOut:
    """Put the kit in test mode for `minutes` (default 30); replaces a period already on."""
    kit_id, home = found
    minutes = (body or TestModeIn()).minutes
    start_kit_test_mode(ctx, db, auth.user, kit_id, home, minutes)
    return _out(TestModes(driver_connection(db), ctx.clock), kit_id, home.id, home.timezone)


@router.delete("/kits/{kit_id}/test-mode", operation_id="end_kit_test_mode")
def end_test_mode(ctx: Ctx, db: Db, auth: CurrentAuth, found: VisibleKit) -> TestModeOut:
    """End the kit's test mode now: from here on its alerts page people as usual."""
    kit_id, home = found
    end_kit_test_mode(ctx, db, auth.user, kit_id, home)
    return _out(TestModes(driver_connection(db), ctx.clock), kit_id, home.id, home.timezone)
