"""Signed, expiring acknowledge tokens for the link in a message; single use is kept in the DB.

A token is base64url(nonce 9 bytes | expiry 4 bytes | HMAC-SHA256 truncated to 12 bytes): 34
characters, so a link still fits one SMS. The signature stops forgery and guessing without a
database read; the nonce's row in `alert_ack_tokens` says which alert and person it is for and
whether it has been used.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from mehr.configfile import ConfigError

__all__ = ["DEMO_SIGNING_KEY", "PLACEHOLDER_SECRETS", "SignedToken", "TokenSigner", "signing_key"]

_NONCE_BYTES: Final = 9
_MAC_BYTES: Final = 12
_MIN_SECRET_BYTES: Final = 32
PLACEHOLDER_SECRETS: Final = frozenset(
    {"", "changeme", "change-me", "secret", "placeholder", "mehr", "demo", "xxx"}
)
# Known to everyone, so only ever accepted in demo mode.
DEMO_SIGNING_KEY: Final = b"mehr-demo-only-signing-key-not-for-real-homes"


def signing_key(secret: str | None, secret_file: Path | None, demo: bool) -> bytes:
    """The key for acknowledge links from a setting or its file (the hub and the web app share
    this, so a link the hub signs is one the web app accepts); refuses a weak key outside the demo.
    """
    if secret_file is not None:
        try:
            secret = secret_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"alerts_secret_file: cannot read {secret_file}: {exc.strerror}"
            ) from None
    if secret is None or secret.strip().lower() in PLACEHOLDER_SECRETS or len(secret) < 32:
        if demo:
            return DEMO_SIGNING_KEY
        raise ConfigError(
            "alerts_secret_file: a signing key of at least 32 characters is required "
            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
        )
    return secret.encode()


@dataclass(frozen=True, slots=True)
class SignedToken:
    """A token whose signature checked out: its nonce and when it expires."""

    nonce: str
    expires_at: datetime


class TokenSigner:
    """Makes and checks acknowledge tokens with one secret key."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < _MIN_SECRET_BYTES:
            raise ValueError(f"the token secret must be at least {_MIN_SECRET_BYTES} bytes")
        self._key = secret

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, b"mehr-ack-v1|" + body, hashlib.sha256).digest()[:_MAC_BYTES]

    def issue(self, expires_at: datetime) -> tuple[str, str]:
        """Return a new (token, nonce) valid until `expires_at`."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        body = nonce + struct.pack(">I", int(expires_at.timestamp()))
        token = base64.urlsafe_b64encode(body + self._mac(body)).decode().rstrip("=")
        return token, base64.urlsafe_b64encode(nonce).decode()

    def verify(self, token: str) -> SignedToken | None:
        """Return the token's nonce and expiry if the signature is right, else None.

        Expiry is not checked here: the caller compares it with its injected clock.
        """
        if not 20 <= len(token) <= 64:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (ValueError, TypeError):
            return None
        if len(raw) != _NONCE_BYTES + 4 + _MAC_BYTES:
            return None
        body, mac = raw[: _NONCE_BYTES + 4], raw[_NONCE_BYTES + 4 :]
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        (expires,) = struct.unpack(">I", body[_NONCE_BYTES:])
        nonce = base64.urlsafe_b64encode(body[:_NONCE_BYTES]).decode()
        return SignedToken(nonce=nonce, expires_at=datetime.fromtimestamp(expires, UTC))
