"""SMS through Play Mobile (playmobile.uz, also sold as smsxabar.uz): a Mehr channel for
`playmobile://998XXXXXXXXX` contact methods.

One request per message: POST {base}/broker-api/send with HTTP Basic auth and a nested JSON body
  {"messages": [{"recipient": "998…", "message-id": "…",
                 "sms": {"originator": "…", "content": {"text": "…"}}}]}
2xx means the broker took it; 400 carries {"error-code": n, "error-description": "…"}.
A channel of our own (like Eskiz) so the password comes from the environment or a file named in
the alerts config, not from a URL; apprise's json:// cannot nest the recipient in `messages`.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import httpx

from hub.alerts.channels import SendResult
from hub.alerts.config import UZ_MOBILE, PlayMobileGateway

__all__ = ["SCHEME", "PlayMobileChannel"]

_LOGGER = logging.getLogger(__name__)
SCHEME = "playmobile"


def _reason(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "error-code" in body:
        return (f"HTTP {response.status_code}: error {body.get('error-code')} "
                f"{str(body.get('error-description', ''))[:200]}")
    return f"HTTP {response.status_code}: {response.reason_phrase}"


class PlayMobileChannel:
    """Sends one SMS per call through the district's Play Mobile account."""

    def __init__(
        self, gateway: PlayMobileGateway, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.gateway = gateway
        self._client = httpx.Client(
            base_url=gateway.base_url,
            timeout=gateway.timeout_s,
            transport=transport,
            auth=httpx.BasicAuth(gateway.username, gateway.password()),
            headers={"User-Agent": "Mehr"},
        )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def send(self, url: str, subject: str, body: str) -> SendResult:
        """Send `body` as one SMS to the number in `playmobile://998XXXXXXXXX`."""
        scheme, _, number = url.partition("://")
        if scheme.lower() != SCHEME or not UZ_MOBILE.match(number):
            return SendResult(False, "expected playmobile://998XXXXXXXXX")
        # The broker's id for delivery reports; unique per message.
        message_id = f"mehr{secrets.token_hex(8)}"
        payload = {
            "messages": [
                {
                    "recipient": number,
                    "message-id": message_id,
                    "sms": {
                        "originator": self.gateway.originator,
                        "content": {"text": body},
                    },
                }
            ]
        }
        try:
            response = self._client.post("/broker-api/send", json=payload)
        except httpx.HTTPError as exc:
            return SendResult(False, f"playmobile: {type(exc).__name__}: {exc}"[:300])
        if response.is_success:
            _LOGGER.info("playmobile took the SMS: message-id %s", message_id)
            return SendResult(True)
        return SendResult(False, f"playmobile send refused: {_reason(response)}")
