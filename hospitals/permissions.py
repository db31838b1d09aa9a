"""Who may call an endpoint at all; finer checks (which hospital) are the services' and selectors' job."""

from rest_framework.permissions import BasePermission

from hospitals.models import User
from hospitals.principals import HospitalNode


class IsPerson(BasePermission):
    """A logged-in user (coordinator or hospital admin), not a node's or a key party's token."""

    message = "This endpoint is for coordinator and hospital admin accounts, not node tokens"

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and isinstance(user, User))


class IsCoordinator(BasePermission):
    message = "Only the coordinator may do this"

    def has_permission(self, request, view) -> bool:
        return bool(getattr(request.user, "is_coordinator", False))


class IsNode(BasePermission):
    message = "This endpoint is for hospital nodes (Authorization: Token <node token>)"

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, HospitalNode)
