"""A key party's calls to the portal's REST API, on protocol.transport's session (token, TLS, retries)."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

from protocol.transport import PortalError, PortalSession

__all__ = ["KeyPartyClient", "PortalError"]


class KeyPartyClient(PortalSession):
    def enroll(self, code: str, address: str, certificate: str) -> dict[str, Any]:
        return self.post_json(
            "/api/keyparty/enroll/", {"code": code, "address": address, "certificate": certificate}
        )

    def work(self) -> dict[str, Any]:
        return self.get_json("/api/keyparty/work/")

    def commit(self, committee: int, commitment: str) -> dict[str, Any]:
        return self.post_json(f"/api/keyparty/keygen/{committee}/commitment/", {"commitment": commitment})

    def contribute(self, committee: int, contribution: bytes) -> dict[str, Any]:
        response = self.send(
            "POST",
            f"/api/keyparty/keygen/{committee}/contribution/",
            data=contribution,
            headers={"Content-Type": "application/octet-stream"},
        )
        return response.json()

    def job(self, job_id: int) -> dict[str, Any]:
        return self.get_json(f"/api/keyparty/jobs/{job_id}/")

    def job_blob(self, job_id: int, number: int) -> bytes:
        return self.get_bytes(f"/api/keyparty/jobs/{job_id}/blobs/{number}/")

    def job_context(self, job_id: int) -> bytes:
        return self.get_bytes(f"/api/keyparty/jobs/{job_id}/context/")

    def post_result(
        self, job_id: int, attempt: int, vector: np.ndarray, report: dict[str, Any]
    ) -> dict[str, Any]:
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(vector, dtype=np.float64), allow_pickle=False)
        response = self.send(
            "POST",
            f"/api/keyparty/jobs/{job_id}/result/",
            data={"attempt": str(attempt), "report": json.dumps(report)},
            files={"vector": ("result.npy", buffer.getvalue(), "application/octet-stream")},
        )
        return response.json()

    def post_failure(
        self, job_id: int, attempt: int, reason: str, refused_upload: int | None = None
    ) -> dict[str, Any]:
        """Reports a failed attempt; `refused_upload`: the upload this party found not well formed, if that
        was the reason (the portal then leaves it out of a new job)."""
        body: dict[str, Any] = {"attempt": attempt, "reason": reason[:500]}
        if refused_upload is not None:
            body["refused_upload"] = refused_upload
        return self.post_json(f"/api/keyparty/jobs/{job_id}/failed/", body)
