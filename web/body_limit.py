"""Refuses a request body over the upload limit before it is read whole.

Django's ASGI handler reads the whole body into a temporary file before any view runs, so a view's own check
comes too late for a body of many gigabytes. This middleware sits in front of it: a declared Content-Length over
the limit is answered 413 without reading the body; a body without one (chunked) is counted as it streams in
and cut off with a 413 at the first chunk past the limit.
"""

from __future__ import annotations

import json

from django.conf import settings

# Room for the form fields and part headers around an update of DH_MAX_UPLOAD_BYTES.
MULTIPART_ALLOWANCE = 1_000_000


def body_limit() -> int:
    return settings.DH_MAX_UPLOAD_BYTES + MULTIPART_ALLOWANCE


def _declared_length(scope: dict) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send, limit: int) -> None:
    body = json.dumps(
        {"error": "too_large", "detail": f"Upload exceeds the limit of {settings.DH_MAX_UPLOAD_BYTES} bytes"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodySizeLimit:
    """ASGI middleware for HTTP: no request body past body_limit() reaches the application."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = body_limit()
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            return await _refuse(send, limit)
        received = 0
        cut_off = False
        response_started = False

        async def counting_receive():
            nonlocal received, cut_off
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    cut_off = True  # the application sees the client leave and stops reading
                    return {"type": "http.disconnect"}
            return message

        async def watching_send(message):
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counting_receive, watching_send)
        if cut_off and not response_started:
            await _refuse(send, limit)
