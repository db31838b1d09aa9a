"""Database sessions that ignore a session cookie which cannot be one of ours.

Django's own check only wants 8 characters, so a cookie holding a NUL byte reaches PostgreSQL, which refuses
it with an error: a 500 for any request carrying such a cookie. Our keys are Django's: 32 lowercase letters
and digits; anything else is no session at all.
"""

from __future__ import annotations

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore


class SessionStore(DatabaseSessionStore):
    def _validate_session_key(self, key: str | None) -> bool:
        return bool(super()._validate_session_key(key) and key.isascii() and key.isalnum())
