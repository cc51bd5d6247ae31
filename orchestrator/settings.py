"""Trellis settings, all from environment variables (12-factor).

The default is the embedded mode: SQLite and kombu's filesystem transport under TRELLIS_HOME,
so a laptop with no services runs everything. Set DATABASE_URL and CELERY_BROKER_URL for
PostgreSQL and Redis or RabbitMQ.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import dj_database_url

from orchestrator import deploy

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


# --- Production (issue 18): .env, refusals, HTTPS hardening ---------------------------
# `.env` first, so every setting below sees it; variables already in the environment win.
TRELLIS_ENV_FILE = deploy.load_env_file()

# A checkout keeps its data beside manage.py; an installed wheel has no such folder of its own
# (BASE_DIR is site-packages), so there it is the working directory's .trellis.
_HOME_PARENT = BASE_DIR if (BASE_DIR / "manage.py").is_file() else Path.cwd()
TRELLIS_HOME = Path(os.environ.get("TRELLIS_HOME", _HOME_PARENT / ".trellis")).resolve()
TRELLIS_HOME.mkdir(parents=True, exist_ok=True)

#: DEBUG off is production: Django's deployment checklist applies (secure cookies, HSTS,
#: HTTPS redirect; `manage.py check --deploy` passes) and the server refuses to start on a
#: placeholder SECRET_KEY, no ALLOWED_HOSTS or no fixed TRELLIS_ENCRYPTION_KEY.
#: TRELLIS_PRODUCTION=1 is kept as a way to say DEBUG=false.
TRELLIS_PRODUCTION = env_bool("TRELLIS_PRODUCTION", False)
DEBUG = env_bool("DEBUG", not TRELLIS_PRODUCTION)
_DEV_SECRET_KEY = "trellis-insecure-local-development-key-change-me"
SECRET_KEY = os.environ.get("SECRET_KEY", _DEV_SECRET_KEY)
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver").split(",")
    if h.strip()
]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]
#: Key sealing SECRET-typed inputs at rest (32 characters: Kestra's encryption.secret-key
#: works as is); empty: derived from SECRET_KEY (development only: refused with DEBUG off).
TRELLIS_ENCRYPTION_KEY = os.environ.get("TRELLIS_ENCRYPTION_KEY", "")
if not DEBUG:
    from django.core.exceptions import ImproperlyConfigured

    _refusals = deploy.production_refusals(
        secret_key=SECRET_KEY,
        allowed_hosts=ALLOWED_HOSTS,
        allowed_hosts_set="ALLOWED_HOSTS" in os.environ,
        encryption_key=TRELLIS_ENCRYPTION_KEY,
    )
    if _refusals:
        raise ImproperlyConfigured(
            "Trellis will not start with DEBUG off (production) until these are fixed:\n  - "
            + "\n  - ".join(_refusals)
        )
    SESSION_COOKIE_SECURE = env_bool("TRELLIS_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_SSL_REDIRECT = env_bool("TRELLIS_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("TRELLIS_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("TRELLIS_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("TRELLIS_HSTS_PRELOAD", True)
    if env_bool("TRELLIS_BEHIND_TLS_PROXY", False):  # the proxy sets X-Forwarded-Proto
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# --- end of the production block ----------------------------------------------------------

INSTALLED_APPS = [
    "orchestrator.admin_site.TrellisAdminConfig",  # django.contrib.admin, Trellis's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_celery_beat",
    "orchestrator",
    "flows",
    "templates",
    "executions",
    "kv",
    "triggers",
    "access",
    "namespaces",
]

MIDDLEWARE = [
    # First: /health/live and /health/ready answer probes before host checks, HTTPS
    # redirects and sessions (orchestrator/health_http.py).
    "orchestrator.health_http.HealthMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files (admin CSS, Swagger UI) from the WSGI process itself, compressed and with
    # far-future caching of hashed names: no separate file server to configure.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "orchestrator.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "orchestrator" / "html"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
WSGI_APPLICATION = "orchestrator.wsgi.application"

DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{TRELLIS_HOME / 'trellis.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the one writer; IMMEDIATE makes a writer take the lock at
    # BEGIN so concurrent writers queue on the busy timeout instead of failing mid-transaction.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"].setdefault("TEST", {})
    # A file-backed test database so Celery worker subprocesses see the test data.
    DATABASES["default"]["TEST"]["NAME"] = os.environ.get(
        "TRELLIS_TEST_DB", str(TRELLIS_HOME / "test-trellis.sqlite3")
    )
else:
    DATABASES["default"].setdefault("TEST", {})
    if os.environ.get("TRELLIS_TEST_DB"):
        DATABASES["default"]["TEST"]["NAME"] = os.environ["TRELLIS_TEST_DB"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
#: ISO dates in admin lists too (orchestrator/formats/en/formats.py, issue 20).
FORMAT_MODULE_PATH = ["orchestrator.formats"]
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
#: collectstatic's target, served by WhiteNoise. The image collects at build time into a
#: folder outside the data volume (an old volume must not shadow a new image's files).
STATIC_ROOT = Path(os.environ.get("TRELLIS_STATIC_ROOT", TRELLIS_HOME / "static"))
with contextlib.suppress(OSError):  # WhiteNoise warns on every start about a missing folder
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_ROOT = Path(os.environ.get("TRELLIS_STORAGE_DIR", TRELLIS_HOME / "storage"))
STORAGES = {
    # Internal storage (FILE inputs, task output files): a folder by default; any Django
    # storage backend (e.g. django-storages' S3Storage) with TRELLIS_STORAGE_BACKEND and
    # its OPTIONS as JSON in TRELLIS_STORAGE_OPTIONS.
    "default": {
        "BACKEND": os.environ.get(
            "TRELLIS_STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage"
        ),
        "OPTIONS": json.loads(os.environ.get("TRELLIS_STORAGE_OPTIONS", "{}")),
    },
    # Production: hashed, compressed copies made by collectstatic (cacheable forever).
    # Development: the plain storage, no collectstatic needed.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
#: A file missing from the manifest is served under its plain name rather than failing the
#: page with a 500 (e.g. collectstatic not yet run by a local DEBUG=false try).
WHITENOISE_MANIFEST_STRICT = False

# --- Celery -------------------------------------------------------------------------------
BROKER_DIR = TRELLIS_HOME / "broker"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "filesystem://localhost/"
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        # exchange state; kombu's default is a "control" folder in the working directory
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        # The filesystem transport polls its folder; kombu's default of 1 s would add up to
        # a second to every hop. A directory listing every 20 ms costs next to nothing.
        "polling_interval": float(os.environ.get("TRELLIS_BROKER_POLL_SECONDS", "0.02")),
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Long enough that a slow task is never redelivered while it runs; lost work is found by
    # the lease sweeper, not by the visibility timeout.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}

# Trellis keeps every result in its own tables; Celery's result backend is not used.
# Celery's Django fixup closes the database connection around every task unless told to
# reuse it: a new PostgreSQL backend per task doubled a hop's cost (measured in bench/).
CELERY_DB_REUSE_MAX = int(os.environ.get("TRELLIS_DB_REUSE_MAX", "1000"))
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
#: Task events for Flower (`celery -E`); off by default, docker/compose.yaml turns them on.
CELERY_WORKER_SEND_TASK_EVENTS = env_bool("TRELLIS_TASK_EVENTS", False)
CELERY_TASK_SEND_SENT_EVENT = CELERY_WORKER_SEND_TASK_EVENTS

# --- Trellis ------------------------------------------------------------------------------
TRELLIS_LEASE_SECONDS = int(os.environ.get("TRELLIS_LEASE_SECONDS", "30"))
TRELLIS_HEARTBEAT_SECONDS = int(os.environ.get("TRELLIS_HEARTBEAT_SECONDS", "5"))
#: A task run whose attempts lost their lease this many times FAILS instead of being sent
#: again (a task that kills or starves its worker every time must not loop for ever).
TRELLIS_MAX_LOST_LEASES = int(os.environ.get("TRELLIS_MAX_LOST_LEASES", "3"))
#: The executor renders flowable expressions under its write lock: each one may take at most
#: TRELLIS_EXECUTOR_EXPRESSION_SECONDS and all of one step TRELLIS_EXECUTOR_STEP_SECONDS, far
#: below SQLite's 30 s busy timeout (docs/architecture.md, "Expressions under the write lock").
TRELLIS_EXECUTOR_EXPRESSION_SECONDS = float(
    os.environ.get("TRELLIS_EXECUTOR_EXPRESSION_SECONDS", "1")
)
TRELLIS_EXECUTOR_STEP_SECONDS = float(os.environ.get("TRELLIS_EXECUTOR_STEP_SECONDS", "3"))
#: The worker's fast path (docs/architecture.md): a worker records a result and advances its
#: execution in one transaction, then runs the next attempt on its own queue at once (eager
#: continuation) for at most TRELLIS_EAGER_CHAIN attempts and TRELLIS_EAGER_SECONDS per
#: message. TRELLIS_WORKER_ADVANCES=false sends every result to the executor instead;
#: TRELLIS_EAGER_CHAIN=1 keeps the fast path without eager continuation.
TRELLIS_WORKER_ADVANCES = env_bool("TRELLIS_WORKER_ADVANCES", True)
TRELLIS_EAGER_CHAIN = int(os.environ.get("TRELLIS_EAGER_CHAIN", "25"))
TRELLIS_EAGER_SECONDS = float(os.environ.get("TRELLIS_EAGER_SECONDS", "10"))
#: A QUEUED attempt whose message went out this long ago is sent again (it may be lost).
TRELLIS_RESEND_SECONDS = float(os.environ.get("TRELLIS_RESEND_SECONDS", "60"))
#: A running execution nobody touched for this long is woken by the sweeper.
TRELLIS_QUIET_SECONDS = float(os.environ.get("TRELLIS_QUIET_SECONDS", "30"))
TRELLIS_SWEEP_SECONDS = float(os.environ.get("TRELLIS_SWEEP_SECONDS", "2"))
TRELLIS_MAX_FLOW_BYTES = 1024 * 1024
TRELLIS_MAX_UPLOAD_BYTES = int(os.environ.get("TRELLIS_MAX_UPLOAD_BYTES", str(100 * 1024 * 1024)))
TRELLIS_EXAMPLES_DIR = BASE_DIR / "examples"
#: A signed webhook's timestamp may differ from this server's clock by this much (a
#: trigger's ``signature.tolerance`` overrides it); its delivery id is kept as long.
TRELLIS_WEBHOOK_TOLERANCE_SECONDS = int(os.environ.get("TRELLIS_WEBHOOK_TOLERANCE_SECONDS", "300"))
#: Global variables available to expressions as {{ globals.x }} (JSON in the environment).
TRELLIS_GLOBALS = os.environ.get("TRELLIS_GLOBALS", "{}")
#: SSRF guard of the HTTP task (plugins/_shared/guard.py): by default only public addresses are
#: reachable. ALLOW/DENY: comma-separated addresses, networks, host names (*.x.y) or
#: categories (loopback, private, link-local, metadata...); ALLOW_ONLY: nothing else is.
TRELLIS_HTTP_ALLOW = os.environ.get("TRELLIS_HTTP_ALLOW", "")
TRELLIS_HTTP_DENY = os.environ.get("TRELLIS_HTTP_DENY", "")
TRELLIS_HTTP_ALLOW_ONLY = env_bool("TRELLIS_HTTP_ALLOW_ONLY", False)
#: The address users reach Trellis at (https://trellis.example.com): notifications link to an
#: execution's page with it (Kestra's ``kestra.url``); without it they carry no link.
TRELLIS_URL = os.environ.get("TRELLIS_URL", "")
#: Worker environment variables script tasks inherit besides the basics (comma-separated).
TRELLIS_SCRIPT_ENV = os.environ.get("TRELLIS_SCRIPT_ENV", "")
# The script sandbox (TRELLIS_UNSAFE_SCRIPTS, TRELLIS_BWRAP, TRELLIS_SCRIPT_*_PATHS) is read
# from the environment by plugins/scripts/sandbox.py: the plugin reads no Django settings.
#: The largest folder a WorkingDirectory carries from one of its tasks to the next.
TRELLIS_WORKDIR_MAX_BYTES = int(os.environ.get("TRELLIS_WORKDIR_MAX_BYTES", str(1024**3)))

REST_FRAMEWORK = {
    # drf-spectacular's, with distinct operation ids for the tenant-scoped paths (issue 23)
    "DEFAULT_SCHEMA_CLASS": "orchestrator.api.schema.TrellisAutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's JSON parser answers a deeply nested body with a 500 (RecursionError): issue 21.
    "DEFAULT_PARSER_CLASSES": [
        "orchestrator.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 25,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Trellis API",
    "DESCRIPTION": "Workflow orchestration: flows, executions, logs, namespaces, templates.",
    "VERSION": "1",
    # Swagger UI served from this server's static files, never a CDN: the docs page works
    # on a closed network and loads no third-party script.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- LOGGING (issue 18) ---------------------------------------------------------------------
#: LOG_FORMAT=json: one JSON object per line (timestamp, level, logger, message, and the
#: execution, task run and flow a line is about where known) from every role, Celery's own
#: lines included (orchestrator/observability/logs.py); anything else: plain text.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text").strip().lower()
LOG_LEVEL = os.environ.get("LOG_LEVEL", "WARNING").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"run": {"()": "orchestrator.observability.logs.RunContextFilter"}},
    "formatters": {
        "json": {"()": "orchestrator.observability.logs.JsonFormatter"},
        "text": {"format": "[%(asctime)s: %(levelname)s/%(processName)s] %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["run"],
            "formatter": "json" if LOG_FORMAT == "json" else "text",
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # Django's own loggers come with handlers of their own format: give them ours.
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
# Celery configures logging through orchestrator.celery's setup_logging receiver (the same
# LOGGING, at the worker's -l level), never by replacing the root logger's handlers.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- METRICS (issue 18) ---------------------------------------------------------------------
#: /metrics answers only ``Authorization: Bearer <token>`` when set; open when empty.
TRELLIS_METRICS_TOKEN = os.environ.get("TRELLIS_METRICS_TOKEN", "")
#: How often each process adds its counters to the database (orchestrator/observability).
TRELLIS_METRICS_FLUSH_SECONDS = float(os.environ.get("TRELLIS_METRICS_FLUSH_SECONDS", "5"))
#: Whether a scrape also asks the broker for its queues' message counts.
TRELLIS_METRICS_BROKER = env_bool("TRELLIS_METRICS_BROKER", True)

# --- Executions whose flow cannot be loaded (issue 18) --------------------------------------
#: The executor tries this many times, this far apart, then fails the execution with the reason.
TRELLIS_LOAD_TRIES = int(os.environ.get("TRELLIS_LOAD_TRIES", "3"))
TRELLIS_LOAD_RETRY_SECONDS = float(os.environ.get("TRELLIS_LOAD_RETRY_SECONDS", "10"))
