"""Settings read from the environment. With no environment at all: SQLite, eager Celery, in-memory channels."""

from __future__ import annotations

import re
from pathlib import Path

import dj_database_url

from dhportal.settings.env import env_bool, env_int, env_list, env_path, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DATA_DIR = env_path("DH_DATA_DIR", BASE_DIR / "var")
SHARED_DIR = env_path("DH_SHARED_DIR", BASE_DIR.parent / "shared")
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEVELOPMENT_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"
SECRET_KEY = env_str("DH_SECRET_KEY", DEVELOPMENT_SECRET_KEY)
DEBUG = env_bool("DH_DEBUG", True)
ALLOWED_HOSTS = env_list("DH_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DH_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from here (/api/docs/ works offline)
    "channels",
    "hospitals",
    "events",
    "registry",
    "committee",
    "proofs",
    "ledger",
    "rounds",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "web.csp.ContentSecurityPolicyMiddleware",  # Content-Security-Policy on every response (web/csp.py)
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "dhportal.urls"
ASGI_APPLICATION = "dhportal.asgi.application"
WSGI_APPLICATION = None

FRONTEND_DIST = env_path("DH_FRONTEND_DIST", BASE_DIR / "frontend" / "dist")

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'portal.sqlite3'}"), conn_max_age=0
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The demo's HTTP server, its tasks and its nodes' requests share the file; wait for a lock rather than fail.
    # IMMEDIATE: a transaction takes the write lock when it begins, so one that read first and writes later
    # waits for the lock (up to the timeout) instead of failing at once with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(timeout=60, transaction_mode="IMMEDIATE")

AUTH_USER_MODEL = "hospitals.User"
SESSION_ENGINE = "web.sessions"  # database sessions that ignore malformed cookies
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "hospitals.authentication.TokenAuthentication",
        "committee.authentication.KeyPartyTokenAuthentication",  # "keyparty_..." tokens of key parties
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON bodies only; the update upload declares its own multipart parser.
    "DEFAULT_PARSER_CLASSES": ["web.json_depth.DepthLimitedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "web.api_errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": None,
}
# Logging in and issuing API tokens: this many failed attempts per username and client address, then 429 until
# the window passes (hospitals/throttling.py). Counted in CACHES["default"]: per process with the default
# in-memory cache, so with N server processes a client may try up to N times as often.
# Hours an enrollment code (hospital node or key party) stays valid; used once.
DH_ENROLLMENT_CODE_HOURS = env_int("DH_ENROLLMENT_CODE_HOURS", 72)
# Seconds a node (`dh-node run`) waits between two polls of its work when there is none.
DH_NODE_POLL_SECONDS = env_int("DH_NODE_POLL_SECONDS", 5)
DH_LOGIN_RATE = env_str("DH_LOGIN_RATE", "10/min")
if not re.fullmatch(r"[1-9][0-9]*/(s|sec|m|min|h|hour|d|day)", DH_LOGIN_RATE):
    raise ValueError(f"DH_LOGIN_RATE={DH_LOGIN_RATE!r}: use <count>/<s|min|hour|day>, e.g. 10/min")
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "dhportal"}}
SPECTACULAR_SETTINGS = {
    "TITLE": "DecentraHealth portal API",
    "DESCRIPTION": "Federated rounds with encrypted updates, proofs of training and an on-chain audit trail.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # /api/docs/ (Swagger UI) from drf-spectacular-sidecar's files, not a CDN
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "web.api_errors.declare_error_responses",
    ],
}

# Redis switches Celery and Channels from in-process to the real services.
REDIS_URL = env_str("REDIS_URL")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "portal"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task whose worker died (acks_late) goes back to its queue after this many seconds (Redis); it must be
# longer than the longest task, or a slow task runs twice (harmless: tasks are idempotent, but wasted work).
DH_CELERY_VISIBILITY_TIMEOUT = env_int("DH_CELERY_VISIBILITY_TIMEOUT", 3600)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": DH_CELERY_VISIBILITY_TIMEOUT,
    # How often a worker looks for such tasks: kombu's default (every 10 x 10 s) for long timeouts.
    "unacked_restore_interval": min(10, max(1, DH_CELERY_VISIBILITY_TIMEOUT // 4)),
    "unacked_restore_throttle": 1 if DH_CELERY_VISIBILITY_TIMEOUT < 600 else 10,
}
# Sending a task while the broker restarts: keep trying for about 35 s before the request fails (longer outages
# are covered by the deadline sweep, which sends lost triggers again).
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 10,
    "interval_start": 0,
    "interval_step": 1,
    "interval_max": 5,
}
# Celery beat (`celery -A dhportal beat`, or `worker -B`) sends the deadline sweep this often: rounds past their
# deadline aggregate or fail, and triggers lost while the broker was down are sent again.
DH_DEADLINE_SWEEP_SECONDS = env_int("DH_DEADLINE_SWEEP_SECONDS", 30)
CELERY_BEAT_SCHEDULE = {
    "sweep-deadlines": {
        "task": "rounds.sweep_deadlines",
        "schedule": DH_DEADLINE_SWEEP_SECONDS,
        "options": {"queue": "portal", "expires": DH_DEADLINE_SWEEP_SECONDS},
    }
}

CHANNEL_LAYERS = {
    "default": (
        {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}
        if REDIS_URL
        else {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    )
}

# Uploads: refused past this size before being read whole. A round's own limit is what its model's update takes
# (rounds.selectors.update_size_limit: about 49 bytes per parameter under CKKS, so 256 MiB holds 5.4M
# parameters); a round whose model needs more than this is refused when planned.
DH_MAX_UPLOAD_BYTES = env_int("DH_MAX_UPLOAD_BYTES", 256 * 1024 * 1024)
# Readiness (/health/ready/, web/health.py): the blob store's disk (DATA_DIR) must have this much free space.
DH_MIN_FREE_DISK_BYTES = env_int("DH_MIN_FREE_DISK_BYTES", 1024 * 1024 * 1024)
# /metrics (rounds/metrics.py): the bearer token the operator's Prometheus sends; unset, /metrics answers 404.
DH_METRICS_TOKEN = env_str("DH_METRICS_TOKEN")
# An upload's form fields: a proof bundle with every step proven takes about 1.6 kB a step.
DATA_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

# Aggregation: "ckks" (threshold-decrypted CKKS, the default) or "plaintext" (benchmark baseline only).
DH_PROTECTION = env_str("DH_PROTECTION", "ckks")
# Threshold decryption by the key parties (`dh-keyparty serve` on their own hosts; the portal holds no share):
# how long a round waits for a key party that is down, counted from the first failure (DH_DECRYPTION_TIMEOUT),
# and how long one attempt of a decryption job may take before the next one starts; a job is given up
# DH_DECRYPTION_TIMEOUT + DH_DECRYPTION_ATTEMPT_SECONDS after it was made.
DH_DECRYPTION_TIMEOUT = env_int("DH_DECRYPTION_TIMEOUT", 600)
DH_DECRYPTION_ATTEMPT_SECONDS = env_int("DH_DECRYPTION_ATTEMPT_SECONDS", 300)
# Seconds a key party's service waits between two polls of its work when there is none.
DH_KEYPARTY_POLL_SECONDS = env_int("DH_KEYPARTY_POLL_SECONDS", 2)
# Proof of training: "groth16" (every submission carries a zero-knowledge proof of its head's SGD steps, checked
# before it counts) or "none" (only for tests of unrelated things). Stored on each round when it is planned.
DH_PROOFS = env_str("DH_PROOFS", "groth16")
# Refuse plans that ask for plaintext protection or no proofs (on in production: dhportal/settings/production.py).
DH_REQUIRE_SECURE_ROUNDS = False
# Phase 1 of the Groth16 trusted setup: a prepared powers-of-tau file of at least 2^15. In production use the
# public Hermez file powersOfTau28_hez_final_15.ptau (docs/PROOFS.md); the default is a dev file with a single
# contributor, fine for the demo and tests only.
DH_PTAU_PATH = env_path("DH_PTAU_PATH", SHARED_DIR / "zk" / "pot15_dev_final.ptau")
# A ceremony refuses a ptau whose phase 1 had fewer contributors (at least 2 in production: production.py).
DH_PTAU_MIN_CONTRIBUTIONS = env_int("DH_PTAU_MIN_CONTRIBUTIONS", 1)
# Seconds a round with proofs waits in OPEN for its hospitals' phase-2 contributions (and the beacon's block)
# before it fails naming the hospital whose contribution is missing (proofs.services).
DH_CEREMONY_TIMEOUT = env_int("DH_CEREMONY_TIMEOUT", 3600)
# Coordinator-held validation data for the global model (MedMNIST .npz); empty disables global validation.
DH_VALIDATION_DATA = env_str("DH_VALIDATION_DATA", "")
# Every round recorded on an Ethereum chain (docs in rounds/chain.py): "local" (a hardhat dev node at
# DH_CHAIN_RPC_URL; the demo and tests start their own, `manage.py localchain` runs one on port 8545; the
# coordinator is hardhat's dev account 0; the hospitals' nodes sign with their own keys), "sepolia" (DH_CHAIN_RPC_URL and the coordinator's DH_CHAIN_PRIVATE_KEY
# from the environment; the key is read where it is used and never kept in settings), or "off".
DH_CHAIN = env_str("DH_CHAIN", "local")
if DH_CHAIN not in ("local", "sepolia", "off"):
    raise ValueError(f"DH_CHAIN={DH_CHAIN!r}: use local, sepolia or off")
DH_CHAIN_RPC_URL = env_str("DH_CHAIN_RPC_URL", "http://127.0.0.1:8545" if DH_CHAIN == "local" else "")
DH_CHAIN_ID = env_int("DH_CHAIN_ID", 31337 if DH_CHAIN == "local" else 11155111)
# The chain endpoint the hospitals' nodes send their own submissions to, told to each node at enrollment
# (with DH_CHAIN=local, default DH_CHAIN_RPC_URL: right when the nodes reach the chain where the portal does).
# On a public chain there is no default: the portal's own endpoint may carry its provider's API key, and each
# hospital may use its own (dh-node enroll --chain-rpc).
DH_CHAIN_PUBLIC_RPC_URL = env_str("DH_CHAIN_PUBLIC_RPC_URL", DH_CHAIN_RPC_URL if DH_CHAIN == "local" else "")

# DH_LOG_FORMAT: "plain" (one line of text per record) or "json" (one JSON object per line, web/log_format.py).
DH_LOG_FORMAT = env_str("DH_LOG_FORMAT", "plain")
if DH_LOG_FORMAT not in ("plain", "json"):
    raise ValueError(f"DH_LOG_FORMAT={DH_LOG_FORMAT!r}: use plain or json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "web.log_format.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": DH_LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env_str("DH_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "daphne": {"level": "WARNING"},
    },
}
