"""Every Alembic and SQLAlchemy internal the child code touches, behind one function each.

The child runs in the user's interpreter, with the SQLAlchemy (1.4, 2.0, 2.1) and Alembic (1.7 to
latest) the project has (issue 15; the matrix in docs/compat.md). Nothing else in ``core/child``
reads a private attribute or replaces a method of Alembic or SQLAlchemy: it calls these.

Each function uses the public API where one exists (``Script.down_revision`` rather than
``_versioned_down_revisions``), checks that the internal it needs is there in the installed version,
and fails with a ``CompatError`` that names the library, its version and what is missing, never an
``AttributeError`` from deep inside a task. ``check_supported()`` refuses versions older than the
oldest supported ones up front ("Alembic 1.6.5 is older than the oldest supported, 1.7").

Python 3.9 syntax only (the project's interpreter may be that old): no ``X | Y`` outside annotations.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

OLDEST = {"alembic": (1, 7), "sqlalchemy": (1, 4)}
NAMES = {"alembic": "Alembic", "sqlalchemy": "SQLAlchemy"}
Undo = Callable[[], None]


class CompatError(RuntimeError):
    """The installed Alembic or SQLAlchemy lacks what the tool needs (too old, or changed)."""

    hint = "Install a supported version in the project's interpreter: SQLAlchemy 1.4 or later, Alembic 1.7 or later."


class UnsupportedVersion(CompatError):
    """A library older than the oldest supported version."""


def parse_version(text: str) -> tuple[int, ...]:
    """``"1.13.3"`` → ``(1, 13, 3)``; pre-release and local parts are dropped (``"2.1.0b1"`` → ``(2, 1, 0)``)."""
    out: list[int] = []
    for part in str(text).split("+")[0].split("."):
        digits = ""
        for char in part:
            if not char.isdigit():
                break
            digits += char
        if not digits:
            break
        out.append(int(digits))
        if len(digits) != len(part):
            break
    return tuple(out)


def installed(library: str) -> str | None:
    """The version of ``alembic`` or ``sqlalchemy`` importable here, or None when it is not installed."""
    try:
        module = __import__(library)
    except ImportError:
        return None
    return str(getattr(module, "__version__", "0"))


def _short(version: tuple[int, ...]) -> str:
    return ".".join(str(p) for p in version)


def check_supported(libraries: tuple[str, ...] = ("sqlalchemy", "alembic")) -> None:
    """Raise UnsupportedVersion when an installed library is older than the oldest supported one."""
    for library in libraries:
        version = installed(library)
        if version is None:
            continue
        if parse_version(version)[:2] < OLDEST[library]:
            raise UnsupportedVersion(f"{NAMES[library]} {version} is older than the oldest supported, "
                                     f"{_short(OLDEST[library])} (the project's interpreter has it).")


def at_least(library: str, *version: int) -> bool:
    found = installed(library)
    return found is not None and parse_version(found)[:len(version)] >= version


def _require(owner: Any, attr: str, library: str, what: str) -> Any:
    """``getattr(owner, attr)``, or a CompatError naming the installed version and the need."""
    value = getattr(owner, attr, None)
    if value is None:
        name = getattr(owner, "__name__", type(owner).__name__)
        raise CompatError(f"{NAMES[library]} {installed(library)} has no {name}.{attr}, which the tool needs "
                          f"{what}; this version is not supported.")
    return value


def _replace(owner: Any, attr: str, new: Any) -> Undo:
    """Set ``owner.attr`` to ``new``; the returned function puts the original back (the warm worker also does)."""
    original = vars(owner)[attr] if attr in vars(owner) else getattr(owner, attr)
    setattr(owner, attr, new)

    def undo() -> None:
        setattr(owner, attr, original)

    return undo


# --- Alembic: the revision graph ------------------------------------------------------------

def _to_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def down_revisions(script: Any) -> list[str]:
    """A revision's parents (``Script._versioned_down_revisions``), from the public ``down_revision``."""
    return _to_list(script.down_revision)


def resolved_dependencies(script: Any) -> list[str]:
    """The revisions named by ``depends_on``, resolved (``Script._resolved_dependencies``, Alembic 0.8+).

    Public fallback: ``Script.dependencies`` as written in the file (it may name a branch label).
    """
    resolved = getattr(script, "_resolved_dependencies", None)
    if resolved is not None:
        return _to_list(resolved)
    return _to_list(getattr(script, "dependencies", None))


def all_down_revisions(script: Any) -> list[str]:
    """Parents and dependencies (``Script._all_down_revisions``): the edges a graph draws."""
    found = getattr(script, "_all_down_revisions", None)
    if found is not None:
        return _to_list(found)
    return list(dict.fromkeys(down_revisions(script) + resolved_dependencies(script)))


# --- Alembic: wrapping each revision's migration function -----------------------------------

StepWrapper = Callable[[Callable[..., Any], Any, bool], Callable[..., Any]]


def wrap_revision_steps(wrapper: StepWrapper) -> Undo:
    """Wrap every revision's ``upgrade()``/``downgrade()`` as Alembic builds its step (``RevisionStep.__init__``).

    ``wrapper(fn, revision_script, is_upgrade)`` returns the function Alembic calls instead; wrappers chain.
    The public ``on_version_apply`` callback runs only *after* a step (and needs env.py to pass it to
    ``configure``), so it cannot time a step's start nor stop a run before one: Alembic has no public hook
    around a migration function. Checked on Alembic 1.7 to 1.20 (docs/compat.md).
    """
    from alembic.runtime import migration

    step_class = _require(migration, "RevisionStep", "alembic", "to follow each revision of a run")
    original_init = step_class.__init__

    def init(step: Any, *args: Any, **kwargs: Any) -> None:
        original_init(step, *args, **kwargs)
        fn = getattr(step, "migration_fn", None)
        revision = getattr(step, "revision", None)
        if fn is None or revision is None or not hasattr(step, "is_upgrade"):
            raise CompatError(f"Alembic {installed('alembic')}'s RevisionStep has no migration_fn, revision or "
                              "is_upgrade, which the tool needs to follow each revision; this version is not supported.")
        wrapped = wrapper(fn, revision, bool(step.is_upgrade))
        if wrapped is not fn:
            functools.update_wrapper(wrapped, fn)  # Alembic logs the function's name ("Running upgrade …")
        step.migration_fn = wrapped

    return _replace(step_class, "__init__", init)


# --- Alembic: env.py's context ----------------------------------------------------------------

def wrap_environment_configure(hook: Callable[[dict[str, Any]], None]) -> Undo:
    """Call ``hook(kwargs)`` on every ``context.configure(**kwargs)`` env.py makes (it may change them).

    ``EnvironmentContext.configure`` is public API, but Alembic has no hook to see or amend env.py's
    arguments: the method is wrapped, with the same signature on Alembic 1.7 to 1.20.
    """
    from alembic.runtime.environment import EnvironmentContext

    original = _require(EnvironmentContext, "configure", "alembic", "to read how env.py configures Alembic")

    def configure(self: Any, *args: Any, **kwargs: Any) -> Any:
        hook(kwargs)
        return original(self, *args, **kwargs)

    return _replace(EnvironmentContext, "configure", configure)


def skip_environment_run_migrations() -> Undo:
    """Make env.py's ``context.run_migrations()`` do nothing (env.py still runs up to it and configures)."""
    from alembic.runtime.environment import EnvironmentContext

    _require(EnvironmentContext, "run_migrations", "alembic", "to read env.py's settings without migrating")

    def run_migrations(self: Any, **kw: Any) -> None:
        return None

    return _replace(EnvironmentContext, "run_migrations", run_migrations)


def after_context_run_migrations(after: Callable[[], None]) -> Undo:
    """Call ``after()`` once ``MigrationContext.run_migrations`` has run every step, still in env.py's transaction.

    The dry run raises there so that env.py's transaction rolls back. ``on_version_apply`` would fire per
    step, not once at the end, and only if env.py passes it on.
    """
    from alembic.runtime import migration

    context_class = _require(migration, "MigrationContext", "alembic", "for the dry run")
    original = _require(context_class, "run_migrations", "alembic", "for the dry run")

    def run_migrations(self: Any, **kw: Any) -> None:
        original(self, **kw)
        after()

    return _replace(context_class, "run_migrations", run_migrations)


def replace_autocommit_block(block: Callable[[Any], Any]) -> Undo:
    """Replace ``MigrationContext.autocommit_block`` (Alembic 1.2+) with ``block(context)``, a context manager."""
    from alembic.runtime import migration

    context_class = _require(migration, "MigrationContext", "alembic", "for the dry run")
    _require(context_class, "autocommit_block", "alembic", "to keep a dry run in its transaction")
    return _replace(context_class, "autocommit_block", block)


# --- SQLAlchemy: the ORM's registries and mappers ------------------------------------------

def all_registries() -> list[Any]:
    """Every ORM ``registry`` of the process (``mapperlib._all_registries()``, or ``_mapper_registries`` before 1.4.?)."""
    from sqlalchemy.orm import mapperlib

    finder = getattr(mapperlib, "_all_registries", None)
    if finder is not None:
        return list(finder())
    registries = getattr(mapperlib, "_mapper_registries", None)
    if registries is None:
        raise CompatError(f"SQLAlchemy {installed('sqlalchemy')} has neither mapperlib._all_registries nor "
                          "_mapper_registries, which the tool needs to find the models; this version is not supported.")
    return list(registries)


def loaded_registries() -> list[Any]:
    """Like ``all_registries`` but only when ``sqlalchemy.orm`` is already imported (never imports it)."""
    import sys

    if "sqlalchemy.orm.mapperlib" not in sys.modules:
        return []
    return all_registries()


def mapper_props(mapper: Any) -> dict[str, Any]:
    """A mapper's properties by name without configuring it (``Mapper._props``).

    The public ``mapper.attrs`` configures every mapper first, which raises when one of them is broken;
    the model map must still list the others.
    """
    props = getattr(mapper, "_props", None)
    if props is None:
        return {p.key: p for p in mapper.attrs}  # the public path (configures)
    return dict(props)


def user_defined_foreign_keys(relationship: Any) -> list[Any]:
    """The columns given as ``foreign_keys=`` (``RelationshipProperty._user_defined_foreign_keys``).

    Public fallback: the configured relationship's ``foreign_keys`` (all its foreign key columns, given or found).
    """
    found = getattr(relationship, "_user_defined_foreign_keys", None)
    if found is None:
        found = getattr(relationship, "foreign_keys", None) or ()
    return list(found)


def reverse_properties(relationship: Any) -> list[Any]:
    """The relationships on the other side (``RelationshipProperty._reverse_property``, set by configuration).

    Public fallback: the ``back_populates`` partner, looked up on the other mapper.
    """
    found = getattr(relationship, "_reverse_property", None)
    if found is not None:
        return list(found)
    name = getattr(relationship, "back_populates", None)
    other = mapper_props(relationship.mapper) if name else {}
    return [other[name]] if name in other else []


def enum_db_value(sqltype: Any) -> Callable[[Any], Any] | None:
    """How an ``Enum`` column stores a Python enum member (``Enum._db_value_for_elem``), or None.

    Without it the caller falls back to the member's value or name, which is what ``Enum`` stores by default.
    """
    found = getattr(sqltype, "_db_value_for_elem", None)
    return found if callable(found) else None


def mapper_failed(mapper: Any) -> bool:
    """True when configuring this mapper failed (``Mapper._configure_failed``; False when unknown)."""
    return bool(getattr(mapper, "_configure_failed", False))


# --- SQLAlchemy: the URL a project's engine can load -----------------------------------------

def project_url(url: str) -> str:
    """The target URL in a form this SQLAlchemy can load.

    The server hands ``postgresql+psycopg://`` (psycopg 3); SQLAlchemy 1.4 has no such dialect, so
    there it becomes ``postgresql+psycopg2://`` when psycopg2 is installed (the driver 1.4 projects use).
    """
    prefix = "postgresql+psycopg://"
    if not url.startswith(prefix) or at_least("sqlalchemy", 2, 0) or installed("sqlalchemy") is None:
        return url
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        raise CompatError(f"SQLAlchemy {installed('sqlalchemy')} cannot use psycopg 3 (postgresql+psycopg://) and "
                          "psycopg2 is not installed in the project's interpreter.") from None
    return "postgresql+psycopg2://" + url[len(prefix):]
