"""The node's REST client: every call the hospital side makes to the portal."""

from __future__ import annotations

import logging
import time
from typing import Any

import requests

from protocol.node_task import NodeTask, ProofChallenge, ProofCommitment
from protocol.upload import UPDATE_FIELD, Upload

TIMEOUT_SECONDS = 600
# A portal restarting or a proxy in between: connection errors and 5xx are tried again after these pauses.
# Safe for every call the node makes: reads, and an upload the portal refuses to count twice (409).
RETRY_DELAYS_SECONDS = (1, 2, 4, 8)
log = logging.getLogger(__name__)


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

    def _send(self, method: str, path: str, **kwargs) -> requests.Response:
        """The request, tried again after each of RETRY_DELAYS_SECONDS on a connection error or a 5xx."""
        url = self.base_url + path
        for delay in RETRY_DELAYS_SECONDS:
            try:
                response = self.session.request(method, url, timeout=TIMEOUT_SECONDS, **kwargs)
                if response.status_code < 500:
                    return self._check(response)
                problem = f"portal answered {response.status_code}"
            except (requests.ConnectionError, requests.Timeout) as exc:
                problem = type(exc).__name__
            log.warning("%s %s: %s; trying again in %s s", method, path, problem, delay)
            time.sleep(delay)
        return self._check(self.session.request(method, url, timeout=TIMEOUT_SECONDS, **kwargs))

    def get_json(self, path: str) -> Any:
        return self._send("GET", path).json()

    def get_bytes(self, path: str) -> bytes:
        return self._send("GET", path).content

    def post_json(self, path: str, body: dict[str, Any]) -> Any:
        return self._send("POST", path, json=body).json()

    def round_task(self, round_id: int) -> NodeTask:
        """The round's task, parsed: ProtocolError names a bad field, UnsupportedVersion says what to update."""
        return NodeTask.from_json(self.get_json(f"/api/node/rounds/{round_id}/"))

    def commit_run(
        self, commit_url: str, merkle_root: int, num_steps: int, num_samples: int
    ) -> ProofChallenge:
        """Commits to the training run (its Merkle root, step count and sample count) before proving; the
        portal answers with the challenge to prove under."""
        commitment = ProofCommitment(
            merkle_root=str(merkle_root), num_steps=num_steps, num_samples=num_samples
        )
        answer = self.post_json(commit_url, commitment.to_json())
        return ProofChallenge.from_json(answer)

    def upload(self, round_id: int, blob: bytes, upload: Upload) -> dict[str, Any]:
        """The update blob with its form fields (with a proof of training, the bundle and the head it proves);
        returns the portal's record of the submission."""
        return self._send(
            "POST",
            f"/api/node/rounds/{round_id}/submission/",
            data=upload.form_fields(),
            files={UPDATE_FIELD: ("update.bin", blob, "application/octet-stream")},
        ).json()
