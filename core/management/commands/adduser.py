"""`manage.py adduser NAME --role viewer|editor|admin [--password P]` for scripts."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from core import accounts, audit
from core.roles import ROLES


class Command(BaseCommand):
    help = "Create or update a user with a role."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", choices=ROLES, required=True)
        parser.add_argument("--password", default=None, help="without it, the user logs in by a link/admin reset")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["password"] is not None and len(opts["password"]) < 8:
            raise CommandError("the password must have at least 8 characters")
        user = accounts.create_user(opts["username"], opts["role"], opts["password"])
        audit.record(None, "user.create", user.username, after={"role": opts["role"]}, username="manage.py")
        self.stdout.write(f"{user.username}: {opts['role']}")
