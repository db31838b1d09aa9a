"""hospitals/tokens.py: the shape of issued tokens, their SHA-256 digest, the prefix check that keeps malformed
tokens away from the database, and the constant-time comparison."""

from __future__ import annotations

import hashlib
import re

import pytest

from hospitals import tokens

pytestmark = [pytest.mark.unit]

TOKEN_SHAPE = re.compile(r"^(node|api)_[0-9a-f]{8}\.[A-Za-z0-9_-]{43}$")


@pytest.mark.parametrize("kind", ["node", "api"])
def test_an_issued_token_is_prefix_dot_secret_and_its_digest_is_the_sha256_of_the_whole(kind):
    issued = tokens.issue_token(kind)
    assert TOKEN_SHAPE.match(issued.plaintext), issued.plaintext
    assert issued.plaintext.startswith(issued.prefix + ".")
    assert issued.prefix.startswith(f"{kind}_")
    assert issued.digest == hashlib.sha256(issued.plaintext.encode()).hexdigest()
    # The digest does not contain the secret, nor the secret the digest.
    secret = issued.plaintext.partition(".")[2]
    assert secret not in issued.digest and issued.digest not in issued.plaintext


def test_issued_tokens_and_prefixes_differ_every_time():
    issued = [tokens.issue_token("api") for _ in range(200)]
    assert len({token.plaintext for token in issued}) == 200
    assert len({token.digest for token in issued}) == 200
    assert len({token.prefix for token in issued}) > 190  # 32 random bits: a collision is very unlikely


def test_an_issued_token_passes_the_shape_check_and_yields_its_prefix():
    issued = tokens.issue_token("node")
    assert tokens.split_prefix(issued.plaintext) == issued.prefix


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("", id="empty"),
        pytest.param("node_abcd1234", id="no-dot"),
        pytest.param(".secret", id="empty-prefix"),
        pytest.param("node_abcd1234.sec ret", id="space"),
        pytest.param("node_abcd1234.secret\n", id="newline"),
        pytest.param("node_abcd1234.se/cret", id="slash"),
        pytest.param("node_abcd1234.sécret", id="non-ascii"),
        pytest.param("node_abcd1234.se%27cret", id="percent"),
        pytest.param("node_'; DROP TABLE x;--.s", id="sql"),
        pytest.param("api_abcd1234." + "x" * 200, id="too-long"),
    ],
)
def test_a_malformed_token_has_no_prefix(token):
    assert tokens.split_prefix(token) is None


def test_the_longest_accepted_token_is_200_characters():
    prefix = "api_abcd1234"
    at_limit = f"{prefix}." + "x" * (200 - len(prefix) - 1)
    assert len(at_limit) == 200 and tokens.split_prefix(at_limit) == prefix
    assert tokens.split_prefix(at_limit + "x") is None


def test_a_token_matches_only_its_own_digest():
    issued, other = tokens.issue_token("node"), tokens.issue_token("node")
    assert tokens.token_matches(issued.plaintext, issued.digest)
    assert not tokens.token_matches(other.plaintext, issued.digest)
    assert not tokens.token_matches(issued.plaintext[:-1], issued.digest)
    assert not tokens.token_matches(issued.plaintext, "")  # a revoked token's stored digest is empty


def test_the_comparison_is_hmac_compare_digest_of_the_digests(monkeypatch):
    """Constant time: the digests are compared with hmac.compare_digest, never with ==."""
    calls = []

    def compare_digest(a, b):
        calls.append((a, b))
        return a == b

    monkeypatch.setattr(tokens.hmac, "compare_digest", compare_digest)
    issued = tokens.issue_token("api")
    assert tokens.token_matches(issued.plaintext, issued.digest)
    assert not tokens.token_matches("api_00000000.wrong", issued.digest)
    assert calls == [
        (issued.digest, issued.digest),
        (hashlib.sha256(b"api_00000000.wrong").hexdigest(), issued.digest),
    ]
