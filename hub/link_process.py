"""The hub's broker connections in a process of their own (setting `link_process`).

paho's network thread spends ~100 µs of Python on every message it receives (reading the
packet, MQTT 5 properties, a wake-up per packet; `bench/ingest.py --link-process` shows it side
by side). At a district's afternoon peak (5,000 msg/s at 100,000 homes) that is half a core, and
inside the hub's process it competes for Python's lock with the writers and the alert engine.

Here the connections (`MqttLink`, unchanged: the main one and the urgent lane) run in a child
process. What they receive crosses to the hub in batches over two pipes, one for routine and
one for urgent messages, so routine traffic never sits in front of a press. The hub stamps
each message as received when it takes it from the pipe, stores it, and sends the
acknowledgement back after the commit, as before: a message is acknowledged to the broker only
once it is stored. Every queue on the way is bounded: a hub that falls behind stops reading
the pipe, and the child then stops reading the broker, which keeps the rest.

A child that dies is started again. The broker sends again what it had not been acknowledged
(the sessions persist). Acknowledgements for messages of an earlier child are dropped: their
packet ids may name other messages on the new connections.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import multiprocessing as mp
import queue
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from typing import Any, Final

from hub.config import HubSettings
from hub.ingest import RawMessage
from hub.mqtt_link import MqttLink, QueuedMessage
from mehr.clock import Clock

__all__ = ["LinkProcess", "RemoteLink"]

_LOGGER = logging.getLogger(__name__)

# Messages the child holds between its network threads and a pipe; a full pipe (the hub
# behind) fills these, and then the network thread stops reading the broker.
_CHILD_QUEUE: Final = 2_000
# At most this many messages in one pipe write: one pickle and one wake-up for many.
_BATCH_MAX: Final = 500
# How often the child reports its connections' state (connected, answered, refused).
_STATE_EVERY_S: Final = 0.02
# Generations of different children never meet: the child's own count is in the low bits.
_INCARNATION_SHIFT: Final = 32
_RESTART_DELAY_S: Final = 1.0

# On the pipe: (link index, topic, payload, packet id, QoS, the connection's generation).
_Wire = tuple[int, str, bytes, int, int, int]
# (link index, generation, packet id, QoS) of one stored message.
_Ack = tuple[int, int, int, int]


# -- the child process ---------------------------------------------------------------------------


def _child_main(
    settings: HubSettings,
    lane: bool,
    routine_out: Connection,
    urgent_out: Connection,
    events_out: Connection,
    commands_in: Connection,
    log_level: int,
) -> None:
    """The link process: run the connections until the hub says exit or goes away."""
    from mehr.clock import SystemClock

    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Ctrl-C reaches the whole process group: the hub stops us through `commands_in`.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    routine: queue.Queue[QueuedMessage] = queue.Queue(_CHILD_QUEUE)
    urgent: queue.Queue[QueuedMessage] = queue.Queue(_CHILD_QUEUE)
    counts: collections.Counter[str] = collections.Counter()
    counts_lock = threading.Lock()

    def demoted() -> None:
        with counts_lock:
            counts["urgent_demoted"] += 1

    clock = SystemClock()
    links = [MqttLink(settings, clock, routine, urgent=urgent, on_urgent_full=demoted)]
    if lane:
        links.append(
            MqttLink(settings, clock, routine, urgent=urgent, lane=True, on_urgent_full=demoted)
        )
    stopping = threading.Event()
    threads = [
        threading.Thread(target=_forward, args=(routine, routine_out, links, stopping)),
        threading.Thread(target=_forward, args=(urgent, urgent_out, links, stopping)),
        threading.Thread(target=_report, args=(links, events_out, counts, counts_lock, stopping)),
    ]
    for thread in threads:
        thread.daemon = True
        thread.start()
    for link in links:
        link.start()
    stopped: set[int] = set()
    try:
        _obey_until_exit(commands_in, links, stopped)
    finally:
        for index, link in enumerate(links):
            if index not in stopped:
                link.stop()
        stopping.set()
        for thread in threads:
            thread.join(2)


def _obey_until_exit(commands_in: Connection, links: list[MqttLink], stopped: set[int]) -> None:
    while True:
        try:
            command = commands_in.recv()
        except (EOFError, OSError):
            return  # the hub is gone: nobody would store what we receive
        if not _obey(command, links, stopped):
            return


def _obey(command: tuple[Any, ...], links: list[MqttLink], stopped: set[int]) -> bool:
    """Carry out one command of the hub; False for "exit"."""
    kind = command[0]
    if kind == "ack":
        for index, generation, mid, qos in command[1]:
            links[index].ack_id(mid, qos, generation)
    elif kind == "publish":
        links[0].publish(command[1], command[2], command[3])
    elif kind == "stop_link" and command[1] not in stopped:
        stopped.add(command[1])
        links[command[1]].stop()
    return bool(kind != "exit")


def _forward(
    inbox: queue.Queue[QueuedMessage],
    out: Connection,
    links: list[MqttLink],
    stopping: threading.Event,
) -> None:
    """Send what the connections put in `inbox` to the hub, in batches."""
    while not stopping.is_set():
        try:
            first = inbox.get(timeout=0.2)
        except queue.Empty:
            continue
        batch = [_wire(first, links)]
        while len(batch) < _BATCH_MAX:
            try:
                batch.append(_wire(inbox.get_nowait(), links))
            except queue.Empty:
                break
        try:
            out.send(batch)  # blocks while the pipe is full: the hub is behind
        except OSError:
            return  # the hub is gone


def _wire(message: QueuedMessage, links: list[MqttLink]) -> _Wire:
    index = 1 if message.via is not None and message.via.lane else 0
    raw = message.raw
    return (index, raw.topic, raw.payload, message.mid, message.qos, message.generation)


def _report(
    links: list[MqttLink],
    out: Connection,
    counts: collections.Counter[str],
    counts_lock: threading.Lock,
    stopping: threading.Event,
) -> None:
    """Tell the hub each connection's state when it changes, and what was counted here."""
    last: list[tuple[bool, bool, str | None]] | None = None
    while True:
        done = stopping.wait(_STATE_EVERY_S)
        state = [(ln.connected.is_set(), ln.answered.is_set(), ln.refused) for ln in links]
        with counts_lock:
            taken = dict(counts)
            counts.clear()
        try:
            if state != last:
                out.send(("state", state))
                last = state
            if taken:
                out.send(("counts", taken))
        except OSError:
            return
        if done:
            return


# -- the hub's side ------------------------------------------------------------------------------


class RemoteLink:
    """The hub's handle on one connection of the link process: what `MqttLink` offers the
    hub (state, acknowledgement, publishing, stop), carried over the pipes."""

    def __init__(self, process: LinkProcess, index: int) -> None:
        self._process = process
        self.index = index
        self.lane = index == 1
        self.connected = threading.Event()
        self.answered = threading.Event()
        self.refused: str | None = None

    def start(self) -> None:
        """Start the link process (the first connection's start starts them all)."""
        self._process.start()

    def stop(self) -> None:
        """Disconnect cleanly (the session stays at the broker); the main connection's stop
        ends the process."""
        self._process.stop_link(self.index)

    def ack(self, message: QueuedMessage) -> None:
        """Acknowledge a stored message on the connection it came on, if it is still there."""
        self._process.ack(self.index, message)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """Publish at QoS 1 on the main connection (commands to kits)."""
        self._process.publish(topic, payload, retain)


class LinkProcess:
    """Starts the link process, relays what it receives into the hub's inboxes, and carries
    acknowledgements and commands back."""

    def __init__(
        self,
        settings: HubSettings,
        clock: Clock,
        inbox: queue.Queue[QueuedMessage],
        urgent: queue.Queue[QueuedMessage],
        *,
        lane: bool,
        on_connection_change: Callable[[bool], None] | None = None,
        on_inbox_full: Callable[[], None] | None = None,
        on_urgent_full: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.inbox = inbox
        self.urgent = urgent
        self.on_connection_change = on_connection_change
        self.on_inbox_full = on_inbox_full
        self.on_urgent_full = on_urgent_full
        # The checks a connection makes when it is made (the password file, the CA file): a
        # bad one stops the hub's start here with its reason, as it does without this process,
        # instead of a child that fails and is started again forever.
        MqttLink(settings, clock, queue.Queue())
        if lane:
            MqttLink(settings, clock, queue.Queue(), lane=True)
        self.links = [RemoteLink(self, 0)] + ([RemoteLink(self, 1)] if lane else [])
        self._lane = lane
        self._ctx = mp.get_context("spawn")  # the hub has threads: never fork it
        self._lock = threading.Lock()  # the command pipe, the process and its incarnation
        self._incarnation = 0
        self._process: SpawnProcess | None = None
        self._commands: Connection | None = None
        self._stopping = threading.Event()
        self._started = False
        self._acks: list[_Ack] = []
        self._acks_ready = threading.Condition()
        self._threads: list[threading.Thread] = []

    @property
    def main(self) -> RemoteLink:
        """The hub's main connection."""
        return self.links[0]

    @property
    def lane(self) -> RemoteLink | None:
        """The urgent lane, when the hub has one."""
        return self.links[1] if self._lane else None

    @property
    def pid(self) -> int | None:
        """The link process's id, while one runs."""
        return self._process.pid if self._process is not None else None

    def alive(self) -> bool:
        """True while a link process runs."""
        return self._process is not None and self._process.is_alive()

    def start(self) -> None:
        """Start the process (once) and the thread that sends acknowledgements."""
        with self._lock:
            if self._started:
                return
            self._started = True
            self._spawn()
        sender = threading.Thread(target=self._send_acks, name="hub-link-acks", daemon=True)
        sender.start()
        self._threads.append(sender)

    def _spawn(self) -> None:
        """One child and the hub's readers of its pipes (called holding `_lock`)."""
        self._incarnation += 1
        routine_r, routine_w = self._ctx.Pipe(duplex=False)
        urgent_r, urgent_w = self._ctx.Pipe(duplex=False)
        events_r, events_w = self._ctx.Pipe(duplex=False)
        commands_r, commands_w = self._ctx.Pipe(duplex=False)
        process = self._ctx.Process(
            target=_child_main,
            args=(
                self.settings,
                self._lane,
                routine_w,
                urgent_w,
                events_w,
                commands_r,
                logging.getLogger().getEffectiveLevel(),
            ),
            name="mehr-hub-link",
            daemon=True,
        )
        process.start()
        # The child has its own copies now: with ours closed, its death reads as end of file.
        for end in (routine_w, urgent_w, events_w, commands_r):
            end.close()
        self._process, self._commands = process, commands_w
        incarnation = self._incarnation
        for name, target in (
            ("routine", self._relay_messages),
            ("urgent", self._relay_messages),
        ):
            conn = routine_r if name == "routine" else urgent_r
            box = self.inbox if name == "routine" else self.urgent
            self._start_thread(f"hub-link-{name}", target, conn, box, incarnation)
        self._start_thread("hub-link-events", self._relay_events, events_r, incarnation)

    def _start_thread(self, name: str, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _relay_messages(
        self, conn: Connection, box: queue.Queue[QueuedMessage], incarnation: int
    ) -> None:
        """Put what the child received into the hub's inbox `box`, stamped as received now."""
        try:
            while True:
                try:
                    batch: list[_Wire] = conn.recv()
                except (EOFError, OSError):
                    return
                received_at = self.clock.now()
                for index, topic, payload, mid, qos, generation in batch:
                    message = QueuedMessage(
                        RawMessage(topic=topic, payload=payload, received_at=received_at),
                        mid,
                        qos,
                        (incarnation << _INCARNATION_SHIFT) | generation,
                        self.links[index],
                    )
                    if not self._put(box, message):
                        return
        finally:
            conn.close()

    def _put(self, box: queue.Queue[QueuedMessage], message: QueuedMessage) -> bool:
        """Put into a bounded inbox, waiting while it is full; False once stopping. While we
        wait, the pipe fills and the child stops reading the broker."""
        try:
            box.put_nowait(message)
            return True
        except queue.Full:
            if box is self.inbox and self.on_inbox_full is not None:
                self.on_inbox_full()
        while not self._stopping.is_set():
            try:
                box.put(message, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def _relay_events(self, conn: Connection, incarnation: int) -> None:
        """Mirror the child's connection state and counts; start a new child if it died."""
        try:
            while True:
                try:
                    kind, body = conn.recv()
                except (EOFError, OSError):
                    break
                self._take_event(kind, body)
        finally:
            conn.close()
        for link in self.links:
            self._mirror(link, False, link.answered.is_set(), link.refused)
        if self._stopping.is_set():
            return
        _LOGGER.error(
            "the hub's link process (incarnation %d) ended; starting it again in %.0f s",
            incarnation, _RESTART_DELAY_S,
        )  # fmt: skip
        if self._stopping.wait(_RESTART_DELAY_S):
            return
        with self._lock:
            if not self._stopping.is_set():
                self._spawn()

    def _take_event(self, kind: str, body: Any) -> None:
        if kind == "state":
            for link, (connected, answered, refused) in zip(self.links, body, strict=True):
                self._mirror(link, connected, answered, refused)
        elif kind == "counts" and self.on_urgent_full is not None:
            for _ in range(body.get("urgent_demoted", 0)):
                self.on_urgent_full()

    def _mirror(
        self, link: RemoteLink, connected: bool, answered: bool, refused: str | None
    ) -> None:
        link.refused = refused
        if answered:
            link.answered.set()
        was = link.connected.is_set()
        if connected:
            link.connected.set()
        else:
            link.connected.clear()
        if was != connected and link.index == 0 and self.on_connection_change is not None:
            self.on_connection_change(connected)

    # -- to the child --------------------------------------------------------------------------

    def ack(self, index: int, message: QueuedMessage) -> None:
        """Queue the acknowledgement of a stored message for the child."""
        if message.qos == 0 or message.generation >> _INCARNATION_SHIFT != self._incarnation:
            return  # QoS 0, or received by an earlier child: that connection is gone
        generation = message.generation & ((1 << _INCARNATION_SHIFT) - 1)
        with self._acks_ready:
            if not self._acks:  # the sender sleeps only on an empty list: wake it once
                self._acks_ready.notify()
            self._acks.append((index, generation, message.mid, message.qos))

    def _send_acks(self) -> None:
        """Send the acknowledgements queued since the last send in one command: under load a
        writer's whole batch goes at once."""
        while True:
            with self._acks_ready:
                while not self._acks and not self._stopping.is_set():
                    self._acks_ready.wait(0.5)
                if not self._acks:
                    return  # stopping, nothing left
                acks, self._acks = self._acks, []
            self._command(("ack", acks))

    def publish(self, topic: str, payload: bytes, retain: bool) -> None:
        """Publish on the main connection."""
        self._command(("publish", topic, payload, retain))

    def _command(self, command: tuple[Any, ...]) -> None:
        with self._lock:
            if self._commands is None:
                return
            with contextlib.suppress(OSError):  # the child is gone; it is being started again
                self._commands.send(command)

    def stop_link(self, index: int) -> None:
        """Disconnect one connection; the main one's stop ends the process."""
        if index != 0:
            self._command(("stop_link", index))
            self.links[index].connected.clear()
            return
        self.stop()

    def stop(self, timeout: float = 10.0) -> None:
        """Disconnect everything cleanly and end the process."""
        with self._lock:
            if self._stopping.is_set():
                return
            self._stopping.set()
        with self._acks_ready:
            self._acks_ready.notify_all()
        for thread in self._threads:
            if thread.name == "hub-link-acks":
                thread.join(timeout)  # what was stored before the stop is acknowledged
        self._command(("exit",))
        process = self._process
        if process is not None:
            process.join(timeout)
            if process.is_alive():
                _LOGGER.warning("link process did not stop in %.0f s: terminating it", timeout)
                process.terminate()
                process.join(5)
        with self._lock:
            if self._commands is not None:
                self._commands.close()
                self._commands = None
        for link in self.links:
            link.connected.clear()
        for thread in self._threads:
            thread.join(timeout)
