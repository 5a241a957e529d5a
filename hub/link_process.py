"""The hub's broker connections in a process of their own (setting `link_process`).

paho's network thread spends ~100 µs of Python on every message it receives (reading the
packet, MQTT 5 properties, a wake-up per packet). At a district's afternoon peak (5,000 msg/s at
100,000 homes) that is half a core, and inside the hub's process it competes for Python's lock
with the writers and the alert engine.

Here the connections (`MqttLink`, unchanged: the main one and the urgent lane) run in a child
process. What they receive crosses to the hub in batches over three pipes: the main
connection's routine messages, its urgent ones, and the lane's (urgent only). The hub stamps
each message as received when it takes it from its pipe, stores it, and sends the
acknowledgement back after the commit, as before: a message is acknowledged to the broker only
once it is stored. The urgent inbox's bound works as in the hub's own process: an urgent
message that finds it full goes the routine way on the main connection, and the lane's copy is
let go (the main connection has one). With the urgent lane the routine inbox is bounded too
(`inbox_max`): a hub that falls behind stops reading the routine pipe, the child's small queue
fills, and the child stops reading the broker, which keeps the rest.

A child that dies is started again. The broker sends again what had not been acknowledged (the
sessions persist), and the store keeps one copy. Every acknowledgement carries the child it is
for, and a child drops those for another: packet ids are per connection.
"""

from __future__ import annotations

import collections
import logging
import multiprocessing as mp
import os
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

# Messages the child holds between a network thread and its pipe; a full pipe (the hub behind)
# fills these, and then the network thread stops reading the broker.
_CHILD_QUEUE: Final = 2_000
# At most this many messages in one pipe write: one pickle and one wake-up for many.
_BATCH_MAX: Final = 500
# How often the child reports its connections' state (connected, answered, refused).
_STATE_EVERY_S: Final = 0.02
# Generations of different children never meet: the child's own count is in the low bits.
_INCARNATION_SHIFT: Final = 32
# A child that dies is started again after 1 s, then 2, 4, ... up to 30 s while it keeps dying.
_RESTART_FIRST_S: Final = 1.0
_RESTART_MAX_S: Final = 30.0
# How long a stop waits for the command pipe before it ends the child without a word.
_STOP_LOCK_S: Final = 5.0

# A count the child reports, per topic: urgent messages past their kit's allowance.
_OVER_RATE: Final = "urgent_over_rate:"

# The pipes, by what they carry.
_ROUTINE, _URGENT_MAIN, _URGENT_LANE = 0, 1, 2
_PIPE_NAMES: Final = ("routine", "urgent", "lane")
# On a pipe: (topic, payload, packet id, QoS, the connection's generation).
_Wire = tuple[str, bytes, int, int, int]
# (link index, generation, packet id, QoS) of one stored message.
_Ack = tuple[int, int, int, int]


# -- the child process ---------------------------------------------------------------------------


def _child_main(
    settings: HubSettings,
    lane: bool,
    incarnation: int,
    pipes_out: list[Connection],
    events_out: Connection,
    commands_in: Connection,
    log_level: int,
) -> None:
    """The link process: run the connections until the hub says exit or goes away."""
    # The hub stops us through `commands_in` (or its end of file when it dies): Ctrl-C in a
    # terminal and systemd's SIGTERM reach the whole group, and obeying them at once would drop
    # the acknowledgements of what the hub is still storing.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from mehr.clock import SystemClock

    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    urgent_max = min(_CHILD_QUEUE, settings.urgent_inbox_max)
    boxes: list[queue.Queue[QueuedMessage]] = [
        queue.Queue(_CHILD_QUEUE),
        queue.Queue(urgent_max),
        queue.Queue(urgent_max),
    ]
    counts: collections.Counter[str] = collections.Counter()
    counts_lock = threading.Lock()

    def demoted() -> None:
        with counts_lock:
            counts["urgent_demoted"] += 1

    def over_rate(topic: str, count: int) -> None:
        with counts_lock:
            counts[_OVER_RATE + topic] += count

    clock = SystemClock()
    routine = boxes[_ROUTINE]
    links = [
        MqttLink(
            settings, clock, routine, urgent=boxes[_URGENT_MAIN],
            on_urgent_full=demoted, on_urgent_over_rate=over_rate,
        )
    ]  # fmt: skip
    if lane:
        lane_box = boxes[_URGENT_LANE]
        links.append(
            MqttLink(settings, clock, routine, urgent=lane_box, lane=True, on_urgent_full=demoted)
        )
    stopping = threading.Event()
    threads = [
        threading.Thread(target=_forward, args=(box, out, stopping), daemon=True)
        for box, out in zip(boxes, pipes_out, strict=True)
    ]
    threads.append(
        threading.Thread(
            target=_report, args=(links, events_out, counts, counts_lock, stopping), daemon=True
        )
    )
    for thread in threads:
        thread.start()
    for link in links:
        link.start()
    stopped: set[int] = set()
    try:
        _obey_until_exit(commands_in, links, stopped, incarnation)
    finally:
        for index, link in enumerate(links):
            if index not in stopped:
                link.stop()
        stopping.set()
        for thread in threads:
            thread.join(2)


def _obey_until_exit(
    commands_in: Connection, links: list[MqttLink], stopped: set[int], incarnation: int
) -> None:
    while True:
        try:
            command = commands_in.recv()
        except (EOFError, OSError):
            return  # the hub is gone: nobody would store what we receive
        if not _obey(command, links, stopped, incarnation):
            return


def _obey(
    command: tuple[Any, ...], links: list[MqttLink], stopped: set[int], incarnation: int
) -> bool:
    """Carry out one command of the hub; False for "exit"."""
    kind = command[0]
    if kind == "ack" and command[1] == incarnation:  # another child's ids name other messages
        for index, generation, mid, qos in command[2]:
            links[index].ack_id(mid, qos, generation)
    elif kind == "publish":
        links[0].publish(command[1], command[2], command[3])
    elif kind == "stop_link" and command[1] not in stopped:
        stopped.add(command[1])
        links[command[1]].stop()
    return bool(kind != "exit")


def _forward(inbox: queue.Queue[QueuedMessage], out: Connection, stopping: threading.Event) -> None:
    """Send what a connection puts in `inbox` to the hub, in batches."""
    while not stopping.is_set():
        try:
            first = inbox.get(timeout=0.2)
        except queue.Empty:
            continue
        batch = [_wire(first)]
        while len(batch) < _BATCH_MAX:
            try:
                batch.append(_wire(inbox.get_nowait()))
            except queue.Empty:
                break
        try:
            out.send(batch)  # blocks while the pipe is full: the hub is behind
        except OSError:
            # The hub is gone, or its reader of this pipe ended: a child that cannot deliver
            # must not keep its broker connections (they would look alive and store nothing).
            # The hub starts another; what was not acknowledged is sent again.
            os._exit(1)


def _wire(message: QueuedMessage) -> _Wire:
    raw = message.raw
    return (raw.topic, raw.payload, message.mid, message.qos, message.generation)


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
        on_urgent_over_rate: Callable[[str, int], None] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.inbox = inbox
        self.urgent = urgent
        self.on_connection_change = on_connection_change
        self.on_inbox_full = on_inbox_full
        self.on_urgent_full = on_urgent_full
        self.on_urgent_over_rate = on_urgent_over_rate
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
        # (the child that received it, its acknowledgement) of stored messages.
        self._acks: list[tuple[int, _Ack]] = []
        self._acks_ready = threading.Condition()
        self._sender: threading.Thread | None = None
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

    def threads(self) -> list[threading.Thread]:
        """The hub's threads serving the link process (relays of the current child, the
        acknowledgement sender)."""
        return [t for t in [*self._threads, self._sender] if t is not None and t.is_alive()]

    def start(self) -> None:
        """Start the process (once) and the thread that sends acknowledgements."""
        with self._lock:
            if self._started:
                return
            self._spawn()
            self._started = True
        self._sender = threading.Thread(target=self._send_acks, name="hub-link-acks", daemon=True)
        self._sender.start()

    def _spawn(self) -> None:
        """One child and the hub's readers of its pipes (called holding `_lock`)."""
        self._incarnation += 1
        pipes = [self._ctx.Pipe(duplex=False) for _ in range(3)]
        events_r, events_w = self._ctx.Pipe(duplex=False)
        commands_r, commands_w = self._ctx.Pipe(duplex=False)
        process = self._ctx.Process(
            target=_child_main,
            args=(
                self.settings,
                self._lane,
                self._incarnation,
                [w for _, w in pipes],
                events_w,
                commands_r,
                logging.getLogger().getEffectiveLevel(),
            ),
            name="mehr-hub-link",
            daemon=True,
        )
        try:
            process.start()
        finally:
            # The child has its own copies: with ours closed, its death reads as end of file.
            for end in (*(w for _, w in pipes), events_w, commands_r):
                end.close()
        if self._commands is not None:
            self._commands.close()
        self._process, self._commands = process, commands_w
        incarnation = self._incarnation
        self._threads = [t for t in self._threads if t.is_alive()]
        for kind, (reader, _) in enumerate(pipes):
            name = f"hub-link-{_PIPE_NAMES[kind]}"
            self._start_thread(name, self._relay_messages, reader, kind, incarnation)
        self._start_thread("hub-link-events", self._relay_events, events_r, incarnation)

    def _start_thread(self, name: str, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _relay_messages(self, conn: Connection, kind: int, incarnation: int) -> None:
        """Put what the child sends on pipe `kind` into the hub's inboxes, stamped as received
        now. An end other than a stop closes the pipe, and the child, unable to deliver, ends
        and is started again."""
        link = (self.lane or self.main) if kind == _URGENT_LANE else self.main
        try:
            while True:
                try:
                    batch: list[_Wire] = conn.recv()
                except (EOFError, OSError):
                    return
                received_at = self.clock.now()
                for topic, payload, mid, qos, generation in batch:
                    message = QueuedMessage(
                        RawMessage(topic=topic, payload=payload, received_at=received_at),
                        mid,
                        qos,
                        (incarnation << _INCARNATION_SHIFT) | generation,
                        link,
                    )
                    if not self._deliver(kind, message):
                        return
        finally:
            conn.close()

    def _deliver(self, kind: int, message: QueuedMessage) -> bool:
        """Into the right inbox; False once stopping. An urgent message that finds the urgent
        inbox full goes as `MqttLink` sends it in the hub's own process: the main connection's
        the routine way, the lane's let go (the main connection has a copy)."""
        if kind == _ROUTINE:
            return self._put(self.inbox, message)
        try:
            self.urgent.put_nowait(message)
            return True
        except queue.Full:
            if self.on_urgent_full is not None:
                self.on_urgent_full()
        if kind == _URGENT_LANE:
            self.ack(1, message)
            return True
        return self._put(self.inbox, message)

    def _put(self, box: queue.Queue[QueuedMessage], message: QueuedMessage) -> bool:
        """Put into a bounded inbox, waiting while it is full; False once stopping. While we
        wait, the pipe fills and the child stops reading the broker."""
        try:
            box.put_nowait(message)
            return True
        except queue.Full:
            if self.on_inbox_full is not None:
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
        if not self._stopping.is_set():
            self._restart(incarnation)

    def _restart(self, incarnation: int) -> None:
        """Start a new child, waiting longer after each failure to start one."""
        delay = _RESTART_FIRST_S
        _LOGGER.error(
            "the hub's link process (incarnation %d) ended; starting it again in %.0f s",
            incarnation, delay,
        )  # fmt: skip
        while not self._stopping.wait(delay):
            with self._lock:
                if self._stopping.is_set():
                    return
                try:
                    self._spawn()
                    return
                except Exception:
                    _LOGGER.exception("could not start the link process")
            delay = min(delay * 2, _RESTART_MAX_S)

    def _take_event(self, kind: str, body: Any) -> None:
        if kind == "state":
            for link, (connected, answered, refused) in zip(self.links, body, strict=True):
                self._mirror(link, connected, answered, refused)
        elif kind == "counts":
            for key, count in body.items():
                if key == "urgent_demoted" and self.on_urgent_full is not None:
                    for _ in range(count):
                        self.on_urgent_full()
                elif key.startswith(_OVER_RATE) and self.on_urgent_over_rate is not None:
                    self.on_urgent_over_rate(key.removeprefix(_OVER_RATE), count)

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
        """Queue the acknowledgement of a stored message for the child that received it."""
        if message.qos == 0:
            return
        incarnation = message.generation >> _INCARNATION_SHIFT
        generation = message.generation & ((1 << _INCARNATION_SHIFT) - 1)
        with self._acks_ready:
            if not self._acks:  # the sender sleeps only on an empty list: wake it once
                self._acks_ready.notify()
            self._acks.append((incarnation, (index, generation, message.mid, message.qos)))

    def _send_acks(self) -> None:
        """Send the acknowledgements queued since the last send, one command per child they
        are for (the child drops those for another): under load a whole batch goes at once."""
        while True:
            with self._acks_ready:
                while not self._acks and not self._stopping.is_set():
                    self._acks_ready.wait(0.5)
                if not self._acks:
                    return  # stopping, nothing left
                acks, self._acks = self._acks, []
            by_child: dict[int, list[_Ack]] = {}
            for incarnation, ack in acks:
                by_child.setdefault(incarnation, []).append(ack)
            for incarnation, group in by_child.items():
                self._command(("ack", incarnation, group))

    def publish(self, topic: str, payload: bytes, retain: bool) -> None:
        """Publish on the main connection (paho keeps it while the broker is away)."""
        if not self._command(("publish", topic, payload, retain)):
            # Only while the child itself is being started again (seconds): the command is
            # lost. A kit's commands are state the hub publishes again (docs/ask_first.md).
            _LOGGER.warning("link process restarting: publish to %s not sent", topic)

    def _command(self, command: tuple[Any, ...]) -> bool:
        """Send a command to the child; False if there is none to take it. While stopping,
        the pipe is waited for a bounded time: a wedged child is then ended without a word."""
        if not self._lock.acquire(timeout=_STOP_LOCK_S if self._stopping.is_set() else -1):
            return False
        try:
            if self._commands is None:
                return False
            try:
                self._commands.send(command)
                return True
            except OSError:
                return False  # the child is gone; it is being started again
        finally:
            self._lock.release()

    def stop_link(self, index: int) -> None:
        """Disconnect one connection; the main one's stop ends the process."""
        if index != 0:
            self._command(("stop_link", index))
            self.links[index].connected.clear()
            return
        self.stop()

    def stop(self, timeout: float = 10.0) -> None:
        """Send what is stored's acknowledgements, disconnect cleanly, end the process."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        with self._acks_ready:
            self._acks_ready.notify_all()
        if self._sender is not None:
            self._sender.join(timeout)  # what was stored before the stop is acknowledged
        self._command(("exit",))
        process = self._process
        if process is not None and process.pid is not None:
            process.join(timeout)
            if process.is_alive():
                _LOGGER.warning("link process did not stop in %.0f s: killing it", timeout)
                process.kill()  # it ignores SIGTERM (see _child_main)
                process.join(5)
        if self._lock.acquire(timeout=_STOP_LOCK_S):
            try:
                if self._commands is not None:
                    self._commands.close()
                    self._commands = None
            finally:
                self._lock.release()
        for link in self.links:
            link.connected.clear()
        for thread in self._threads:
            thread.join(timeout)
