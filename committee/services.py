"""Writes of the aggregation committee: the key ceremony's public result (decryption jobs: committee.decryption).

The portal never holds a key share. In this single-machine set-up (demo, tests) the parties' share folders are
on this machine, each written by its own `python -m crypto.keyparty generate` process, and a decryption job
runs the parties as separate processes talking MPyC over TCP on localhost. Parties on other machines (host:port
lists) are not wired to the portal yet: their operators would run `manage.py keyparty decrypt` by hand.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

from django.conf import settings

from committee.errors import CommitteeError
from committee.models import KeyCommittee
from crypto import ckks, keygen
from hospitals.models import User
from hospitals.services import require_coordinator
from registry import blobstore
from web.errors import InvalidInput


def _run_party(*args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "crypto.keyparty", *args],
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
    )
    if result.returncode != 0:
        raise CommitteeError(f"key party {' '.join(args[:1])} failed: {result.stderr.strip()[-500:]}")
    return json.loads(result.stdout)


def setup_local_committee(actor: User, parties: int = 3) -> KeyCommittee:
    """Dealer-free key generation with `parties` parties, each in its own process and share folder: all
    commit first, then reveal; the portal combines the reveals into the joint public key."""
    require_coordinator(actor)
    if parties < 3:
        raise InvalidInput("A committee needs at least 3 key parties (MPyC's honest majority)")
    seed = secrets.token_bytes(32)
    root = Path(settings.DH_KEYPARTY_DIR)
    root.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="committee-", dir=root))
    party_dirs = [base / f"party{index}" for index in range(parties)]
    commitments = [
        _run_party("generate", "--dir", str(d), "--seed", seed.hex())["commitment"] for d in party_dirs
    ]
    contributions = [(d / keygen.CONTRIBUTION_FILE).read_bytes() for d in party_dirs]
    try:
        public_context = keygen.combine_public_key(seed, commitments, contributions)
    except keygen.KeyGenError as exc:
        raise CommitteeError(f"key ceremony refused: {exc}") from None
    return KeyCommittee.objects.create(
        seed=seed.hex(),
        key_id=ckks.key_id(public_context),
        public_context_digest=blobstore.put_bytes(public_context),
        parties=[
            {"index": i, "commitment": c, "location": str(d)}
            for i, (c, d) in enumerate(zip(commitments, party_dirs, strict=True))
        ],
    )
