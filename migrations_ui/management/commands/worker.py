"""`manage.py worker`: a job worker that executes the migration runs the web processes queue (PGADMIN_JOBS=worker).

The web processes keep the checks and the gate; this process claims each queued run, takes the run
lock and executes it with the job engine (``migrations_ui.worker``). It also runs the housekeeping
pass (``core.housekeeping``): the runs of a dead instance or worker are failed while it lives.
Several workers may run at once (each run is claimed by one). SIGTERM or Ctrl+C: no new run is
claimed and the current one is finished first; a second signal exits at once (the run's child then
ends its work and rolls back, and the reaper of a live instance or worker fails the run).
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from core import housekeeping
from migrations_ui.worker import Worker


class Command(BaseCommand):
    help = "Execute the migration runs queued by the web processes (PGADMIN_JOBS=worker)."
    requires_system_checks: list[str] = []

    def say(self, line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def handle(self, *args: Any, **opts: Any) -> None:
        worker = Worker(self.say)
        if settings.JOBS != "worker":
            self.say("! PGADMIN_JOBS is not 'worker' here: the web processes execute runs themselves unless "
                     "they are started with PGADMIN_JOBS=worker")
        if "InMemory" in settings.CHANNEL_LAYERS["default"]["BACKEND"]:
            self.say("! No PGADMIN_CHANNEL_LAYER_URL: run logs are stored but pages see them only when reloaded")

        def stop(signum: int, _frame: FrameType | None) -> None:
            if worker.stopping.is_set():
                self.say("Stopping now.")
                raise SystemExit(1)
            self.say("Stopping after the current run (send the signal again to stop now).")
            worker.stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        housekeeping.start()
        self.say(f"Job worker ready: {worker.name}")
        worker.loop()
        housekeeping.stop()
        self.say("Job worker stopped.")
