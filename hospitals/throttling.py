"""Password guessing: failed logins counted per username and client address, then 429 with Retry-After.

Only failures count (a person who logs in many times is never throttled), keyed by the username tried and the
client's address (REMOTE_ADDR, or X-Forwarded-For as DRF reads it with NUM_PROXIES), so another user, or the
same user from elsewhere, is not locked out by someone guessing. Once a key has DH_LOGIN_RATE failures in the
window (default "10/min"), every attempt with it, right password included, gets 429 until the oldest failure
leaves the window. The counts live in Django's default cache (in-memory, per process by default).
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class FailedLoginThrottle(SimpleRateThrottle):
    scope = "login"

    def get_rate(self) -> str:
        return settings.DH_LOGIN_RATE  # read per request: tests and deployments set it without a restart

    def get_cache_key(self, request, view=None) -> str:
        data = request.data
        username = data.get("username") if hasattr(data, "get") else None
        username = username.lower()[:150] if isinstance(username, str) else ""
        who = hashlib.sha256(f"{self.get_ident(request)}\n{username}".encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": who}

    def allow_request(self, request, view) -> bool:
        """Refuses once the key has its quota of failures in the window; records nothing itself."""
        self.key = self.get_cache_key(request, view)
        self.now = self.timer()
        self.history = [when for when in self.cache.get(self.key, []) if when > self.now - self.duration]
        if len(self.history) >= self.num_requests:
            return self.throttle_failure()
        return True

    def record_failure(self, request) -> None:
        key = self.get_cache_key(request)
        now = self.timer()
        history = [when for when in self.cache.get(key, []) if when > now - self.duration]
        self.cache.set(key, [now, *history], self.duration)


class FailedEnrollmentThrottle(FailedLoginThrottle):
    """Guessing enrollment codes: failures counted per client address alone (there is no username)."""

    scope = "enroll"

    def get_cache_key(self, request, view=None) -> str:
        who = hashlib.sha256(f"{self.get_ident(request)}".encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": who}


def record_failed_enrollment(request) -> None:
    FailedEnrollmentThrottle().record_failure(request)


def record_failed_login(request) -> None:
    FailedLoginThrottle().record_failure(request)
