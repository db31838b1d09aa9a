"""Production refuses to start on development defaults (DH_ENV=production)."""

from django.core.exceptions import ImproperlyConfigured

from dhportal.settings.env import env_bool, env_int

from .base import DEBUG, DEVELOPMENT_SECRET_KEY, DH_CHAIN, DH_PROOFS, DH_PROTECTION, SECRET_KEY


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
