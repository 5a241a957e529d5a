"""An alert's story in plain words: who was told how ("SMS: Dilnoza (on call)"), who did what,
with repeats folded into one line and a count, instead of the audit trail's raw lines.

The facts are the engine's: its audit trail (`AlertService.history`) for what people and the
engine did, its notifications with their delivery attempts (`AlertService.notifications`) for
who was told how. The audit trail's own delivery lines (re-notify, notified, escalation step,
channel failed) say the same as the notifications, less precisely, so they are left out here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from hub.alerts.lifecycle import AuditEntry, NotificationView
from mehr.vocabulary import N_

__all__ = ["StoryLine", "alert_story", "channel_key", "recipient_key"]

# Told by the notifications (with channel and person), so not repeated from the audit trail.
_DELIVERY_ACTIONS: Final = frozenset(
    {
        "renotify",
        "notified",
        "escalation_step",
        "method_failed",
        "delivery_failed",
        "delivery_outcome_unknown",
        "view",
        "list",
    }
)
_CHANNEL_KEYS: Final = {
    "sms": N_("channel_sms"),
    "telegram": N_("channel_telegram"),
    "email": N_("channel_email"),
    "webhook": N_("channel_webhook"),
}
_RECIPIENT_KEYS: Final = {
    "on_call": N_("recipient_on_call"),
    "duty_officer": N_("recipient_duty_officer"),
    "supervisor": N_("recipient_supervisor"),
    "family_first": N_("recipient_family"),
    "family_with_worker": N_("recipient_family"),
    "family_informed": N_("recipient_family_informed"),
    "fallback": N_("recipient_fallback"),
}
# A message the hub could not confirm (sent, failed, or stopped mid-send) reads differently.
_TOLD_KEYS: Final = {
    "sent": N_("story_told"),
    "failed": N_("story_failed"),
    "unknown": N_("story_unknown"),
}


def channel_key(channel: str) -> str:
    """The catalogue key naming a channel kind ("sms" -> SMS)."""
    return _CHANNEL_KEYS.get(channel, N_("channel_other"))


def recipient_key(target: str) -> str | None:
    """The catalogue key for why a person was told ("on_call" -> on call), if known."""
    return _RECIPIENT_KEYS.get(target)


@dataclass(slots=True)
class StoryLine:
    """One line of the story: a message to a person, or something someone did."""

    at: datetime
    last_at: datetime
    count: int
    # "told": a message (key = story_told/failed/unknown, person, channel, target)
    # "did": a change (actor, action, detail)
    what: str
    key: str = ""
    person: str = ""
    channel: str = ""
    target: str = ""
    actor: str = ""
    action: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def same_as(self, other: StoryLine) -> bool:
        """Whether `other` repeats this line (and may be folded into it)."""
        return (self.what, self.key, self.person, self.channel, self.target, self.actor,
                self.action) == (other.what, other.key, other.person, other.channel,
                                 other.target, other.actor, other.action)  # fmt: skip


def _outcome(note: NotificationView) -> tuple[str, str, datetime] | None:
    """How a message went: (status, channel, when), or None if nothing was tried yet."""
    if not note.attempts:
        return None
    sent = [a for a in note.attempts if a.ok]
    if sent:
        return "sent", sent[0].channel, sent[0].finished_at or sent[0].at
    last = note.attempts[-1]
    if last.outcome == "sending":  # under way right now: not a story yet
        return None
    status = "unknown" if last.outcome == "unknown" else "failed"
    return status, last.channel, last.finished_at or last.at


def _told(notes: Iterable[NotificationView], name_of: Callable[[str], str]) -> list[StoryLine]:
    lines = []
    for note in notes:
        how = _outcome(note)
        if how is None:
            continue
        status, channel, at = how
        lines.append(
            StoryLine(
                at=at, last_at=at, count=1, what="told", key=_TOLD_KEYS[status],
                person=name_of(note.person_id), channel=channel, target=note.target,
            )
        )  # fmt: skip
    return lines


def alert_story(
    history: Iterable[AuditEntry],
    notifications: Iterable[NotificationView],
    name_of: Callable[[str], str],
) -> list[StoryLine]:
    """The story, oldest first: messages grouped per person, channel and role (a re-notified
    worker is one line with a count), changes with consecutive repeats folded likewise."""
    told: dict[tuple[str, str, str, str], StoryLine] = {}
    for line in sorted(_told(notifications, name_of), key=lambda s: s.at):
        group = (line.key, line.person, line.channel, line.target)
        if group in told:
            first = told[group]
            first.count += 1
            first.last_at = max(first.last_at, line.at)
        else:
            told[group] = line
    did = [
        StoryLine(
            at=e.at, last_at=e.at, count=1, what="did", actor=e.actor, action=e.action,
            detail=dict(e.detail),
        )
        for e in history
        if e.action not in _DELIVERY_ACTIONS
    ]  # fmt: skip
    story: list[StoryLine] = []
    for line in sorted([*told.values(), *did], key=lambda s: s.at):
        # Only changes fold by neighbour; messages were grouped above.
        if story and line.what == "did" and story[-1].same_as(line):
            story[-1].count += 1
            story[-1].last_at = line.at
        else:
            story.append(line)
    return story
