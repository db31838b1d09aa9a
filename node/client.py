"""The node's REST client: every call the hospital side makes to the portal."""

from __future__ import annotations

from typing import Any

from protocol.node_task import NodeTask, ProofChallenge, ProofCommitment
from protocol.transport import PortalError, PortalSession
from protocol.upload import UPDATE_FIELD, Upload

__all__ = ["PortalClient", "PortalError"]


class PortalClient(PortalSession):
    """A hospital node's calls to the portal."""

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
        return self.send(
            "POST",
            f"/api/node/rounds/{round_id}/submission/",
            data=upload.form_fields(),
            files={UPDATE_FIELD: ("update.bin", blob, "application/octet-stream")},
        ).json()
