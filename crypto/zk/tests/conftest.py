"""The dev ceremony's key (crypto.zk.dev) for the proof-of-training tests, made once and cached."""

from __future__ import annotations

import pytest

from conftest import shared_file
from crypto.zk.dev import dev_proving_key


@pytest.fixture(scope="session")
def proving_key():
    return dev_proving_key(shared_file("zk/pot15_dev_final.ptau"))


@pytest.fixture(scope="session")
def vkey(proving_key):
    return proving_key.verification_key()
