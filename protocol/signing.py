"""What a hospital's node signs with its own signing key, and how anyone checks it (EIP-191 personal messages
over secp256k1, eth_account): the portal when it stores an upload, later the key parties and auditors, against
the signing address the node registered at enrollment — so a submission cannot be made up in a hospital's name
by whoever runs the portal's database."""

from __future__ import annotations

from eth_account import Account
from eth_account.messages import encode_defunct
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
    return account.sign_message(encode_defunct(text=text)).signature.to_0x_hex()


def signer_of(text: str, signature: str) -> str | None:
    """The address whose key made `signature` over `text`; None for a signature that is not one."""
    try:
        return Account.recover_message(encode_defunct(text=text), signature=signature)
    except (ValueError, TypeError):
        return None
