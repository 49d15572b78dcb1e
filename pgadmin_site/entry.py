"""Which Django settings the tool loads, and which the user's code sees.

Users give the tool their project's environment (one ``env_file`` for both services). A Django
project's ``DJANGO_SETTINGS_MODULE`` names *its* settings: the tool must never load them (it would
crash, or worse, run with the project's ``DEBUG``/``SECRET_KEY``), and the project's code in the
child process must still find them (its models may import Django). So the entry points
(``manage.py``, ``pgadmin-py``) set the tool's module and keep the project's value aside;
``core.runner.child_env`` gives it back to the child.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping

TOOL_SETTINGS = "pgadmin_site.settings"
# Settings modules that are the tool's own (tests run with theirs): never handed to the user's code.
_OURS = frozenset({TOOL_SETTINGS, "tests.settings"})
# Internal hand-over between the entry point and the child environment; not a user setting.
_STASH = "_PGADMIN_PROJECT_DJANGO_SETTINGS_MODULE"


def use_tool_settings(environ: MutableMapping[str, str] | None = None) -> None:
    """Point Django at the tool's settings, keeping the project's own value for its child processes."""
    environ = os.environ if environ is None else environ
    current = environ.get("DJANGO_SETTINGS_MODULE")
    if current and current not in _OURS:
        environ.setdefault(_STASH, current)
    environ["DJANGO_SETTINGS_MODULE"] = TOOL_SETTINGS


def project_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment as the user's project had it: its own DJANGO_SETTINGS_MODULE, never the tool's."""
    env = dict(os.environ if environ is None else environ)
    stashed = env.pop(_STASH, None)
    if stashed:
        env["DJANGO_SETTINGS_MODULE"] = stashed
    elif env.get("DJANGO_SETTINGS_MODULE") in _OURS:
        del env["DJANGO_SETTINGS_MODULE"]
    return env
