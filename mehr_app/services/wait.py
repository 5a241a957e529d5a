"""Wait for a condition in another process or thread, with a deadline (never for time to pass)."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    """Poll `condition` until it holds; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)  # yielding to a real broker/hub that is doing the work
    raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
