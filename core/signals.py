"""Signals between the apps, and core's own receivers.

Signals the job engine (``migrations_ui.jobs``) sends, so that it imports no other feature app:

* ``job_starting(sender, run)``: a run (upgrade, downgrade, stamp, restore) is about to start its
  work on the target, the run lock held. A receiver frees what would block it (the SQL console
  closes its held cursors, whose AccessShare locks would make the run's DDL wait) and may return a
  sentence for the run's log (or None).
* ``schema_changed(sender, run)``: a run's work on the target is over (whatever its outcome): the
  schema may differ. A receiver forgets what it knows of it (the data browser's reflected tables).

Both are sent with ``send_robust``: a failing receiver is logged and never stops a run.

``housekeeping(sender)`` is sent every few seconds by each serving process (``serve``) and each job
worker (``manage.py worker``), from one daemon thread (``core.housekeeping``), the first time at
start: a receiver tidies what a crashed instance left in the shared internal DB (the job engine fails
the runs nobody executes any more, the SQL console forgets the running queries of a dead instance).
A receiver must be cheap when there is nothing to do (one internal-DB query).

Core's receivers: audit of logins and logouts (failed logins are audited by the login view with the
reason), and API tokens revoked whenever a user's password changes or the user is disabled.
"""

from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db.models.signals import pre_save
from django.dispatch import Signal, receiver

from core import audit

job_starting = Signal()  # kwargs: run
schema_changed = Signal()  # kwargs: run
housekeeping = Signal()  # no kwargs
shutting_down = Signal()  # no kwargs: `serve` is about to end the process (each receiver: a second at most)


@receiver(user_logged_in)
def _logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit.record(request, "login", user.get_username(), user=user)


@receiver(user_logged_out)
def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit.record(request, "logout", user.get_username(), user=user)


@receiver(pre_save, sender=settings.AUTH_USER_MODEL)
def _revoke_tokens_on_password_change(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    # Every path that changes a password (the account page, an admin's reset, `manage.py
    # adduser --password`, Django's changepassword) saves the user: one place catches them all.
    if instance.pk is None or (update_fields is not None and not {"password", "is_active"} & set(update_fields)):
        return
    old = sender.objects.filter(pk=instance.pk).values_list("password", "is_active").first()
    if old is None or (old[0] == instance.password and (instance.is_active or not old[1])):
        return
    from core.tokens import revoke_all

    revoke_all(instance)
