"""The key parties' API fuzzed from the OpenAPI schema with a key party's token (schemathesis, as
tests/reliability/test_api_fuzz.py does for the coordinator and a node): no 5xx, no answer the schema does not
describe, with a committee and a decryption job for the fuzzer to find."""

from __future__ import annotations

import numpy as np
import pytest

from committee import decryption
from committee.errors import DecryptionInProgress
from crypto.tests.signed_jobs import fresh_round_id, signed_terms
from tests.conftest import encrypt_for
from tests.reliability.test_api_fuzz import api_schema, database_kept_open, fuzz  # noqa: F401 (fixtures)


@pytest.mark.slow
@pytest.mark.django_db
# api_schema last: Django's test client (the parties' enrollment, the ceremony) reconnects the signal that
# closes the connection after each request, which the fuzzing fixture (database_kept_open) disconnects.
def test_fuzzing_as_a_key_party_finds_no_5xx_and_no_schema_violation(parties, committee, api_schema):  # noqa: F811
    blobs = [encrypt_for(committee, np.full(10, 0.5)) for _ in range(2)]
    with pytest.raises(DecryptionInProgress):
        decryption.decrypt_sum(committee, "fuzzed", blobs, 10, signed_terms(fresh_round_id(), blobs))
    problems = fuzz(api_schema, parties[0].token, lambda path: path.startswith("/api/keyparty/"))
    assert not problems, "\n\n".join(problems)
