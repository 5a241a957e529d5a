"""Fuzz the web API with schemathesis, from the app's own OpenAPI: anonymous and per role.

    .venv/bin/python bench/fuzz_api.py [--cases 50000] [--seed 1] [--json out.json]

Starts the real web app as `mehr web --config web.yaml` (its own process, real uvicorn on a
loopback port) over a seeded temporary database: two mahallas, homes with kits, open alerts,
visit requests, and one account per role. Then, round after round until `--cases` requests have
been sent, every operation of /api/v1/openapi.json is fuzzed by each caller (anonymous, family,
social_worker, duty_officer, supervisor, installer, admin; bearer tokens) in schemathesis's
positive and negative generation modes, with path parameters either generated or set to ids
that exist (so the handlers run, not only the 404s). Any HTTP 5xx or broken connection is a
failure, printed with a curl command that reproduces it; so is any other answer the document
does not declare (an undeclared status, another content type, or a body that does not match the
declared model: schemathesis's conformance checks). Exit status 1 on either.

The test suite runs a short version (tests/dashboards/test_api_fuzz.py) through `fuzz()`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import hypothesis
import hypothesis.errors
import requests
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase, given
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from dashboards.accounts import Passwords, Role, create_user, get_user_by_name
from dashboards.db import Database
from dashboards.sessions import create_session
from dashboards.settings import EXAMPLE_ALERTS_CONFIG
from hub.persistence.sqlite_store import SqliteStore
from hub.registry import HomeSpec, KitSpec, SensorSpec
from hub.store.base import NewAlert, NewEvent
from mehr.contract import SensorKind

__all__ = ["FuzzResult", "fuzz", "seed_world", "serve_mehr_web", "write_web_config"]

ROLES: tuple[str, ...] = tuple(r.value for r in Role)
CALLERS: tuple[str | None, ...] = (None, *ROLES)  # None: anonymous
PASSWORD = "fuzz-" + secrets.token_urlsafe(12)
# The example district's mahallas, so the alert engine's config routes these homes.
MAHALLAS = ("Navbahor", "Bog'ishamol")


@dataclass
class World:
    """What the seeded database holds: ids for path parameters."""

    db_path: Path
    homes: list[str]
    alerts: list[int]
    requests: list[int]
    kits: list[str]


def seed_world(db_path: Path, now: datetime, homes_per_mahalla: int = 3) -> World:
    """Homes with a kit each (motion, door, help), an open help alert and a visit request in
    each, and one account per role (family: the first home; workers: the first mahalla)."""
    store = SqliteStore(db_path)
    homes, kits, alerts = [], [], []
    sensors = [
        SensorSpec(id="pir-kitchen", kind=SensorKind.MOTION, room="Kitchen"),
        SensorSpec(id="door", kind=SensorKind.DOOR, room="Hallway"),
        SensorSpec(id="help", kind=SensorKind.HELP_BUTTON, room="Bedroom"),
    ]
    for m, mahalla in enumerate(MAHALLAS):
        for i in range(homes_per_mahalla):
            home_id, kit_id = f"home-{m}{i}", f"kit-{m}{i}"
            store.register_home(
                HomeSpec(
                    id=home_id,
                    name=f"Resident {m}{i}",
                    mahalla=mahalla,
                    kits=[KitSpec(id=kit_id, sensors=sensors)],
                ),
                now,
            )
            at = now - timedelta(minutes=5)
            ids = store.store_events(
                [NewEvent(home_id, kit_id, 1, 1, "help", "help_button", "pressed", "Bedroom",
                          at, at)],
                now,
            )
            alert, _ = store.raise_alert(
                NewAlert(home_id, "help_button", "critical", at, ids[0], {"room": "Bedroom"})
            )
            store.set_availability(kit_id, "online", now - timedelta(hours=1))
            store.set_heartbeat(kit_id, now - timedelta(seconds=30), {"outbox_depth": 0})
            homes.append(home_id)
            kits.append(kit_id)
            alerts.append(alert.id)
    store.commit()
    store.close()
    database = Database(db_path)
    database.prepare()
    requests_ = []
    with database.connection() as conn:
        scope: dict[str, dict[str, Any]] = {
            Role.FAMILY.value: {"homes": [homes[0]]},
            Role.SOCIAL_WORKER.value: {"mahallas": [MAHALLAS[0]]},
            Role.DUTY_OFFICER.value: {"mahallas": list(MAHALLAS)},
            Role.SUPERVISOR.value: {"all_homes": True},
            Role.INSTALLER.value: {"mahallas": [MAHALLAS[0]]},
            Role.ADMIN.value: {},
        }
        for role in ROLES:
            create_user(
                conn,
                Passwords(1, 8),
                username=f"fuzz-{role}",
                password=PASSWORD,
                role=Role(role),
                now=now,
                display_name=role.replace("_", " ").title(),
                lang="uz",
                **scope[role],
            )
        for home_id in homes:
            cur = conn.exec_driver_sql(
                "INSERT INTO web_requests(home_id, kind, note, state, created_at, updated_at) "
                "VALUES (?, 'visit', 'please visit', 'open', ?, ?)",
                (home_id, now.timestamp(), now.timestamp()),
            )
            requests_.append(int(cur.lastrowid or 0))
    return World(db_path, homes, alerts, requests_, kits)


def write_web_config(workdir: Path, db_path: Path) -> Path:
    """A production-shaped web.yaml: random secrets in files, the example district's alerts
    config; cheap argon2 (the fuzz creates accounts) and a short live stream (it opens many)."""
    web_secret = workdir / "web.secret"
    web_secret.write_text(secrets.token_urlsafe(48))
    alerts_secret = workdir / "alerts.secret"
    alerts_secret.write_text(secrets.token_urlsafe(48))
    config = {
        "db_path": str(db_path),
        "secret_key_file": str(web_secret),
        "alerts_config": str(EXAMPLE_ALERTS_CONFIG),
        "alerts_secret_file": str(alerts_secret),
        "host": "127.0.0.1",
        "port": _free_port(),
        "cookie_secure": False,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8,
        "live_poll_s": 0.01,
        "live_max_s": 0.05,
    }
    path = workdir / "web.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_mehr_web(config: Path) -> Iterator[str]:
    """Run `mehr web --config` as its own process; yield its base URL once /healthz answers."""
    port = yaml.safe_load(config.read_text())["port"]
    base = f"http://127.0.0.1:{port}"
    mehr = Path(sys.executable).with_name("mehr")
    command = [str(mehr)] if mehr.exists() else [sys.executable, "-m", "mehr_app"]
    log_path = config.with_name("mehr-web.log")  # a file: a pipe nobody reads would fill up
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [*command, "web", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # waiting for a real server to bind, not for time to pass
            if proc.poll() is not None:
                err = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"mehr web exited with {proc.returncode}: {err}")
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("mehr web did not start within 60 s")
            time.sleep(0.1)
        yield base
        if proc.poll() is not None:
            raise RuntimeError(f"mehr web died during the fuzz (exit {proc.returncode})")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@dataclass
class Failure:
    """One request the server failed: a 5xx or a broken connection."""

    method: str
    path: str
    caller: str
    status: int | None
    body: str
    curl: str


@dataclass
class FuzzResult:
    """What a fuzz run sent and got back."""

    cases: int = 0
    seconds: float = 0.0
    by_status: Counter[int] = field(default_factory=Counter)
    by_caller: Counter[str] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    # Answers below 500 that break the document: a status it does not declare, another
    # content type, or a body that does not match the declared model.
    nonconforming: list[Failure] = field(default_factory=list)
    unsatisfiable: int = 0  # (operation, caller, mode) targets with no case to generate
    server_s: Counter[str] = field(default_factory=Counter)  # time waiting for each operation

    @property
    def server_errors(self) -> int:
        """Responses with a 5xx status, plus requests the server dropped."""
        return len(self.failures)

    def merge(self, other: FuzzResult) -> None:
        """Add another client's counts to these."""
        self.cases += other.cases
        self.by_status.update(other.by_status)
        self.by_caller.update(other.by_caller)
        self.failures.extend(other.failures)
        self.nonconforming.extend(other.nonconforming)
        self.unsatisfiable += other.unsatisfiable
        self.server_s.update(other.server_s)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (first 20 failures)."""
        return {
            "cases": self.cases,
            "seconds": round(self.seconds, 1),
            "cases_per_s": round(self.cases / self.seconds, 1) if self.seconds else None,
            "http_5xx_or_dropped": self.server_errors,
            "by_status": dict(sorted(self.by_status.items())),
            "by_caller": dict(sorted(self.by_caller.items())),
            "targets_without_cases": self.unsatisfiable,
            "slowest_operations_s": {
                k: round(v, 1) for k, v in self.server_s.most_common(5)
            },
            "failures": [f.__dict__ for f in self.failures[:20]],
            "nonconforming": len(self.nonconforming),
            "nonconforming_first": [f.__dict__ for f in self.nonconforming[:20]],
        }


class Tokens:
    """Bearer tokens per role, minted in the database (no password hashing per case)."""

    def __init__(self, db_path: Path) -> None:
        self._database = Database(db_path)
        self._users: dict[str, int] = {}
        with self._database.connection() as conn:
            for role in ROLES:
                found = get_user_by_name(conn, f"fuzz-{role}")
                assert found is not None, "seed_world creates one account per role"
                self._users[role] = found[0].id
        self._tokens = {role: self.fresh(role) for role in ROLES}

    def fresh(self, role: str) -> str:
        """A new session of the role's account."""
        with self._database.connection() as conn:
            token, _ = create_session(conn, self._users[role], datetime.now(UTC), 12.0)
        return token

    def headers(self, caller: str | None, operation_path: str) -> dict[str, str]:
        """Authorization for a caller; a fresh session for logout, which ends the one it uses."""
        if caller is None:
            return {}
        if operation_path.endswith("/logout"):
            return {"Authorization": f"Bearer {self.fresh(caller)}"}
        return {"Authorization": f"Bearer {self._tokens[caller]}"}


def _real_ids(world: World, round_no: int) -> dict[str, Any]:
    """Path parameters that exist, varied by round (own tenant and the other one)."""
    pick = round_no // 2
    return {
        "home_id": world.homes[pick % len(world.homes)],
        "alert_id": world.alerts[pick % len(world.alerts)],
        "request_id": world.requests[pick % len(world.requests)],
        "kit_id": world.kits[pick % len(world.kits)],
        "token": secrets.token_urlsafe(34),
    }


def fuzz(
    base_url: str,
    world: World,
    total_cases: int,
    seed: int = 1,
    per_target: int = 25,
    jobs: int = 1,
    progress: Callable[[FuzzResult], None] | None = None,
) -> FuzzResult:
    """Send at least `total_cases` schemathesis cases at the API; count statuses and 5xx.

    Deterministic for a given seed, job count and server state: each (round, operation,
    caller, mode) draws its cases from Hypothesis with a seed derived from `seed` and its
    position. With jobs > 1 the targets are split over that many client processes.
    """
    started = time.perf_counter()
    if jobs == 1:
        result = _fuzz_share(base_url, world, total_cases, seed, per_target, 0, 1, progress)
    else:
        context = multiprocessing.get_context("fork")
        share = -(-total_cases // jobs)
        with ProcessPoolExecutor(jobs, mp_context=context) as pool:
            parts = list(
                pool.map(
                    _fuzz_share,
                    *zip(
                        *[
                            (base_url, world, share, seed, per_target, job, jobs, None)
                            for job in range(jobs)
                        ],
                        strict=True,
                    ),
                )
            )
        result = FuzzResult()
        for part in parts:
            result.merge(part)
    result.seconds = time.perf_counter() - started
    return result


def _fuzz_share(
    base_url: str,
    world: World,
    total_cases: int,
    seed: int,
    per_target: int,
    job: int,
    jobs: int,
    progress: Callable[[FuzzResult], None] | None,
) -> FuzzResult:
    """One client's share: the targets with index % jobs == job, round after round."""
    spec = httpx.get(f"{base_url}/api/v1/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(spec)
    operations = [result.ok() for result in schema.get_all_operations()]
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    targets = list(itertools.product(range(len(operations)), range(len(CALLERS)), modes))
    tokens = Tokens(world.db_path)
    session = requests.Session()
    result = FuzzResult()
    started = time.perf_counter()
    try:
        for round_no in itertools.count():
            real = round_no % 2 == 1
            for op_no, caller_no, mode in targets[job::jobs]:
                operation = operations[op_no]
                names = {p.name for p in operation.path_parameters}
                fixed = {k: v for k, v in _real_ids(world, round_no).items() if k in names}
                if mode is GenerationMode.NEGATIVE and (
                    (real and fixed) or not _negatable(operation)
                ):
                    # Negative path parameters are the generated rounds' job, and an operation
                    # without an input that can be invalid has no negative case to make.
                    continue
                strategy = operation.as_strategy(
                    generation_mode=mode, path_parameters=fixed if real and fixed else None
                )
                key = repr((seed, round_no, op_no, caller_no, mode.value)).encode()
                _run_cases(
                    strategy, zlib.crc32(key), per_target, base_url, session, tokens,
                    CALLERS[caller_no], operation.path, result,
                )
                if result.cases >= total_cases:
                    return result
            if progress is not None:
                result.seconds = time.perf_counter() - started
                progress(result)
    finally:
        session.close()
    raise AssertionError("unreachable")


_CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]


def _conformance_problem(case: schemathesis.Case, response: requests.Response) -> str | None:
    """None when the answer is one the OpenAPI document declares (status, type, body model)."""
    try:
        case.validate_response(response, checks=_CONFORMANCE)
    except FailureGroup as group:
        return "; ".join(str(e).strip().splitlines()[0] for e in group.exceptions)
    except AssertionError as exc:  # one schemathesis Failure
        return str(exc).strip().splitlines()[0]
    return None


def _negatable(operation: Any) -> bool:
    """True when the operation has an input that can be made invalid: a query, header, cookie
    or body, or a path parameter that is not a plain string (any string is a valid string,
    so Hypothesis would search in vain for an invalid one)."""
    if len(operation.query) or len(operation.headers) or len(operation.cookies) or operation.body:
        return True
    return any(
        p.definition.get("schema", {}).get("type") != "string" for p in operation.path_parameters
    )


def _run_cases(
    strategy: Any,
    case_seed: int,
    max_examples: int,
    base_url: str,
    session: requests.Session,
    tokens: Tokens,
    caller: str | None,
    path: str,
    result: FuzzResult,
) -> None:
    who = caller or "anonymous"

    @hypothesis.seed(case_seed)
    @hypothesis.settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=False,
        report_multiple_bugs=False,
    )
    @given(case=strategy)
    def send(case: schemathesis.Case) -> None:
        headers = tokens.headers(caller, path)
        result.cases += 1
        result.by_caller[who] += 1

        def failed(status: int | None, body: str) -> None:
            curl = case.as_curl_command(headers=headers, base_url=base_url)
            result.failures.append(
                Failure(case.method, case.formatted_path, who, status, body[:300], curl)
            )

        try:
            response = case.call(base_url=base_url, session=session, headers=headers, timeout=30)
        except requests.RequestException as exc:
            failed(None, repr(exc))
            return
        result.by_status[response.status_code] += 1
        result.server_s[f"{case.method} {path}"] += float(response.elapsed)
        if response.status_code >= 500:
            failed(response.status_code, response.text)
            return
        problem = _conformance_problem(case, response)
        if problem is not None:
            curl = case.as_curl_command(headers=headers, base_url=base_url)
            result.nonconforming.append(
                Failure(case.method, case.formatted_path, who, response.status_code,
                        problem[:300], curl)
            )

    try:
        send()
    except hypothesis.errors.Unsatisfiable:
        # Nothing to negate (an operation without parameters or body): no invalid case exists.
        result.unsatisfiable += 1


def main(argv: list[str] | None = None) -> int:
    """Seed, serve `mehr web`, fuzz, print the figures (and write them as JSON if asked)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--per-target", type=int, default=50, help="cases per Hypothesis run")
    parser.add_argument("--jobs", type=int, default=2, help="client processes")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="mehr-fuzz-api-"))
    db_path = work / "mehr.db"
    world = seed_world(db_path, datetime.now(UTC))
    config = write_web_config(work, db_path)

    def progress(r: FuzzResult) -> None:
        print(f"  {r.cases} cases, {r.server_errors} failures, {r.seconds:.0f} s", flush=True)

    with serve_mehr_web(config) as base:
        result = fuzz(
            base, world, args.cases, args.seed, args.per_target, args.jobs,
            progress if args.jobs == 1 else None,
        )
        alive = httpx.get(f"{base}/healthz", timeout=10).status_code
    figures = {
        **result.to_dict(),
        "healthz_after": alive,
        "seed": args.seed,
        "jobs": args.jobs,
        "per_target": args.per_target,
    }
    print(json.dumps(figures, indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False))
    return 1 if result.server_errors or result.nonconforming or alive != 200 else 0


if __name__ == "__main__":
    sys.exit(main())
