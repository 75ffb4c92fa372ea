"""Backbone Console settings: one module, driven by environment variables.

Every variable is listed in `.env.example`. Defaults make a local run (`make run`) work
with nothing set; production sets DEBUG=0, SECRET_KEY, ALLOWED_HOSTS and the service URLs.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from datetime import timedelta
from ipaddress import ip_network
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()


def env_secret(name: str, default: str | None = None) -> str | None:
    """Read NAME, or the contents of the file named by NAME_FILE (Docker/K8s secrets)."""
    path = env.str(f"{name}_FILE", default="")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise environ.ImproperlyConfigured(f"{name}_FILE={path} cannot be read: {exc}") from exc
    return env.str(name, default=default)


def _local_secret_key() -> str:
    """A random key made once and kept in var/secret_key (readable by its owner only)."""
    VAR_DIR.mkdir(exist_ok=True)
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        # Written whole under a private name, then linked into place: a process started
        # alongside this one either finds no file or the complete key, and the first link wins.
        fd, tmp = tempfile.mkstemp(dir=VAR_DIR, prefix=".secret_key.")  # mode 0600
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(50))
        try:
            os.link(tmp, key_file)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    return key_file.read_text().strip()


DEBUG = env.bool("DEBUG", default=False)
# A run on this machine (`make run` sets it; also local tools: manage.py, mypy): without a
# SECRET_KEY, a random key is made once and kept in var/secret_key. Never set in production,
# where every process and replica must share one key that survives restarts: with DEBUG off
# and no key given the console refuses to start rather than make one up per container.
BACKBONE_LOCAL = env.bool("BACKBONE_LOCAL", default=False)
SECRET_KEY = env_secret("SECRET_KEY") or ""
if not SECRET_KEY and env.str("SECRET_KEY_FILE", default=""):
    raise ImproperlyConfigured(f"SECRET_KEY_FILE={env.str('SECRET_KEY_FILE')} is empty: put the key in it.")
if not SECRET_KEY:
    if not (DEBUG or BACKBONE_LOCAL):
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY, or SECRET_KEY_FILE naming a file that holds it, to one long "
            "random value shared by every process and kept across restarts, e.g. the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`. On a developer machine (`make run` "
            "sets it; manage.py, mypy), BACKBONE_LOCAL=1 uses a random key kept in var/secret_key instead."
        )
    SECRET_KEY = _local_secret_key()
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "template_partials",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "csp",
    "axes",
    "backbone_admin",
    "topics",
    "streams",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Times every request but static files (WhiteNoise answers those above): /metrics shows it.
    "backbone_admin.metrics.middleware.RequestLatencyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "backbone_admin.sessions.IdleSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Renews an OIDC session whose access token expired, or ends it when the provider refuses.
    "backbone_admin.sso.oidc_session.RefreshMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "backbone_admin.middleware.LoginRequiredMiddleware",
    "backbone_admin.middleware.NoStoreForUsersMiddleware",
    "backbone_admin.middleware.AuditDeniedMiddleware",
    "backbone_admin.middleware.KafkaDeadlineMiddleware",
    # Last, as django-axes requires: turns a refused login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "backbone_admin.urls"
ASGI_APPLICATION = "backbone_admin.asgi.application"

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
                "backbone_admin.context_processors.console",
                "topics.context_processors.retention_drift",
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    }
]

# SQLite by default (WAL, so Daphne and the Celery worker can share it); PostgreSQL in
# production through DATABASE_URL.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # The test database is a file, so a live Daphne and a real Celery worker can open it.
    # TEST_DATABASE_NAME keeps concurrent test runs apart (tests/plugin.py sets one per run).
    DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default=str(VAR_DIR / "test_db.sqlite3"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "backbone",
        # One pool per process (not per request): backbone_admin/redis_pool.py says why.
        "OPTIONS": {
            "socket_connect_timeout": 2,
            "socket_timeout": 2,
            "pool_class": "backbone_admin.redis_pool.SharedConnectionPool",
        },
    }
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # redis-py 8 reads with a 5 s socket timeout by default, the same 5 s channels_redis blocks
        # in BZPOPMIN: an idle websocket then died with a TimeoutError (close 1011, traceback). A
        # longer read timeout lets the pop answer first and still notices a dead Redis.
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15}], "prefix": "backbone:ws", "capacity": 1000},
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CLUSTER_HEALTH_INTERVAL = env.float("CLUSTER_HEALTH_INTERVAL", default=15.0)
RETENTION_DRIFT_INTERVAL = env.float("RETENTION_DRIFT_INTERVAL", default=300.0)
# Consumer groups: lag sampled by beat every LAG_SAMPLE_INTERVAL s, kept LAG_HISTORY_DAYS;
# the group list (lag of every group) is cached GROUPS_CACHE_TTL s.
# Task modules outside an app's tasks.py (autodiscovery finds only those): groups, jobs.
CELERY_IMPORTS = ["topics.groups.tasks", "streams.jobs.tasks"]
LAG_SAMPLE_INTERVAL = env.float("LAG_SAMPLE_INTERVAL", default=30.0)
LAG_HISTORY_DAYS = env.float("LAG_HISTORY_DAYS", default=7.0)
# Throughput: every topic's end offsets sampled every THROUGHPUT_SAMPLE_INTERVAL s (kept LAG_HISTORY_DAYS).
THROUGHPUT_SAMPLE_INTERVAL = env.float("THROUGHPUT_SAMPLE_INTERVAL", default=30.0)
GROUPS_CACHE_TTL = env.float("GROUPS_CACHE_TTL", default=10.0)

# The demo (streams/demo*.py): the producer's bursts (every DEMO_BURST_INTERVAL s, DEMO_BURST_EVENTS
# events per topic), the `analytics` service's capped rate (events/s), `invoicing`'s stay in its
# group and absence from it (s).
DEMO_BURST_INTERVAL = env.float("DEMO_BURST_INTERVAL", default=180.0)
DEMO_BURST_EVENTS = env.int("DEMO_BURST_EVENTS", default=400)
DEMO_ANALYTICS_RATE = env.float("DEMO_ANALYTICS_RATE", default=20.0)
DEMO_INVOICING_RUN = env.float("DEMO_INVOICING_RUN", default=180.0)
DEMO_INVOICING_PAUSE = env.float("DEMO_INVOICING_PAUSE", default=120.0)

# Prometheus endpoint /metrics (backbone_admin/metrics): no login; a scrape needs the bearer token
# METRICS_TOKEN (or METRICS_TOKEN_FILE) or a client address in METRICS_ALLOWED_NETWORKS (comma-separated
# CIDRs; empty: none). The address is REMOTE_ADDR: with BEHIND_PROXY=1 the image's Daphne sets it from
# the proxy's X-Forwarded-For. Request latency is counted by every web process in its own file under
# PROMETHEUS_MULTIPROC_DIR (prometheus_client reads that variable; one directory per machine, shared by
# its web processes: backbone_admin/metrics/middleware.py says why).
METRICS_TOKEN = env_secret("METRICS_TOKEN", default="") or ""
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.1/32", "::1/128"])
for _network in filter(str.strip, METRICS_ALLOWED_NETWORKS):
    try:
        ip_network(_network.strip(), strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(
            f"METRICS_ALLOWED_NETWORKS: {_network!r} is not an address or a CIDR network (e.g. 10.0.0.0/8, ::1/128)."
        ) from _exc
PROMETHEUS_MULTIPROC_DIR = env.str(
    "PROMETHEUS_MULTIPROC_DIR", default=str(Path(env.str("BACKBONE_RUN_DIR", default=str(VAR_DIR))) / "metrics")
)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = PROMETHEUS_MULTIPROC_DIR  # before prometheus_client is imported
# What a scrape reads, per source; each lives in the app whose tables it reads (imports run one way).
METRICS_SOURCES = {
    "clusters": "backbone_admin.metrics.health.clusters",
    "lag": "topics.metrics.lag",
    "throughput": "topics.metrics.throughput",
    "jobs": "streams.jobs.metrics.jobs",
}

# Kafka: a clusters file, or one cluster `local` at KAFKA_BOOTSTRAP_SERVERS.
KAFKA_BOOTSTRAP_SERVERS = env.str("KAFKA_BOOTSTRAP_SERVERS", default="127.0.0.1:9092")
BACKBONE_CLUSTERS_FILE = env.str("BACKBONE_CLUSTERS_FILE", default="")
# Directory groups → grants (YAML); empty = `permissions.yml` beside the clusters file, if any.
BACKBONE_PERMISSIONS_FILE = env.str("BACKBONE_PERMISSIONS_FILE", default="")
KAFKA_TIMEOUT = env.float("KAFKA_TIMEOUT", default=5.0)
DEFAULT_CLUSTER = env.str("DEFAULT_CLUSTER", default="")
METADATA_CACHE_TTL = env.float("METADATA_CACHE_TTL", default=10.0)
# Topics: the most partitions a topic may be created with or grown to from the console.
TOPIC_MAX_PARTITIONS = env.int("TOPIC_MAX_PARTITIONS", default=1000)
# Untrusted input: the longest pattern (topic search `re:`, policy patterns, filters) and the
# most topics one retention apply request may name; refreshes that bypass the shared caches
# are allowed once per user (per cluster) and once per cluster within these seconds.
PATTERN_MAX_LENGTH = env.int("PATTERN_MAX_LENGTH", default=200)
RETENTION_APPLY_MAX_TOPICS = env.int("RETENTION_APPLY_MAX_TOPICS", default=1000)
REFRESH_USER_INTERVAL = env.float("REFRESH_USER_INTERVAL", default=10.0)
REFRESH_CLUSTER_INTERVAL = env.float("REFRESH_CLUSTER_INTERVAL", default=2.0)
# Produce: the largest value (bytes) one produce request may send; keys and headers are capped alike.
PRODUCE_MAX_BYTES = env.int("PRODUCE_MAX_BYTES", default=1024 * 1024)
# Jobs (replays, exports): running jobs per user at most; export files kept EXPORT_DAYS in
# EXPORT_ROOT (checked every EXPORT_EXPIRY_INTERVAL s); a replay commits at least every
# JOBS_COMMIT_EVENTS events; a dead worker's partitions are taken over after JOBS_LEASE_SECONDS.
JOBS_MAX_RUNNING_PER_USER = env.int("JOBS_MAX_RUNNING_PER_USER", default=3)
JOBS_COMMIT_EVENTS = env.int("JOBS_COMMIT_EVENTS", default=50_000)
JOBS_LEASE_SECONDS = env.int("JOBS_LEASE_SECONDS", default=30)
# The Celery queue jobs run on: a worker started with `-Q jobs` keeps long replays away from health checks.
JOBS_QUEUE = env.str("JOBS_QUEUE", default="celery")
EXPORT_ROOT = env.str("EXPORT_ROOT", default=str(VAR_DIR / "exports"))
EXPORT_DAYS = env.int("EXPORT_DAYS", default=7)
EXPORT_EXPIRY_INTERVAL = env.float("EXPORT_EXPIRY_INTERVAL", default=3600.0)
# Export files (kept and being written) may take at most EXPORT_MAX_BYTES in all and
# EXPORT_MAX_BYTES_PER_USER per user, and leave EXPORT_MIN_FREE_BYTES free on their disk: checked
# before an export starts and while it writes (over it, the export fails and its parts are removed).
EXPORT_MAX_BYTES = env.int("EXPORT_MAX_BYTES", default=20 * 1024**3)
EXPORT_MAX_BYTES_PER_USER = env.int("EXPORT_MAX_BYTES_PER_USER", default=5 * 1024**3)
EXPORT_MIN_FREE_BYTES = env.int("EXPORT_MIN_FREE_BYTES", default=1024**3)
# Ask the broker to validate a create (validate_only) before doing it, as Apache Kafka allows.
# The embedded broker (Tansu) creates the topic on a validate-only request, so `make run` and
# the test suite turn this off when they start it.
KAFKA_VALIDATE_ONLY_FIRST = env.bool("KAFKA_VALIDATE_ONLY_FIRST", default=True)
# Live tail (streams/tail): a viewer asks for up to TAIL_MAX_RATE events/s (TAIL_DEFAULT_RATE
# when it does not say); over its rate it gets a fair sample and the count of the rest. Events
# are pushed at most every TAIL_BATCH_MS; a viewer's queue holds at most TAIL_QUEUE events and
# TAIL_QUEUE_BYTES of event JSON (the oldest go first, counted), and at most TAIL_IN_FLIGHT
# pushes wait for the browser's acknowledgement. Values are cut at TAIL_MAX_VALUE characters;
# the topic's partitions are re-read every TAIL_METADATA_INTERVAL seconds.
TAIL_MAX_RATE = env.int("TAIL_MAX_RATE", default=1000)
TAIL_DEFAULT_RATE = env.int("TAIL_DEFAULT_RATE", default=100)
TAIL_BATCH_MS = env.int("TAIL_BATCH_MS", default=100)
TAIL_QUEUE = env.int("TAIL_QUEUE", default=1000)
TAIL_QUEUE_BYTES = env.int("TAIL_QUEUE_BYTES", default=4 * 1024 * 1024)
TAIL_IN_FLIGHT = env.int("TAIL_IN_FLIGHT", default=4)
TAIL_MAX_VALUE = env.int("TAIL_MAX_VALUE", default=4096)
TAIL_METADATA_INTERVAL = env.float("TAIL_METADATA_INTERVAL", default=10.0)
# A user may have at most TAIL_MAX_PER_USER live tails open per web process; one more is closed
# with 4429 and the reason.
TAIL_MAX_PER_USER = env.int("TAIL_MAX_PER_USER", default=5)

# Message browser and search (streams/browse): pages of 1-500 events, BROWSE_DEFAULT_LIMIT unless
# asked; values longer than BROWSE_MAX_VALUE characters are cut in lists (whole in the detail).
# A search or key look-up scans within a budget of events, bytes and seconds: SEARCH_DEFAULT_*
# unless the request asks for more, at most SEARCH_MAX_*. In the API the scan runs inside the
# request, so its seconds are capped at SEARCH_API_MAX_SECONDS (keep it below the HTTP timeouts
# of your proxy); the page streams results over a websocket for up to SEARCH_MAX_SECONDS.
BROWSE_DEFAULT_LIMIT = env.int("BROWSE_DEFAULT_LIMIT", default=50)
BROWSE_MAX_VALUE = env.int("BROWSE_MAX_VALUE", default=2000)
# A page of events ends once they hold this many bytes (its first event always shown; 0: no bound).
BROWSE_MAX_PAGE_BYTES = env.int("BROWSE_MAX_PAGE_BYTES", default=8 * 1024 * 1024)
SEARCH_DEFAULT_EVENTS = env.int("SEARCH_DEFAULT_EVENTS", default=1_000_000)
SEARCH_MAX_EVENTS = env.int("SEARCH_MAX_EVENTS", default=100_000_000)
SEARCH_DEFAULT_BYTES = env.int("SEARCH_DEFAULT_BYTES", default=1024**3)
SEARCH_MAX_BYTES = env.int("SEARCH_MAX_BYTES", default=100 * 1024**3)
SEARCH_DEFAULT_SECONDS = env.float("SEARCH_DEFAULT_SECONDS", default=10.0)
SEARCH_MAX_SECONDS = env.float("SEARCH_MAX_SECONDS", default=300.0)
SEARCH_API_MAX_SECONDS = env.float("SEARCH_API_MAX_SECONDS", default=25.0)
# Search websockets: SEARCH_THREADS run at once per web process, at most SEARCH_MAX_PER_USER of one
# user's; the others wait (told their place) and start fairly across users (streams/browse/slots.py).
SEARCH_THREADS = env.int("SEARCH_THREADS", default=8)
SEARCH_MAX_PER_USER = env.int("SEARCH_MAX_PER_USER", default=2)
# Most topics one key timeline reads.
KEY_TIMELINE_MAX_TOPICS = env.int("KEY_TIMELINE_MAX_TOPICS", default=20)

# Checked by `backbone_user --password`, `ensure_admin` and Django's password forms.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The throttle backend refuses a locked-out login before the model backend checks the password.
AUTHENTICATION_BACKENDS = [
    "backbone_admin.logins.ThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login throttling (django-axes, on /login/ and the Django admin login): LOGIN_FAILURE_LIMIT
# failed logins for one username from one address lock that pair, LOGIN_USERNAME_FAILURE_LIMIT
# from any addresses lock the username (a guesser spread over many addresses), each for
# LOGIN_COOLOFF_MINUTES after the last failure. A successful login resets no counter.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_USERNAME_FAILURE_LIMIT = env.int("LOGIN_USERNAME_FAILURE_LIMIT", default=4 * LOGIN_FAILURE_LIMIT)
LOGIN_COOLOFF_MINUTES = env.int("LOGIN_COOLOFF_MINUTES", default=15)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "username"]
AXES_HANDLER = "backbone_admin.logins.ThrottleHandler"
AXES_LOCKOUT_CALLABLE = "backbone_admin.logins.locked_out"
AXES_RESET_ON_SUCCESS = False
AXES_DISABLE_ACCESS_LOG = True  # failures and lockouts go to the audit log
AXES_VERBOSE = False
# API tokens expire after this many days unless created with `create_api_token USER --days N`.
API_TOKEN_DAYS = env.int("API_TOKEN_DAYS", default=90)
LOGIN_URL = "login"
# OpenID Connect single sign-on (backbone_admin/sso/oidc.py), off while OIDC_ISSUER is empty. Endpoints
# come from <OIDC_ISSUER>/.well-known/openid-configuration; every call to the provider waits at most
# OIDC_TIMEOUT s; ID tokens may be OIDC_CLOCK_SKEW s past their expiry. BACKBONE_LOCAL_LOGIN=0 turns
# the username/password form off (and local passwords, in the Django admin too): SSO only.
OIDC_ISSUER = env.str("OIDC_ISSUER", default="").rstrip("/")
OIDC_CLIENT_ID = env.str("OIDC_CLIENT_ID", default="")
OIDC_CLIENT_SECRET = env_secret("OIDC_CLIENT_SECRET", default="") or ""
OIDC_SCOPES = env.str("OIDC_SCOPES", default="openid email profile")
OIDC_GROUPS_CLAIM = env.str("OIDC_GROUPS_CLAIM", default="groups")
OIDC_USERNAME_CLAIM = env.str("OIDC_USERNAME_CLAIM", default="preferred_username")
OIDC_DISPLAY_NAME = env.str("OIDC_DISPLAY_NAME", default="single sign-on")
OIDC_TIMEOUT = env.float("OIDC_TIMEOUT", default=5.0)
OIDC_CLOCK_SKEW = env.int("OIDC_CLOCK_SKEW", default=60)
BACKBONE_LOCAL_LOGIN = env.bool("BACKBONE_LOCAL_LOGIN", default=True)
if OIDC_ISSUER and not (OIDC_CLIENT_ID and OIDC_CLIENT_SECRET):
    raise ImproperlyConfigured(
        "OIDC_ISSUER is set: set OIDC_CLIENT_ID and OIDC_CLIENT_SECRET (or OIDC_CLIENT_SECRET_FILE) as registered "
        "for the console at the identity provider."
    )
if OIDC_ISSUER:
    AUTHENTICATION_BACKENDS.append("backbone_admin.sso.oidc.OIDCBackend")
if not BACKBONE_LOCAL_LOGIN:
    AUTHENTICATION_BACKENDS.remove("django.contrib.auth.backends.ModelBackend")
# LDAP sign-in through the login form (backbone_admin/sso/ldap.py), off while LDAP_SERVER_URI is empty
# (ldaps://host, or ldap://host with LDAP_START_TLS=1; the server's certificate is checked against
# LDAP_CA_FILE, or the system's CAs). Users are found under LDAP_USER_SEARCH_BASE with LDAP_USER_FILTER
# after binding as LDAP_BIND_DN; their groups' cn under LDAP_GROUP_SEARCH_BASE (groupOfNames, or
# LDAP_GROUP_TYPE=posixGroup) are recorded at each sign-in. A directory that does not answer within
# LDAP_TIMEOUT s fails the directory sign-in only: local accounts still sign in.
LDAP_SERVER_URI = env.str("LDAP_SERVER_URI", default="")
LDAP_BIND_DN = env.str("LDAP_BIND_DN", default="")
LDAP_BIND_PASSWORD = env_secret("LDAP_BIND_PASSWORD", default="") or ""
LDAP_USER_SEARCH_BASE = env.str("LDAP_USER_SEARCH_BASE", default="")
LDAP_USER_FILTER = env.str("LDAP_USER_FILTER", default="(uid=%(user)s)")
LDAP_GROUP_SEARCH_BASE = env.str("LDAP_GROUP_SEARCH_BASE", default="")
LDAP_GROUP_TYPE = env.str("LDAP_GROUP_TYPE", default="groupOfNames")
LDAP_START_TLS = env.bool("LDAP_START_TLS", default=False)
LDAP_CA_FILE = env.str("LDAP_CA_FILE", default="")
LDAP_TIMEOUT = env.float("LDAP_TIMEOUT", default=5.0)
if LDAP_SERVER_URI:
    if not LDAP_USER_SEARCH_BASE:
        raise ImproperlyConfigured("LDAP_SERVER_URI is set but LDAP_USER_SEARCH_BASE is not: say where users are.")
    if LDAP_GROUP_TYPE.lower() not in ("groupofnames", "posixgroup"):
        raise ImproperlyConfigured(f"LDAP_GROUP_TYPE={LDAP_GROUP_TYPE}: use groupOfNames or posixGroup.")
    if LDAP_CA_FILE and not Path(LDAP_CA_FILE).is_file():
        raise ImproperlyConfigured(f"LDAP_CA_FILE={LDAP_CA_FILE} is not a readable file: name the CA's PEM file.")
    AUTHENTICATION_BACKENDS.append("backbone_admin.sso.ldap.DirectoryBackend")
# Idle timeout: a session ends after this many seconds without a request. It is extended (saved
# with a fresh expiry) at most every SESSION_REFRESH_INTERVAL s by backbone_admin.sessions, not
# on every request, so an idle session ends up to that much earlier, never later.
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_TIMEOUT", default=8 * 3600)
SESSION_COOKIE_AGE = SESSION_IDLE_TIMEOUT
SESSION_REFRESH_INTERVAL = 60
SESSION_SAVE_EVERY_REQUEST = False
CSRF_FAILURE_VIEW = "backbone_admin.errors.csrf_failure"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
# Without collectstatic (a local run) WhiteNoise serves from the finders; the Docker
# image collects at build time and turns this off.
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "backbone_admin.api.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "backbone_admin.api.errors.exception_handler",
    # JSON bodies with a lone surrogate (`"\\ud800"`) are a 400 here, before any view (api/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "backbone_admin.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Backbone Console API",
    "DESCRIPTION": "Browse and operate a Kafka event backbone.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # One name for how a key or value was decoded (used by several event fields).
    "ENUM_NAME_OVERRIDES": {"EventEncodingEnum": ["json", "text", "base64", "avro", "null", "withheld"]},
    # Every operation documents its errors ({"error", "fields"}, 400/401/403/404/409/503).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "backbone_admin.api.schema.add_error_responses",
    ],
    # Swagger UI from our own static files: the console must work without internet access.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# Security. HTTPS=1 (the default unless DEBUG) turns on the TLS redirect, secure cookies
# and HSTS; a local plain-HTTP run (`make run`, the tests) sets HTTPS=0.
HTTPS = env.bool("HTTPS", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=HTTPS)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_PROXY", default=False) else None
# Probes and Prometheus scrape the pod's plain-HTTP port (TLS ends at the proxy): no redirect to https.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
# A strict Content-Security-Policy: scripts and styles only from our own static files, no inline
# code (pages use static/js/<page>.js and htmx attributes). /api/docs/ widens style-src for
# Swagger UI's own inline styles (backbone_admin/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

if OIDC_ISSUER:
    # Logging out (a form posted here) redirects to the provider's end_session_endpoint: browsers
    # hold form redirects to form-action, so the provider's origin is allowed there too.
    _issuer = urlsplit(OIDC_ISSUER)
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"].append(f"{_issuer.scheme}://{_issuer.netloc}")

DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2 * 1024 * 1024)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}
