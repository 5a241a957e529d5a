"""Request bodies of the JSON API (responses are the read models' to_dict forms)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dashboards.accounts import Role

__all__ = [
    "ActionIn",
    "AwayIn",
    "LoginIn",
    "PreferencesIn",
    "RequestIn",
    "RequestStateIn",
    "UserIn",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(_In):
    """Credentials for a bearer session (mobile app)."""

    username: str = Field(max_length=64)
    password: str = Field(max_length=256)


class PreferencesIn(_In):
    """Language and text size."""

    lang: Literal["uz", "ru", "en"] | None = None
    large_text: bool | None = None


class AwayIn(_In):
    """Away, holiday or visitor mode until a time."""

    mode: Literal["away", "holiday", "visitor"]
    until: datetime = Field(description="When the mode ends (with a UTC offset).")


class RequestIn(_In):
    """A family's request."""

    kind: Literal["visit", "call"]
    note: str = Field(default="", max_length=500)


class RequestStateIn(_In):
    """A worker moving a request on."""

    state: Literal["accepted", "done", "cancelled"]


class ActionIn(_In):
    """A worker acting on an alert."""

    action: Literal["acknowledge", "on_the_way", "arrived", "resolve"]
    comment: str = Field(default="", max_length=1000)
    outcome: str = Field(default="", description="Required for resolve.")


class UserIn(_In):
    """A new account."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=10, max_length=256)
    role: Role
    display_name: str = Field(default="", max_length=200)
    homes: list[str] = Field(default_factory=list)
    mahallas: list[str] = Field(default_factory=list)
    all_homes: bool = False
    lang: Literal["uz", "ru", "en"] = "uz"
