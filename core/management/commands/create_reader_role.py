"""`manage.py create_reader_role [--name N] [--admin-url URL] [--dry-run]` (also `create-reader-role`).

Creates a least-privilege login role for the console's read mode and viewers: ``pg_read_all_data``
on PostgreSQL 14+, plain ``GRANT SELECT`` on every table and sequence plus default privileges
before 14; ``default_transaction_read_only`` on; no superuser, no CREATEROLE, a connection limit.
Prints every statement it runs (password masked) and stores the role's URL in the data dir
(``reader-role.json``, 0600), where the tool finds it at its next start. Run again to reset the
password. ``--admin-url`` connects as another role (a superuser) when the target role may not
create roles.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from core import audit, reader_role, target
from core.exceptions import AppError, TargetUnavailable


class Command(BaseCommand):
    help = "Create (or reset) the least-privilege reader role used by the SQL console's read mode and viewers."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--name", default=reader_role.DEFAULT_NAME, help="role name (default pgadmin_reader)")
        parser.add_argument("--admin-url", default="", help="connect as this role instead of DATABASE_URL's "
                                                            "(one that may create roles, e.g. a superuser)")
        parser.add_argument("--no-save", action="store_true", help="print the URL instead of storing it in the data dir")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            target_url = target.target_url()
        except TargetUnavailable as exc:  # no target configured, or not a PostgreSQL URL
            raise CommandError(f"{exc.message} Hint: {exc.hint} (the embedded demo creates its own reader role)") from None
        admin_url = target.normalise_url(opts["admin_url"]) if opts["admin_url"] else target_url
        # The role is for the target's database, whoever creates it.
        admin_url = admin_url.set(database=target_url.database)
        self.stdout.write(f"-- connecting as {admin_url.username or '(default user)'} to {target.describe(admin_url)}")
        try:
            reader = reader_role.create(admin_url, opts["name"], save=False, echo=self.stdout.write)
        except AppError as exc:
            raise CommandError(f"{exc.message}\nHint: {exc.hint}") from None
        except Exception as exc:  # noqa: BLE001 - a connection error: say it, no traceback
            raise CommandError(f"{str(exc).strip().splitlines()[0]}\nHint: check DATABASE_URL / --admin-url.") from None
        reader = reader.set(host=target_url.host, port=target_url.port, query=target_url.query)
        audit.record(None, "reader_role.create", opts["name"], after={"database": target_url.database},
                     username="manage.py")
        if opts["no_save"]:
            self.stdout.write(f"PGADMIN_READER_DATABASE_URL={reader.render_as_string(hide_password=False)}")
            return
        path = reader_role.store(target_url, reader)
        self.stdout.write(self.style.SUCCESS(f"✓ Reader role {opts['name']} ready; its credentials are in {path} (0600)."))
        self.stdout.write("  The console's read mode and viewers use it from the next start. "
                          "To use it elsewhere, set PGADMIN_READER_DATABASE_URL (run with --no-save to print it).")
