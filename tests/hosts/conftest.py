"""Tests on separate hosts: Linux network namespaces (tests/hosts/netns.py), which need root.

`needs_netns` skips a test with the reason when namespaces cannot be created here, and fails it instead under
CI=true (CI runs as root: a skip there would hide a broken set-up).
"""

from __future__ import annotations

import pytest

from conftest import require
from tests.hosts.netns import namespaces_available


@pytest.fixture
def needs_netns() -> None:
    reason = namespaces_available()
    require(reason is None, reason or "")
