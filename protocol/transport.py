"""The REST transport every party outside the portal uses (hospital nodes, key parties): token authentication,
TLS with certificate verification (a private CA file for private deployments), and retries of what a restarting
portal or proxy answers.

Only the portal's REST API is reached: no broker, no database.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import requests

TIMEOUT_SECONDS = 600
# A portal restarting or a proxy in between: connection errors and 5xx are tried again after these pauses.
# Safe for every call a party makes: reads, and writes the portal refuses to count twice (409).
RETRY_DELAYS_SECONDS = (1, 2, 4, 8)
log = logging.getLogger(__name__)


class PortalError(Exception):
    """The portal refused a request (4xx) or kept failing (5xx); the message carries the portal's reason."""

    def __init__(self, status: int, detail: str):
        super().__init__(f"portal answered {status}: {detail}")
        self.status = status
        self.detail = detail


class PortalSession:
    """Requests to one portal with one token. `ca_file`: a PEM bundle to verify the portal's certificate
    against instead of the system's (a private CA); certificates are always verified."""

    def __init__(self, base_url: str, token: str = "", ca_file: str = ""):
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Token {token}"
        # Passed with every request: a session's own `verify` loses to REQUESTS_CA_BUNDLE in the environment.
        self.verify: str | bool = ca_file or True

    def _check(self, response: requests.Response) -> requests.Response:
        if response.status_code >= 400:
            try:
                body = response.json()
                detail = body.get("detail", response.text)
                if isinstance(body.get("fields"), dict):  # which fields, and why (web/api_errors.py)
                    detail += " " + "; ".join(f"{name}: {reason}" for name, reason in body["fields"].items())
            except (ValueError, AttributeError):
                detail = response.text[:300]
            raise PortalError(response.status_code, detail)
        return response

    def send(self, method: str, path: str, **kwargs) -> requests.Response:
        """The request, tried again after each of RETRY_DELAYS_SECONDS on a connection error or a 5xx."""
        url = self.base_url + path
        kwargs.setdefault("verify", self.verify)
        for delay in RETRY_DELAYS_SECONDS:
            try:
                response = self.session.request(method, url, timeout=TIMEOUT_SECONDS, **kwargs)
                if response.status_code < 500:
                    return self._check(response)
                problem = f"portal answered {response.status_code}"
            except requests.exceptions.SSLError:
                raise  # a certificate that does not verify will not verify on a second try
            except (requests.ConnectionError, requests.Timeout) as exc:
                problem = type(exc).__name__
            log.warning("%s %s: %s; trying again in %s s", method, path, problem, delay)
            time.sleep(delay)
        return self._check(self.session.request(method, url, timeout=TIMEOUT_SECONDS, **kwargs))

    def get_json(self, path: str, **params: Any) -> Any:
        return self.send("GET", path, params=params or None).json()

    def get_bytes(self, path: str) -> bytes:
        return self.send("GET", path).content

    def post_json(self, path: str, body: dict[str, Any]) -> Any:
        response = self.send("POST", path, json=body)
        return None if response.status_code == 204 else response.json()
