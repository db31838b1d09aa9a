"""A coordinator and two registered hospitals, without the rest of the consortium (no model, no data)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from hospitals import services
from hospitals.models import Hospital, User


@dataclass
class Registered:
    hospital: Hospital
    admin: User
    node_token: str


@pytest.fixture
def coordinator(db) -> User:
    return services.create_coordinator("coordinator", "coordinator-password")


def register(coordinator: User, name: str, admin_username: str) -> Registered:
    hospital, token = services.register_hospital(coordinator, name, admin_username, "admin-password-1")
    return Registered(hospital, User.objects.get(username=admin_username), token)


@pytest.fixture
def north(coordinator) -> Registered:
    return register(coordinator, "North Clinic", "north_admin")


@pytest.fixture
def south(coordinator) -> Registered:
    return register(coordinator, "South Clinic", "south_admin")
