"""Password guessing (hospitals/throttling.py): the 11th failed login in a minute for one username from one
address gets 429 with Retry-After, in the API's error shape; other users and other addresses are unaffected."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

pytestmark = [pytest.mark.unit]

WRONG = {"username": "coordinator", "password": "not-the-password"}
RIGHT = {"username": "coordinator", "password": "coordinator-password"}


def post(path: str, body: dict, address: str = "10.0.0.1"):
    return APIClient().post(path, body, format="json", REMOTE_ADDR=address)


@pytest.mark.parametrize("path", ["/api/auth/login/", "/api/auth/token/"])
def test_the_eleventh_failure_in_a_minute_gets_429_with_retry_after(coordinator, path):
    for _ in range(10):
        assert post(path, WRONG).status_code == 403
    response = post(path, WRONG)
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    body = response.json()
    assert body["error"] == "throttled" and "detail" in body and set(body) == {"error", "detail"}
    # the right password too: a guesser who found it must still wait
    assert post(path, RIGHT).status_code == 429


def test_another_user_and_another_address_are_not_affected(coordinator, north):
    for _ in range(11):
        post("/api/auth/login/", WRONG)
    assert post("/api/auth/login/", WRONG).status_code == 429
    assert post("/api/auth/login/", RIGHT, address="10.0.0.2").status_code == 200
    other = {"username": north.admin.username, "password": "admin-password-1"}
    assert post("/api/auth/login/", other).status_code == 200


def test_the_two_endpoints_share_the_count_and_successes_do_not_count(coordinator):
    for _ in range(20):
        assert post("/api/auth/login/", RIGHT).status_code == 200
    for _ in range(5):
        post("/api/auth/login/", WRONG)
    for _ in range(5):
        post("/api/auth/token/", {**WRONG, "name": "ci"})
    assert post("/api/auth/token/", {**RIGHT, "name": "ci"}).status_code == 429


def test_the_rate_is_a_setting(coordinator, settings):
    settings.DH_LOGIN_RATE = "2/min"
    post("/api/auth/login/", WRONG)
    post("/api/auth/login/", WRONG)
    assert post("/api/auth/login/", WRONG).status_code == 429
