"""Upload signatures: made with eth_account as a node does, checked with eth_keys as the key parties do."""

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from protocol import signing

pytestmark = pytest.mark.unit


def test_the_signer_of_a_personal_message_is_the_address_eth_account_recovers() -> None:
    account = Account.create()
    for text in (signing.upload_statement(3, "ab" * 32, 1570, 4000.0), "ünïcode ✓", ""):
        signature = signing.sign_text(account, text)
        assert signing.signer_of(text, signature) == account.address
        assert Account.recover_message(encode_defunct(text=text), signature=signature) == account.address
        # The same signature over other text recovers some other address, never the signer's.
        assert signing.signer_of(text + ".", signature) not in (None, account.address)


def test_what_is_not_a_signature_has_no_signer() -> None:
    signature = signing.sign_text(Account.create(), "text")
    for malformed in ("", "0x", "0x00", signature[:-2], "zz" * 65, "0x" + "00" * 65, signature[:-2] + "1d"):
        assert signing.signer_of("text", malformed) is None
