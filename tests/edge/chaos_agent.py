"""Child process of the chaos test: the real agent on mock pins, toggled until seq N is recorded.

Run as `python -m tests.edge.chaos_agent KIT_YAML N RATE`. The parent kills it with SIGKILL at
random points and starts it again; sequence numbers continue from the outbox on disk, so the
events recorded across all runs are exactly seq 1..N of one epoch.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path

from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from edge.agent import EdgeAgent
from edge.config import load_kit_config

DOOR_PIN, HELP_PIN = 6, 19


def main() -> None:
    """Start the agent, generate events up to seq N at RATE per second, then keep sending."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    path, total, rate = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    factory = MockFactory()
    Device.pin_factory = factory
    agent = EdgeAgent(load_kit_config(path), pin_factory=factory)
    agent.start()
    outbox = agent.outbox
    assert outbox is not None
    door, help_button = factory.pin(DOOR_PIN), factory.pin(HELP_PIN)
    closed = False
    started = time.monotonic()
    made = 0
    while outbox.next_seq <= total:
        seq = outbox.next_seq
        if seq % 10 == 0:  # every tenth event is a help-button press (critical class)
            help_button.drive_low()
            help_button.drive_high()
        else:
            closed = not closed
            door.drive_low() if closed else door.drive_high()
        made += 1
        delay = started + made / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # pacing a load generator, not a test waiting for time
    print(f"generated up to {total}", flush=True)
    threading.Event().wait()  # keep sending until the parent kills us


if __name__ == "__main__":
    main()
