"""Warm the project's caches in the background, so that the first visitor does not wait for them.

``manage.py serve`` calls ``start("serve")`` right before it starts listening; other servers (an ASGI
or WSGI server pointed at the project directly) get the same on their first request through
``install()`` (Django's ``request_started``). One daemon thread per process and target, once, computes
in order:
the probe (startup checks), the revision history, the model map, drift, and the offline SQL of the
pending revisions (the ones a visitor is about to review), each through its cache (``core.cache``),
so a page asking for the same answer meanwhile joins the computation instead of starting another.

It never blocks a request and never raises: a failing step is logged (scrubbed) and the next runs.
Off with ``PGADMIN_WARM=0`` (the test settings turn it off; the warm-up tests turn it on).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.conf import settings

from core.logging import scrub

if TYPE_CHECKING:
    from core.target import Target

log = logging.getLogger(__name__)

MAX_PENDING_REVISIONS = 20  # a project far behind head: warm the next ones, the rest on demand

_lock = threading.Lock()
# per target key ("" when none is configured): the answers warmed are the target's (core.cache keys
# carry Target.cache_part), so another target is warmed by a thread of its own
_threads: dict[str, threading.Thread] = {}
_last: dict[str, Any] = {}


def _configured() -> Target | None:
    from core import target

    return target.current_or_none()


def _target_key() -> str:
    on = _configured()
    return on.key if on is not None else ""


def enabled() -> bool:
    return bool(getattr(settings, "WARM_ON_START", True))


def start(reason: str, on: Target | None = None) -> bool:
    """Start the warm-up thread of target ``on`` (default the configured one) once per process
    (False when off or already started for it). The thread warms that target's answers, whichever
    target is configured by the time it runs."""
    if not enabled():
        return False
    on = on or _configured()
    key = on.key if on is not None else ""
    with _lock:
        if key in _threads:
            return False
        thread = _threads[key] = threading.Thread(target=_run, args=(reason, on), name="pgadmin-warm", daemon=True)
        thread.start()
    return True


def join(timeout: float | None = None) -> dict[str, Any]:
    """Wait for the warm-up threads (tests, benchmarks); the steps' outcomes of the last warm-up."""
    with _lock:
        threads = list(_threads.values())
    for thread in threads:
        thread.join(timeout)
    with _lock:
        return dict(_last)


def reset() -> None:
    """Forget that the warm-up ran (tests start it again)."""
    with _lock:
        _threads.clear()
        _last.clear()


def _run(reason: str, on: Target | None) -> None:
    from django.db import connections

    try:
        outcome = warm_now(on)
        with _lock:
            _last.update(outcome)
        done = [name for name, result in outcome["steps"].items() if result == "ok"]
        log.info("Warm-up (%s) done in %.1f s: %s", reason, outcome["seconds"], ", ".join(done) or "nothing")
    except Exception as exc:  # noqa: BLE001 - a warm-up must never take the server down
        log.warning("Warm-up (%s) stopped: %s", reason, scrub(str(exc)))
    finally:
        connections.close_all()  # this thread's internal-DB connection (the ini section preference)


def warm_now(on: Target | None = None) -> dict[str, Any]:
    """Compute every answer the pages need about target ``on`` (default the configured one; none: the
    project's own answers only), in this thread: ``{"steps": {name: "ok" | error}, "seconds"}``."""
    started = time.monotonic()
    steps: dict[str, str] = {}

    def step(name: str, func: Callable[[], object]) -> None:
        try:
            func()
            steps[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - logged, and the next step still runs
            steps[name] = scrub(f"{type(exc).__name__}: {exc}")[:300]
            log.warning("Warm-up step %s failed: %s", name, steps[name])

    from core import project

    step("probe", lambda: project.probe_project(on=on))
    setup = project.resolve_alembic()
    if setup.available:
        from migrations_ui import services

        step("history", lambda: services.script_history(on=on))
    step("models", lambda: _models(on))
    step("drift", lambda: _drift(on))
    if setup.available:
        step("pending revisions", lambda: _pending_revisions(on))
    return {"steps": steps, "seconds": round(time.monotonic() - started, 2)}


def _models(on: Target | None) -> None:
    try:
        from modelmap.services import inspect_project
    except ImportError:  # the model map is not installed
        return
    inspect_project(on=on)


def _drift(on: Target | None) -> None:
    try:
        from migrations_ui.services import compute_drift
    except ImportError:
        return
    result = compute_drift(on=on)
    if not result.get("ok"):
        raise RuntimeError((result.get("error") or {}).get("message") or "drift could not be computed")


def _pending_revisions(on: Target | None) -> None:
    from migrations_ui import services

    h = services.history(on=on)
    by_id = {r["revision"]: r for r in h["revisions"]}
    for rev in h["pending"][:MAX_PENDING_REVISIONS]:
        services.revision_sql(h, by_id[rev], on=on)


def install() -> None:
    """Warm on the first request of servers that do not go through ``manage.py serve``."""
    from django.core.signals import request_started

    request_started.connect(_on_first_request, dispatch_uid="pgadmin-warm-first-request")


def _on_first_request(**_: Any) -> None:
    if enabled() and _target_key() not in _threads:
        start("first request")
