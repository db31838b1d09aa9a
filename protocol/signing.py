"""What a hospital's node signs with its own signing key, and how anyone checks it (EIP-191 personal messages
over secp256k1): the portal when it stores an upload, later the key parties and auditors, against
the signing address the node registered at enrollment — so a submission cannot be made up in a hospital's name
by whoever runs the portal's database."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eth_keys import keys
from eth_keys.exceptions import BadSignature
from eth_utils import keccak

if TYPE_CHECKING:  # eth_account takes a second to import: the key parties only check signatures
    from eth_account.signers.local import LocalAccount

UPLOAD_DOMAIN = "decentrahealth/upload/v1"


def upload_statement(
    round_id: int, update_sha256: str, num_samples: int, norm_bound: float, dp_noise_std: float = 0.0
) -> str:
    """The text a node signs for its upload: the round, the SHA-256 of its update blob, its sample count, the
    round plan's bound on its update's norm and, with differential privacy, the std of the noise the opened sum
    must carry (so the key parties enforce no other bound and add no less noise than every hospital of the sum
    signed for)."""
    statement = (
        f"{UPLOAD_DOMAIN}|round {round_id}|update {update_sha256}|samples {num_samples}|"
        f"norm bound {float(norm_bound)!r}"
    )
    return statement + (f"|dp noise std {float(dp_noise_std)!r}" if dp_noise_std > 0 else "")


def sign_text(account: LocalAccount, text: str) -> str:
    from eth_account.messages import encode_defunct

    return account.sign_message(encode_defunct(text=text)).signature.to_0x_hex()


def _personal_message_hash(text: str) -> bytes:
    """EIP-191 version 0x45, as eth_account's encode_defunct signs it."""
    message = text.encode()
    return keccak(b"\x19Ethereum Signed Message:\n" + str(len(message)).encode() + message)


def signer_of(text: str, signature: str) -> str | None:
    """The address whose key made `signature` over `text`; None for a signature that is not one."""
    try:
        raw = bytes.fromhex(signature.removeprefix("0x"))
        if len(raw) != 65 or raw[64] not in (27, 28):
            return None
        vrs = (raw[64] - 27, int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"))
        public_key = keys.Signature(vrs=vrs).recover_public_key_from_msg_hash(_personal_message_hash(text))
    except (ValueError, TypeError, BadSignature):
        return None
    return public_key.to_checksum_address()
