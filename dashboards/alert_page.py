"""What one alert's page shows, for the worker (with actions) and the family (read only):
the alert, where to go and whom to call, and its story in plain words."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from dashboards.accounts import User
from dashboards.alert_actions import OUTCOMES, actor_of, changes
from dashboards.alert_story import alert_story, channel_key, recipient_key
from dashboards.context import AppContext
from dashboards.tenancy import HomeRow
from dashboards.visit_card import visit_card

__all__ = ["alert_page_data"]


def alert_page_data(
    ctx: AppContext, db: Connection, user: User, alert_id: int, home: HomeRow, can_act: bool
) -> dict[str, Any]:
    """The page's data; reading the alert is audited by the engine."""
    service = ctx.alerts(db)
    names = ctx.person_names
    alert = service.get_alert(alert_id, actor_of(user))
    return {
        "tz": home.timezone,
        "alert": alert,
        "story": alert_story(
            changes(service, alert_id),
            service.notifications(alert_id),
            # Messages go only to people of the alerts config, so a name is always there.
            lambda person_id: names.get(person_id, person_id),
        ),
        "channel_key": channel_key,
        "recipient_key": recipient_key,
        "home": home,
        "card": visit_card(
            db, ctx.alerts_config, service, home.id, home.name, home.mahalla, ctx.now()
        ),
        "outcomes": OUTCOMES,
        "can_act": can_act,
    }
