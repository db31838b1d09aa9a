"""How an update travels and is summed: the portal side of each scheme.

A scheme checks one uploaded blob (shape, size, parameters, key) and, at aggregation, turns the round's blobs
into the plain sum of the hospitals' weighted updates (sum n_h * delta_h). Nodes produce blobs with the
matching node-side code (node.protecting). "ckks" is the default; "plaintext" is the benchmark baseline.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from committee import decryption
from committee.errors import CommitteeError, DecryptionJobConflict, UploadRefusedByKeyParties
from committee.errors import DecryptionInProgress as DecryptionInProgressError
from committee.models import KeyCommittee
from committee.selectors import public_context, witness_keys
from crypto import ckks, plain
from crypto.decryption_job import JobTerms
from protocol.node_task import ProtectionMaterial
from web.errors import InvalidInput, InvalidUpload


class AggregationError(Exception):
    """The sum could not be computed or opened (a key party failed, a digest differed)."""


class KeyPartiesUnavailable(AggregationError):
    """A key party failed or did not answer: worth trying again later (the aggregation service retries)."""


class UploadRefused(AggregationError):
    """The key parties refused upload `upload` of the sum as not a well-formed encryption (the reason names the
    hospital): the round may go on without it."""

    def __init__(self, message: str, upload: int):
        super().__init__(message)
        self.upload = upload


class DecryptionInProgress(KeyPartiesUnavailable):
    """The key parties have the decryption job and nothing has failed: ask again in `retry_in` seconds."""

    def __init__(self, message: str, retry_in: float):
        super().__init__(message)
        self.retry_in = retry_in


class ProtectionScheme(Protocol):
    name: str

    def node_material(
        self, committee: KeyCommittee | None, norm_bound: float, dp_noise_std: float = 0.0
    ) -> ProtectionMaterial: ...

    def upload_bytes(self, expected_length: int) -> int:
        """The most bytes one hospital's update of `expected_length` values takes: the round's upload limit."""

    def check(
        self,
        committee: KeyCommittee | None,
        blob: bytes,
        expected_length: int,
        norm_bound: float | None = None,
    ) -> None:
        """Refuses (InvalidUpload) a malformed blob and, where the scheme lets the portal see the values, an
        update whose L2 norm exceeds norm_bound (the round plan's bound on n_h * delta_h)."""

    def sum_and_open(
        self,
        committee: KeyCommittee | None,
        job_name: str,
        blobs: list[bytes],
        expected_length: int,
        terms: JobTerms,
    ) -> np.ndarray:
        """The plain sum of `blobs`, the round's uploads as `terms` describes them (each one's signed upload)."""


class PlaintextScheme:
    name = "plaintext"

    def node_material(
        self, committee: KeyCommittee | None, norm_bound: float, dp_noise_std: float = 0.0
    ) -> ProtectionMaterial:
        return ProtectionMaterial(scheme=self.name, norm_bound=norm_bound)

    def upload_bytes(self, expected_length: int) -> int:
        return plain.HEADER.size + 8 * expected_length

    def check(
        self,
        committee: KeyCommittee | None,
        blob: bytes,
        expected_length: int,
        norm_bound: float | None = None,
    ) -> None:
        try:
            vector = plain.decode(blob, expected_length)
            if norm_bound is not None:
                plain.check_norm(vector, norm_bound)
        except plain.PlainUpdateError as exc:
            raise InvalidUpload(f"Update refused: {exc}") from None

    def sum_and_open(
        self,
        committee: KeyCommittee | None,
        job_name: str,
        blobs: list[bytes],
        expected_length: int,
        terms: JobTerms,
    ) -> np.ndarray:
        return np.sum([plain.decode(blob, expected_length) for blob in blobs], axis=0)


class CkksScheme:
    """CKKS under the committee's joint key: the portal checks and adds ciphertexts, never decrypts one."""

    name = "ckks"

    def node_material(
        self, committee: KeyCommittee | None, norm_bound: float, dp_noise_std: float = 0.0
    ) -> ProtectionMaterial:
        return ProtectionMaterial(
            scheme=self.name,
            key_id=committee.key_id,
            public_context_url=f"/api/committees/{committee.pk}/public-context/",
            witness_keys=witness_keys(committee),
            norm_bound=norm_bound,
            contributions_url=f"/api/committees/{committee.pk}/contributions/",
            dp_noise_std=dp_noise_std,
        )

    def upload_bytes(self, expected_length: int) -> int:
        return ckks.blob_size(expected_length)

    def check(
        self,
        committee: KeyCommittee | None,
        blob: bytes,
        expected_length: int,
        norm_bound: float | None = None,
    ) -> None:
        # norm_bound is not checked here: the portal cannot see an encrypted update's norm. The key parties
        # check it in MPC before opening the sum (crypto.wellformed), naming a hospital above it.
        try:
            parsed = ckks.parse_blob(
                public_context(committee), blob, expected_length, self.upload_bytes(expected_length)
            )
        except ckks.CiphertextError as exc:
            raise InvalidUpload(f"Encrypted update refused: {exc}") from None
        parties = committee.members.count()
        if parsed.witness is None or len(parsed.witness) != parties:
            # The key parties would refuse it: without a share of the randomness for each of them, nothing
            # shows the ciphertext is a well-formed encryption (crypto.wellformed).
            raise InvalidUpload(
                f"Encrypted update refused: it carries "
                f"{'no witness' if parsed.witness is None else f'witness shares for {len(parsed.witness)} key parties'}"
                f"; the committee has {parties} key parties, each needs its share of the encryption randomness "
                "(update the node software)"
            )

    def sum_and_open(
        self,
        committee: KeyCommittee | None,
        job_name: str,
        blobs: list[bytes],
        expected_length: int,
        terms: JobTerms,
    ) -> np.ndarray:
        # Never waits on the key parties: the job is theirs to pull; this raises until its sum is opened.
        try:
            return decryption.decrypt_sum(committee, job_name, blobs, expected_length, terms)
        except DecryptionInProgressError as exc:
            raise DecryptionInProgress(str(exc), exc.retry_in) from None
        except UploadRefusedByKeyParties as exc:
            raise UploadRefused(str(exc), exc.upload) from None
        except CommitteeError as exc:
            raise KeyPartiesUnavailable(str(exc)) from None
        except (ckks.CiphertextError, DecryptionJobConflict) as exc:
            raise AggregationError(str(exc)) from None


SCHEMES: dict[str, ProtectionScheme] = {"ckks": CkksScheme(), "plaintext": PlaintextScheme()}


def get(name: str) -> ProtectionScheme:
    scheme = SCHEMES.get(name)
    if scheme is None:
        raise InvalidInput(f"Unknown protection scheme {name!r}; choose one of {', '.join(sorted(SCHEMES))}")
    return scheme
