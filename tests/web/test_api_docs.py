"""The browsable API docs (/api/docs/, Swagger UI from drf-spectacular-sidecar): served without a network, their
scripts and styles from the portal itself, and those files found by the static files finders."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders

pytestmark = [pytest.mark.unit, pytest.mark.django_db]


def test_api_docs_are_html_that_loads_only_local_assets(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in assets
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css" in assets
    assert all(asset.startswith("/") for asset in assets), assets  # no CDN
    # No inline script (the content security policy allows none): Swagger UI starts from /api/docs/?script.
    assert not re.search(r"<script>", html) and "/api/docs/?script=" in assets
    script = client.get("/api/docs/?script=")
    assert script["Content-Type"] == "application/javascript" and b'"/api/schema/"' in script.content
    for asset in assets:
        if asset.startswith("/static/"):
            assert finders.find(asset.removeprefix("/static/")), asset


def test_the_assets_are_served_by_the_asgi_application():
    """`daphne dhportal.asgi:application` serves the Swagger UI files itself (no CDN, no separate web server)."""
    from asgiref.sync import async_to_sync
    from asgiref.testing import ApplicationCommunicator

    from dhportal.asgi import application

    path = "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 1234),
        "server": ("localhost", 80),
    }

    async def get() -> tuple[int, bytes]:
        communicator = ApplicationCommunicator(application, scope)
        await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
        start = await communicator.receive_output(10)
        body = b""
        while True:
            message = await communicator.receive_output(10)
            body += message.get("body", b"")
            if not message.get("more_body"):
                return start["status"], body

    status, body = async_to_sync(get)()
    assert status == 200
    assert b".swagger-ui" in body


def test_the_node_token_rotation_documents_its_examples(client):
    schema = client.get("/api/schema/?format=json").json()
    body = schema["paths"]["/api/hospitals/{hospital_id}/node-token/"]["post"]["requestBody"]
    assert body["content"]["application/json"]["examples"]["ExpiringIn90Days"]["value"] == {
        "expires_in_days": 90
    }
