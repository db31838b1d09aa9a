"""Production refuses to start on development defaults (DH_ENV=production)."""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from crypto.zk.ptau import FormatError, hermez_hint, read_ptau
from dhportal.settings.env import env_bool, env_int, env_path

from .base import DATA_DIR, DEBUG, DEVELOPMENT_SECRET_KEY, DH_CHAIN, DH_PROOFS, DH_PROTECTION, SECRET_KEY


def refuse_unsafe_settings() -> None:
    if SECRET_KEY == DEVELOPMENT_SECRET_KEY or len(SECRET_KEY) < 32:
        raise ImproperlyConfigured("DH_SECRET_KEY must be set to a random value of at least 32 characters")
    if DEBUG:
        raise ImproperlyConfigured("DH_DEBUG must be false in production")
    if DH_PROTECTION != "ckks":
        raise ImproperlyConfigured(
            "DH_PROTECTION must be ckks in production: plaintext is a benchmark baseline"
        )
    if DH_PROOFS != "groth16":
        raise ImproperlyConfigured(
            "DH_PROOFS must be groth16 in production: updates must carry proofs of training"
        )
    if DH_CHAIN == "local":
        raise ImproperlyConfigured(
            "DH_CHAIN=local signs with hardhat's public dev keys: use DH_CHAIN=sepolia (or off) in production"
        )


refuse_unsafe_settings()

# Phase 1 of the trusted setup: never the single-contributor development file. Production's default is where the
# operator puts the public Hermez file (docs/PROOFS.md); a ceremony refuses a ptau with fewer than
# DH_PTAU_MIN_CONTRIBUTIONS contributions (proofs.services), and a configured file that has fewer is refused here.
DH_PTAU_PATH = env_path("DH_PTAU_PATH", DATA_DIR / "zk" / "powersOfTau28_hez_final_15.ptau")
DH_PTAU_MIN_CONTRIBUTIONS = env_int("DH_PTAU_MIN_CONTRIBUTIONS", 2)


def refuse_single_contributor_ptau(ptau: Path, minimum: int) -> None:
    if minimum < 2:
        raise ImproperlyConfigured(
            "DH_PTAU_MIN_CONTRIBUTIONS must be at least 2 in production: a powers-of-tau file made by one "
            "contributor lets that contributor forge proofs"
        )
    if not ptau.is_file():
        return  # a ceremony refuses to start without it, naming the file to download
    try:
        info = read_ptau(ptau)
    except (FormatError, OSError) as exc:
        raise ImproperlyConfigured(f"DH_PTAU_PATH={ptau} is not a powers-of-tau file ({exc})") from None
    if info.secret_contributions < minimum:
        raise ImproperlyConfigured(
            f"DH_PTAU_PATH={ptau} has {info.secret_contributions} contribution(s), fewer than "
            f"DH_PTAU_MIN_CONTRIBUTIONS={minimum}: whoever made it could forge proofs. Use the public Hermez file "
            f"of the same size instead, {hermez_hint(info.power)} (docs/PROOFS.md)"
        )


refuse_single_contributor_ptau(DH_PTAU_PATH, DH_PTAU_MIN_CONTRIBUTIONS)
# Not only the defaults: a plan that asks for plaintext protection or no proof of training is refused too
# (rounds.services.planning), so nobody downgrades one round's security through the API.
DH_REQUIRE_SECURE_ROUNDS = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True

# HTTPS behind a TLS-terminating reverse proxy (or load balancer). The proxy must set X-Forwarded-Proto on every
# request and strip any the client sent: only behind such a proxy may the portal trust the header, or a client
# could claim HTTPS over plain HTTP. Serving HTTPS without a proxy, the header is never set and nothing changes.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Plain-HTTP requests are redirected to HTTPS; DH_SSL_REDIRECT=false where the proxy already redirects. The
# health probes answer over plain HTTP too (a load balancer's probe speaks HTTP to the portal's port).
SECURE_SSL_REDIRECT = env_bool("DH_SSL_REDIRECT", True)
SECURE_REDIRECT_EXEMPT = [r"^health/"]
# Strict-Transport-Security: browsers use HTTPS only for this many seconds (0: no header). Subdomains and the
# preload list stay off: they bind other hosts of the domain, a decision for whoever owns it.
SECURE_HSTS_SECONDS = env_int("DH_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DH_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = False
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
