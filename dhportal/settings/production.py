"""Production refuses to start on development defaults (DH_ENV=production)."""

from django.core.exceptions import ImproperlyConfigured

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
