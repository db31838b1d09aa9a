"""The node's REST client: every call the hospital side makes to the portal."""

from __future__ import annotations

import json
from typing import Any

import requests

TIMEOUT_SECONDS = 600


class PortalError(Exception):
    def __init__(self, status: int, detail: str):
        super().__init__(f"portal answered {status}: {detail}")
        self.status = status
        self.detail = detail


class PortalClient:
    def __init__(self, base_url: str, token: str):
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"

    def _check(self, response: requests.Response) -> requests.Response:
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text[:300]
            raise PortalError(response.status_code, detail)
        return response

    def get_json(self, path: str) -> Any:
        return self._check(self.session.get(self.base_url + path, timeout=TIMEOUT_SECONDS)).json()

    def get_bytes(self, path: str) -> bytes:
        return self._check(self.session.get(self.base_url + path, timeout=TIMEOUT_SECONDS)).content

    def round_task(self, round_id: int) -> dict[str, Any]:
        return self.get_json(f"/api/node/rounds/{round_id}/")

    def upload(
        self, round_id: int, blob: bytes, num_samples: int, metrics: dict, proof: dict | None
    ) -> dict[str, Any]:
        data = {"num_samples": str(num_samples), "metrics": json.dumps(metrics)}
        if proof is not None:
            data["proof"] = json.dumps(proof)
        response = self.session.post(
            f"{self.base_url}/api/node/rounds/{round_id}/submission/",
            data=data,
            files={"update": ("update.bin", blob, "application/octet-stream")},
            timeout=TIMEOUT_SECONDS,
        )
        return self._check(response).json()
