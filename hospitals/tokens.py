"""Bearer tokens: random, shown once, stored as a SHA-256 hash, compared in constant time.

A token is "<prefix>.<secret>": the prefix (not secret) finds the row, the hash of the whole token is compared
with hmac.compare_digest. SHA-256 is enough here because the token has 256 bits of entropy (no password).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class IssuedToken:
    prefix: str
    plaintext: str
    digest: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(kind: str) -> IssuedToken:
    prefix = f"{kind}_{secrets.token_hex(4)}"
    plaintext = f"{prefix}.{secrets.token_urlsafe(32)}"
    return IssuedToken(prefix=prefix, plaintext=plaintext, digest=hash_token(plaintext))


TOKEN_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def split_prefix(token: str) -> str | None:
    """The prefix of a well-formed token, None for anything else (never looked up)."""
    if not 0 < len(token) <= 200 or not TOKEN_ALPHABET.issuperset(token):
        return None
    prefix, dot, _ = token.partition(".")
    return prefix if dot and prefix else None


def token_matches(token: str, digest: str) -> bool:
    return hmac.compare_digest(hash_token(token), digest)
