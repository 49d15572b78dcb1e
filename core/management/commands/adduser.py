"""`manage.py adduser NAME --role viewer|editor|admin [--password P | --password-stdin]` for scripts.

Without a password the user gets a one-time login link (24 h), printed here, as the first-start
admin does: nobody has to type a password on a command line (where `ps` and shell history see it).
"""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core import accounts, audit
from core.roles import ROLES


class Command(BaseCommand):
    help = "Create or update a user with a role (without a password: print a one-time login link)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", choices=ROLES, required=True)
        how = parser.add_mutually_exclusive_group()
        how.add_argument("--password", default=None, help="set this password (visible to ps; prefer --password-stdin)")
        how.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")

    def handle(self, *args: Any, **opts: Any) -> None:
        password = opts["password"]
        if opts["password_stdin"]:
            password = sys.stdin.readline().rstrip("\r\n")
        if password is not None and len(password) < 8:
            raise CommandError("the password must have at least 8 characters")
        user = accounts.create_user(opts["username"], opts["role"], password)
        audit.record(None, "user.create", user.username, after={"role": opts["role"]}, username="manage.py")
        self.stdout.write(f"{user.username}: {opts['role']}")
        if password is None and not user.has_usable_password():
            base = settings.PUBLIC_URL or "http://<this server>"
            self.stdout.write(f"→ One-time login link for {user.username} (valid 24 h): "
                              f"{base}/login?token={accounts.create_login_link(user)}")
            self.stdout.write("  They set their password at /account after opening it.")
