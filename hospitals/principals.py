"""The authenticated principal of a hospital node: not a user, only its hospital."""

from __future__ import annotations

from dataclasses import dataclass

from hospitals.models import Hospital


@dataclass(frozen=True)
class HospitalNode:
    hospital: Hospital
    is_authenticated: bool = True
    is_active: bool = True
    is_coordinator: bool = False
    role: str = "node"

    @property
    def pk(self) -> str:
        return f"node:{self.hospital.slug}"

    def __str__(self) -> str:
        return f"node of {self.hospital.slug}"
