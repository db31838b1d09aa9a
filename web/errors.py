"""Errors that services raise; the API turns each into a 4xx with its reason."""

from __future__ import annotations


class DomainError(Exception):
    code = "invalid"
    http_status = 400


class NotFound(DomainError):
    code = "not_found"
    http_status = 404


class PermissionDenied(DomainError):
    code = "forbidden"
    http_status = 403


class Conflict(DomainError):
    """The request is valid but the current state refuses it (wrong round state, duplicate)."""

    code = "conflict"
    http_status = 409


class InvalidInput(DomainError):
    """A request the portal refuses as given: a round plan it cannot run, a value out of range."""

    code = "invalid"
    http_status = 400


class InvalidUpload(DomainError):
    """An uploaded update, proof or commitment that fails its checks; nothing of it is stored."""

    code = "invalid_upload"
    http_status = 400


class UploadTooLarge(DomainError):
    code = "too_large"
    http_status = 413
