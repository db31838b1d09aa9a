"""What a round's proof of training needs from the trusted setup: a provable plan, its circuit, and the outcomes
of waiting for the hospitals' ceremony (proofs.services runs it; docs/PROOFS.md).

Phase 1 is a prepared powers-of-tau file (settings.DH_PTAU_PATH: the public Hermez file in production; a file with
fewer than DH_PTAU_MIN_CONTRIBUTIONS contributions is refused). Phase 2 is made by the round's hospitals
themselves: the portal makes the initial zkey (no secret in it) and never contributes; each hospital's node
contributes on its own machine in turn (node.ceremony), the portal verifies every contribution, applies a beacon
nobody knew while contributing and verifies the whole chain before any round uses the key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crypto.zk import CircuitShape
from fl.models import get_architecture
from web.errors import InvalidInput

if TYPE_CHECKING:
    from rounds.models import Round

# Batch sizes whose circuit fits a 2^15 powers-of-tau file for two classes (4 steps of 8 per proof: 31,986
# constraints; 2 of 16); a larger batch needs a larger ptau and a slower setup.
PROVABLE_BATCH_SIZES = (8, 16)
ARTIFACTS = ("zkey", "wasm", "vkey")


class CeremonyError(Exception):
    """The round's proving key cannot be made; the message says why (the round fails with it)."""


class CeremonyWaiting(Exception):
    """The round's proving key is not ready yet (a hospital's contribution or the beacon's block is due): the
    round stays OPEN and its task tries again in retry_in seconds."""

    def __init__(self, message: str, retry_in: float):
        super().__init__(message)
        self.retry_in = retry_in


def check_provable(config: dict[str, Any]) -> None:
    """Refuses (400) a training configuration whose head steps the circuit cannot prove."""
    if config["loss"] != "mse_onehot":
        raise InvalidInput(
            "Proofs of training need the fixed-point head: set loss to mse_onehot (or plan the round without "
            "proofs)"
        )
    if config["batch_size"] not in PROVABLE_BATCH_SIZES:
        raise InvalidInput(
            f"batch_size {config['batch_size']} has no proving circuit: with proofs of training the batch size "
            f"must be one of {', '.join(map(str, PROVABLE_BATCH_SIZES))} (the circuit proves one batch per step)"
        )


def circuit_shape(round_: Round) -> CircuitShape:
    architecture = round_.base_model.architecture
    return CircuitShape.for_head(
        get_architecture(architecture.key).features,
        architecture.num_classes,
        int(round_.config["batch_size"]),
    )
