"""`manage.py serve`: the one command behind `make demo`, `make run` and the Docker image.

Migrates the internal DB, bootstraps the admin, starts the embedded PostgreSQL when no
DATABASE_URL is given (and loads the demo project with --demo), prints the startup report,
then serves the ASGI app with Daphne. Every check is independent: a missing alembic.ini or a
database that is down is reported with a hint, and the server still starts (the pages show
the problem and recover once it is fixed).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from core import accounts, durations, target
from core.demo import duration
from core.exceptions import AppError
from core.project import project_status

MARK = {"ok": "✓", "warning": "!", "error": "✗"}
MIGRATE_LOCK = 0x7067_6D69  # "pgmi": one instance migrates the shared internal DB at a time


@contextmanager
def one_instance_at_a_time() -> Iterator[None]:
    """Instances started together (two services of one compose file) share the internal DB on
    PostgreSQL: the first migrates and creates the admin while the others wait on a session lock."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [MIGRATE_LOCK])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [MIGRATE_LOCK])


class Command(BaseCommand):
    help = "Serve PostgreSQL Admin (startup report, then Daphne)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--port", type=int, default=None, help="port (default PGADMIN_PORT or 3000)")
        parser.add_argument("--host", default=None, help="address to listen on (default PGADMIN_HOST or 127.0.0.1)")
        parser.add_argument("--demo", action="store_true", help="load and use the bundled demo project")
        parser.add_argument("--big", action="store_true", help="with --demo: 10 million operations")
        parser.add_argument("--check", action="store_true", help="print the startup report and exit")

    def say(self, line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def handle(self, *args: Any, **opts: Any) -> None:
        host = opts["host"] or settings.HOST
        port = opts["port"] or settings.PORT
        self.say(f"PostgreSQL Admin v{settings.VERSION}")
        if not opts["check"]:
            self._ensure_port_free(host, port)

        if opts["demo"]:
            from core.demo import DEMO_DIR

            settings.PROJECT_DIR = DEMO_DIR
        if not settings.TARGET_DATABASE_URL:
            from core import embedded

            pgdata = settings.DATA_DIR / "postgres"
            first = not (pgdata / "PG_VERSION").exists()
            self.say(f"No DATABASE_URL: starting the embedded PostgreSQL in {pgdata}"
                     + (" (first start: creating the cluster, ~10 s)" if first else ""))
            started = time.monotonic()
            try:
                url = embedded.start(settings.DATA_DIR, "brokerbot" if opts["demo"] else "postgres", app_role=True)
            except RuntimeError as exc:
                self.say(f"✗ {exc}")
                raise CommandError("cannot start without a database") from None
            self.say(f"✓ Embedded PostgreSQL ready ({duration(time.monotonic() - started)})")
            target.set_target_url(url)
        if opts["demo"]:
            self._load_demo(big=opts["big"])

        self.say("Preparing the tool's own database (users, history, audit)")
        with one_instance_at_a_time():
            call_command("migrate", interactive=False, verbosity=0)
            admin, uses_link = accounts.ensure_bootstrap_admin()

        try:
            where = target.describe(target.target_url())
        except AppError as exc:  # TargetNotConfigured: no target, or not a PostgreSQL URL
            raise CommandError(f"{exc.message} Hint: {exc.hint}") from None
        self.say(f"Connecting to PostgreSQL: {where}")
        from core.reader_role import startup_report  # which role each mode uses (red when dangerous)

        # a big project's models take a while to import: say how long it took the last times, and beat
        key = ("serve.project", str(settings.PROJECT_DIR))
        usual = durations.typical("startup", key)
        self.say("Reading the project: interpreter, database, Alembic, models "
                 + (f"(usually ~{duration(usual)} here)" if usual and usual >= 1 else "(a few seconds)"))
        started = time.monotonic()
        with durations.heartbeat(self.say, "reading the project", typical=usual):  # (ignores a usual < 1 s)
            checks = project_status(force=True)
        durations.remember("startup", key, time.monotonic() - started)
        for check in checks.values():
            self.say(f"{MARK[check.status]} {check.message}")
            if check.hint and not check.ok:
                self.say(f"    → {check.hint}")
            for err in check.data.get("errors", [])[1:] if check.name == "models" else []:
                self.say(f"    ✗ {err['module']}: {err['error']} → {err['hint']}")
            if check.name == "database":  # the roles belong with the connection; the report ends on the migration
                for line in startup_report():
                    self.say(line)
                if settings.READ_ONLY:
                    self.say("! Read-only mode (PGADMIN_READ_ONLY=1): every write is disabled")

        shown_host = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::", "localhost") else host
        base = settings.PUBLIC_URL or f"http://{shown_host}:{port}"
        if uses_link:
            token = accounts.create_login_link(admin)
            self.say(f"→ Open {base}/login?token={token}")
            self.say("    (one-time link for the admin; valid 24 h; a new one is printed at every start)")
        else:
            self.say(f"→ Open {base}/login and log in as {admin.get_username()}")
        if opts["check"]:
            return
        from core import housekeeping, warm

        housekeeping.start()  # every few seconds: what dead instances left behind (runs, console queries)
        if warm.start("serve"):  # the project's answers, computed while the server starts listening
            self.say("… Warming up: reading the project's history, models, drift and pending revisions in the background")
        self._serve(host, port)

    def _ensure_port_free(self, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                self.say(f"✗ Cannot listen on {host}:{port}: {exc.strerror}")
                self.say(f"    → stop the other process on port {port}, or use --port / PGADMIN_PORT=…")
                raise CommandError(f"port {port} unavailable") from None

    def _load_demo(self, big: bool) -> None:
        from core.demo import load_demo

        self.say("Loading the demo project (examples/brokerbot)"
                 + (" with 10 million operations: a few minutes the first time, progress below" if big else ""))
        started = time.monotonic()
        result = load_demo(target.target_url().render_as_string(hide_password=False), big=big, progress=self.say)
        if result.get("ok"):
            self.say(f"✓ Demo data ready: {result.get('clients', '?')} clients, {result.get('operations', '?')} operations"
                     f" ({duration(time.monotonic() - started)})")
        else:
            self.say(f"✗ Demo data not loaded: {result.get('error')}")
            if result.get("hint"):
                self.say(f"    → {result['hint']}")

    def _serve(self, host: str, port: int) -> None:
        from daphne.cli import CommandLineInterface

        _django_parses_forms()
        self.say(f"Serving on {host}:{port} (Ctrl+C to stop)")
        # No --proxy-headers: X-Forwarded-* count only from PGADMIN_TRUSTED_PROXIES (pgadmin_site/proxies.py).
        from twisted.internet import reactor  # after daphne's import, which installs the asyncio reactor

        # SIGTERM/SIGINT stop the reactor, whose shutdown then waits for every request in flight
        # (a 60 s console query, a page waiting for the stopped loop): give them SHUTDOWN_GRACE_S.
        reactor.addSystemEventTrigger("before", "shutdown", _exit_after_grace)  # type: ignore[arg-type]
        CommandLineInterface().run(["-b", host, "-p", str(port), "pgadmin_site.asgi:application"])
        _exit_after_daphne()


SHUTDOWN_GRACE_S = 3.0  # well inside `docker stop`'s 10 s


def _exit_after_grace() -> None:
    """A stop was asked: requests in flight get a few seconds, then the process ends anyway."""
    timer = threading.Timer(SHUTDOWN_GRACE_S, _exit_after_daphne)
    timer.daemon = True
    timer.start()


def _exit_after_daphne() -> None:
    """Daphne returned (SIGTERM/SIGINT stopped its event loop), or its shutdown outlived the grace:
    end the process now.

    A request still in a worker thread at that moment may be waiting for that loop (Django's
    ``async_to_sync`` between middlewares) or for a slow query; the interpreter's exit would join
    those threads forever, and ``docker stop`` would end in a SIGKILL after its 10 s. So the warm
    project workers are stopped (their children too), the logs flushed, and the process exits
    without joining threads; whatever those requests held ends with it (connections close, the
    server rolls their transactions back), and a run in progress is failed by the next instance's
    reaper, as when a server dies (docs/architecture.md, Job engine).
    """
    import logging as std_logging

    from core import housekeeping, worker
    from core.signals import shutting_down

    housekeeping.stop()
    for receiver, reply in shutting_down.send_robust(sender=None):  # e.g. the console cancels its queries
        if isinstance(reply, Exception):
            std_logging.getLogger(__name__).warning("shutdown receiver %r failed: %s", receiver, reply)
    with contextlib.suppress(Exception):
        worker.shutdown()
    std_logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


def _django_parses_forms() -> None:
    """Leave POST bodies to Django: Twisted (under Daphne) parses multipart bodies itself, into
    ``request.args`` that Daphne never reads, and answers a malformed one with a bare 400 (no body,
    no Content-Type) before the app can answer with the error vocabulary; it also holds a copy of
    every upload in memory. Django's own parser reports a bad body as a 400 with a message and hint."""
    from daphne.http_protocol import WebRequest

    if getattr(WebRequest, "_pgadmin_forms_to_django", False):
        return
    original = WebRequest.__init__

    def init(self: WebRequest, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)
        self._parsePOSTFormSubmission = False

    WebRequest.__init__ = init  # type: ignore[method-assign]
    WebRequest._pgadmin_forms_to_django = True  # type: ignore[attr-defined]
