"""Where a worker has to go for an alert: who lives there, the address, the phones to call and
the family's away/visitor mode, gathered from the registry and the district's alerts config.

The worker's alert page and the acknowledge-link page (reached from the SMS) show the same card,
so a worker who only has the SMS still knows where to go and whom to call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from hub.alerts.config import AlertsConfig
from hub.alerts.lifecycle import AlertService, ModeView
from hub.persistence import read_models as rm

__all__ = ["Phone", "VisitCard", "tel_href", "visit_card"]

_NOT_DIALLED = re.compile(r"[^0-9+]")


def tel_href(number: str) -> str:
    """A `tel:` URI (RFC 3966) for a number as people write it: "+998 71 234-56-78"."""
    digits = _NOT_DIALLED.sub("", number)
    # A "+" only counts at the start; anywhere else it is a typo a phone would choke on.
    return "tel:" + digits[:1] + digits[1:].replace("+", "")


@dataclass(frozen=True, slots=True)
class Phone:
    """A number to call: whose it is and how they are related to the resident."""

    name: str
    relation: str  # as the registry wrote it ("qizi", "daughter"); "" for the resident
    number: str
    is_resident: bool = False

    @property
    def href(self) -> str:
        """The `tel:` link."""
        return tel_href(self.number)


@dataclass(frozen=True, slots=True)
class VisitCard:
    """What a worker needs to get to the home and to call ahead."""

    resident: str
    address: str
    mahalla: str
    phones: tuple[Phone, ...]
    mode: ModeView | None


def visit_card(
    conn: Connection,
    config: AlertsConfig,
    service: AlertService,
    home_id: str,
    home_name: str,
    mahalla: str,
    now: datetime,
) -> VisitCard:
    """The card for one home: the registry first (full name, address, contacts), then the
    alerts config (short name, address, the home's phone) where the registry has nothing."""
    person = rm.resident_of(conn, home_id)
    contacts = config.home(home_id)
    resident = (person.full_name if person else "") or (contacts.resident if contacts else "")
    address = (person.address if person else "") or (contacts.address if contacts else "")
    phones: list[Phone] = []
    if contacts and contacts.phone:
        phones.append(Phone(resident or home_name, "", contacts.phone, is_resident=True))
    seen = {tel_href(p.number) for p in phones}
    for c in person.contacts if person else []:
        number = str(c.get("phone") or "")
        if not number or tel_href(number) in seen:
            continue
        seen.add(tel_href(number))
        phones.append(Phone(str(c.get("name") or ""), str(c.get("relation") or ""), number))
    return VisitCard(
        resident=resident or home_name,
        address=address,
        mahalla=(person.mahalla if person and person.mahalla else mahalla),
        phones=tuple(phones),
        mode=service.active_mode(home_id, now),
    )
