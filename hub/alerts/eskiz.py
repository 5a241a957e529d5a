"""SMS through Eskiz (eskiz.uz), the gateway most Uzbek services use: a Mehr channel for
`eskiz://998XXXXXXXXX` contact methods.

Eskiz wants a login (email + password) for a bearer token that expires (about 30 days), a
refresh before or when it does, and a form POST per message. A channel of our own rather than an
apprise plugin: the token must outlive one send (apprise builds a plugin per URL and registers
plugins globally), it is refreshed against the hub's injected clock, the password comes from the
environment or a file named in the alerts config instead of sitting in a URL, and every request
is plain httpx that tests check against a loopback server.

Requests (https://documenter.getpostman.com/view/663428/RzfmES4z):
- POST {base}/api/auth/login, form email, password -> {"data": {"token": ...}}
- PATCH {base}/api/auth/refresh, Bearer token -> {"data": {"token": ...}}
- POST {base}/api/message/sms/send, Bearer token, form mobile_phone, message, from
  [, callback_url] -> {"id": ..., "status": "waiting", ...}
A 401 on a send is an expired or revoked token: refresh (or log in again when the refresh is
refused) and send once more; the 401 means the first one was not taken.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from hub.alerts.channels import SendResult
from hub.alerts.config import UZ_MOBILE, EskizGateway
from mehr.clock import Clock

__all__ = ["SCHEME", "EskizChannel", "EskizError", "token_expiry"]

_LOGGER = logging.getLogger(__name__)
SCHEME = "eskiz"


class EskizError(Exception):
    """Eskiz refused a login or refresh, or answered something we cannot use."""


def token_expiry(token: str) -> datetime | None:
    """The `exp` claim of a JWT (unverified: only to know when to refresh), or None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
        return datetime.fromtimestamp(float(claims["exp"]), UTC)
    except (binascii.Error, ValueError, KeyError, TypeError, OverflowError):
        return None


def _token_from(response: httpx.Response, what: str) -> str:
    try:
        token = response.json()["data"]["token"]
    except (ValueError, KeyError, TypeError) as exc:
        raise EskizError(f"eskiz {what}: no token in the answer") from exc
    if not isinstance(token, str) or not token:
        raise EskizError(f"eskiz {what}: no token in the answer")
    return token


def _reason(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
        message = body.get("message") if isinstance(body, dict) else None
    except ValueError:
        message = None
    text = str(message)[:200] if message else response.reason_phrase
    return f"HTTP {response.status_code}: {text}"


class EskizChannel:
    """Sends one SMS per call through the district's Eskiz account; thread-safe."""

    def __init__(
        self,
        gateway: EskizGateway,
        clock: Clock,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.gateway = gateway
        self.clock = clock
        self._password = gateway.password()  # fails at start, not at 3 a.m., if missing
        self._client = httpx.Client(
            base_url=gateway.base_url,
            timeout=gateway.timeout_s,
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "Mehr"},
        )
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires: datetime | None = None

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    # -- Channel --------------------------------------------------------------------------------

    def send(self, url: str, subject: str, body: str) -> SendResult:
        """Send `body` as one SMS to the number in `eskiz://998XXXXXXXXX`."""
        scheme, _, number = url.partition("://")
        if scheme.lower() != SCHEME or not UZ_MOBILE.match(number):
            return SendResult(False, "expected eskiz://998XXXXXXXXX")
        try:
            with self._lock:  # one token for every sender: refresh it once, not per thread
                return self._send(number, body)
        except EskizError as exc:
            return SendResult(False, str(exc))
        except httpx.HTTPError as exc:
            # A timeout may hide a message Eskiz took: the engine's retry policy decides.
            return SendResult(False, f"eskiz: {type(exc).__name__}: {exc}"[:300])

    # -- token ----------------------------------------------------------------------------------

    def _send(self, number: str, text: str) -> SendResult:
        token = self._valid_token()
        response = self._post_sms(token, number, text)
        if response.status_code == 401:
            _LOGGER.info("eskiz refused the token (%s); refreshing", _reason(response))
            token = self._renew(token)
            response = self._post_sms(token, number, text)
        if response.is_success:
            try:
                answer: Any = response.json()
            except ValueError:
                answer = {}
            _LOGGER.info(
                "eskiz took the SMS: id %s, status %s",
                answer.get("id") if isinstance(answer, dict) else None,
                answer.get("status") if isinstance(answer, dict) else None,
            )
            return SendResult(True)
        return SendResult(False, f"eskiz send refused: {_reason(response)}")

    def _valid_token(self) -> str:
        if self._token is None:
            return self._login()
        if self._expires is not None and self.clock.now() >= self._expires - timedelta(
            seconds=self.gateway.refresh_before_s
        ):
            return self._renew(self._token)
        return self._token

    def _renew(self, token: str) -> str:
        """Refresh the token; when Eskiz refuses the refresh, log in again."""
        try:
            response = self._client.patch(
                "/api/auth/refresh", headers={"Authorization": f"Bearer {token}"}
            )
            if response.is_success:
                return self._keep(_token_from(response, "refresh"))
            _LOGGER.info("eskiz refused the refresh (%s); logging in again", _reason(response))
        except EskizError:
            _LOGGER.info("eskiz refresh gave no token; logging in again")
        return self._login()

    def _login(self) -> str:
        response = self._client.post(
            "/api/auth/login",
            data={"email": self.gateway.email, "password": self._password},
        )
        if not response.is_success:
            self._token = self._expires = None
            raise EskizError(f"eskiz login refused for {self.gateway.email}: {_reason(response)}")
        return self._keep(_token_from(response, "login"))

    def _keep(self, token: str) -> str:
        self._token = token
        self._expires = token_expiry(token)
        return token

    def _post_sms(self, token: str, number: str, text: str) -> httpx.Response:
        form = {"mobile_phone": number, "message": text, "from": self.gateway.sender}
        if self.gateway.callback_url:
            form["callback_url"] = self.gateway.callback_url
        return self._client.post(
            "/api/message/sms/send", data=form, headers={"Authorization": f"Bearer {token}"}
        )
