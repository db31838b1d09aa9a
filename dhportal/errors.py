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


class InvalidUpload(DomainError):
    code = "invalid_upload"
    http_status = 400


class UploadTooLarge(DomainError):
    code = "too_large"
    http_status = 413
